#!/usr/bin/env node
// Maelstrom unique-ids in plain Node.js: the node id and a local counter.
import { createInterface } from 'node:readline'

let nodeId = null
let next = 0
for await (const line of createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line)
  const { type, msg_id: msgId } = msg.body
  let body
  if (type === 'init') {
    nodeId = msg.body.node_id
    body = { type: 'init_ok' }
  } else if (type === 'generate') body = { type: 'generate_ok', id: `${nodeId}-${next++}` }
  else continue
  process.stdout.write(
    JSON.stringify({ src: nodeId, dest: msg.src, body: { ...body, in_reply_to: msgId } }) + '\n',
  )
}
