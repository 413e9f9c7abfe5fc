#!/usr/bin/env node
// Maelstrom broadcast in plain Node.js: values a neighbour has not acknowledged are pushed to it
// every 200 ms until it does, so they cross partitions once those heal.
import { createInterface } from 'node:readline'

let nodeId = null
let msgId = 0
const values = new Set()
const unacked = new Map() // neighbour -> Set of values
const inFlight = new Map() // our msg_id -> [neighbour, values]

const send = (dest, body) => process.stdout.write(JSON.stringify({ src: nodeId, dest, body }) + '\n')
const reply = (req, body) => send(req.src, { ...body, in_reply_to: req.body.msg_id })

function learn(list) {
  for (const v of list) {
    if (values.has(v)) continue
    values.add(v)
    for (const set of unacked.values()) set.add(v)
  }
}

setInterval(() => {
  for (const [n, set] of unacked) {
    if (set.size === 0) continue
    const id = ++msgId
    const list = [...set]
    inFlight.set(id, [n, list])
    setTimeout(() => inFlight.delete(id), 2000).unref()
    send(n, { type: 'gossip', msg_id: id, messages: list })
  }
}, 200)

for await (const line of createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line)
  const b = msg.body
  switch (b.type) {
    case 'init':
      nodeId = b.node_id
      reply(msg, { type: 'init_ok' })
      break
    case 'topology':
      for (const n of b.topology[nodeId] ?? []) unacked.set(n, new Set(values))
      reply(msg, { type: 'topology_ok' })
      break
    case 'broadcast':
      learn([b.message])
      reply(msg, { type: 'broadcast_ok' })
      break
    case 'read':
      reply(msg, { type: 'read_ok', messages: [...values] })
      break
    case 'gossip':
      learn(b.messages)
      reply(msg, { type: 'gossip_ok' })
      break
    case 'gossip_ok': {
      const sent = inFlight.get(b.in_reply_to)
      inFlight.delete(b.in_reply_to)
      if (sent) for (const v of sent[1]) unacked.get(sent[0])?.delete(v)
      break
    }
  }
}
