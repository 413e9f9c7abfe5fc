#!/usr/bin/env node
// Maelstrom broadcast tuned for Gossip Glomers 3d/3e (25 nodes, 100 ms links): new values are
// batched for BATCH_MS and sent as one `gossip` per peer; a peer's unacknowledged values are sent
// again after RETRY_MS (so they cross partitions once those heal).
//
// Overlay: `star` (default) uses the first node id as a hub: a value goes to the hub, the hub
// passes it to everyone, so at most two hops (about 200 ms at 100 ms a link) whatever the
// topology. `topology` (argument `--overlay topology`) gossips along the neighbours the
// `topology` message gives (on a 5x5 grid up to 8 hops). Fewer hops and one message per peer per
// batch keep msgs-per-op low.
import { createInterface } from 'node:readline'

const BATCH_MS = Number(process.env.BATCH_MS ?? 90)
const RETRY_MS = Number(process.env.RETRY_MS ?? 1000)
const overlay = process.argv.includes('--overlay')
  ? process.argv[process.argv.indexOf('--overlay') + 1]
  : 'star'

let nodeId = null

let msgId = 0
let peers = []
const values = new Set()
const pending = new Map() // peer -> Set of values not yet sent in a batch
const unacked = new Map() // peer -> Map value -> time last sent
const inFlight = new Map() // our msg_id -> [peer, values]

const send = (dest, body) => process.stdout.write(JSON.stringify({ src: nodeId, dest, body }) + '\n')
const reply = (req, body) => send(req.src, { ...body, in_reply_to: req.body.msg_id })

function setPeers(list) {
  peers = list.filter((p) => p !== nodeId)
  for (const p of peers) {
    if (!pending.has(p)) pending.set(p, new Set())
    if (!unacked.has(p)) unacked.set(p, new Map())
  }
}

/** New values go to every peer except the one they came from. */
function learn(list, from) {
  for (const v of list) {
    if (values.has(v)) continue
    values.add(v)
    for (const p of peers) if (p !== from) pending.get(p).add(v)
  }
}

function flush() {
  const now = Date.now()
  for (const p of peers) {
    const batch = pending.get(p)
    const waiting = unacked.get(p)
    for (const [v, sentAt] of waiting) if (now - sentAt >= RETRY_MS) batch.add(v)
    if (batch.size === 0) continue
    const list = [...batch]
    batch.clear()
    for (const v of list) waiting.set(v, now)
    const id = ++msgId
    inFlight.set(id, [p, list])
    setTimeout(() => inFlight.delete(id), RETRY_MS * 2).unref()
    send(p, { type: 'gossip', msg_id: id, messages: list })
  }
}
setInterval(flush, BATCH_MS)

for await (const line of createInterface({ input: process.stdin })) {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    continue
  }
  const b = msg.body ?? {}
  switch (b.type) {
    case 'init': {
      nodeId = b.node_id
      const nodeIds = (b.node_ids ?? []).slice().sort()
      if (overlay === 'star') {
        const hub = nodeIds[0]
        setPeers(nodeId === hub ? nodeIds : [hub])
      }
      reply(msg, { type: 'init_ok' })
      break
    }
    case 'topology':
      if (overlay === 'topology') setPeers(b.topology?.[nodeId] ?? [])
      reply(msg, { type: 'topology_ok' })
      break
    case 'broadcast':
      learn([b.message], null)
      reply(msg, { type: 'broadcast_ok' })
      break
    case 'read':
      reply(msg, { type: 'read_ok', messages: [...values] })
      break
    case 'gossip':
      if (Array.isArray(b.messages)) learn(b.messages, msg.src)
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
