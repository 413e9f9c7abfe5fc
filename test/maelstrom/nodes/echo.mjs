#!/usr/bin/env node
// A Maelstrom echo node in plain Node.js for distlab's tests: init and echo, nothing else.
import { createInterface } from 'node:readline'

let nodeId = null
let nextId = 0
for await (const line of createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line)
  const body = msg.body
  const reply = { msg_id: ++nextId, in_reply_to: body.msg_id }
  if (body.type === 'init') {
    nodeId = body.node_id
    reply.type = 'init_ok'
  } else if (body.type === 'echo') {
    reply.type = 'echo_ok'
    reply.echo = body.echo
  } else continue
  process.stdout.write(JSON.stringify({ src: nodeId, dest: msg.src, body: reply }) + '\n')
}
