// What one broadcast cost (`send broadcast`, issue 16 item 3): the frames every node sent for it,
// read from each node's GET /broadcast/frames once the traffic it caused has settled.
import { nodeUrl, type ClusterRecord } from '../../cluster/state.js'
import { callNode } from '../context.js'

/** Frames one node sent for the broadcast. */
export interface NodeFrames {
  payload: number
  control: number
  byType: Record<string, number>
}

export interface BroadcastCost {
  /** Frames that carried the message, summed over the nodes. */
  payload: number
  /** Frames that only named it (ihave, graft, got, prune), summed over the nodes. */
  control: number
  total: number
  byType: Map<string, number>
  /**
   * Payload frames beyond one per node reached, per node reached (as `bench broadcast` counts it):
   * max(0, payload / (reached - 1) - 1). 0 when every node got exactly one copy (or the ip
   * strategy's single datagram reached them all).
   */
  redundancy: number
  perNode: Map<string, NodeFrames>
  /** How long the tally was followed after the last delivery, in ms. */
  settledMs: number
}

/** Frame types a node tallies (anything else a node answers is ignored). */
const FRAME_TYPES = new Set(['msg', 'ip', 'ihave', 'graft', 'got', 'prune'])

/** The settle window: no new frame for this long (past Plumtree's lazy IHAVE flush) ends the count. */
const QUIET_MS_OVER_LAZY = 300
const POLL_MS = 150

/**
 * Reads the frame tally of `id` from every node but `skip` (those found unreachable) until it stops
 * growing for one lazy-push interval plus QUIET_MS_OVER_LAZY, or until `maxMs` has passed. A round
 * in which a node did not answer is not quiet: its frames may still be coming.
 */
export async function followBroadcastCost(
  rec: ClusterRecord,
  origin: string,
  id: string,
  reached: number,
  maxMs: number,
  skip: ReadonlySet<string> = new Set(),
): Promise<BroadcastCost> {
  const started = Date.now()
  const originNode = rec.nodes.find((n) => n.name === origin)
  let lazyMs = 500
  if (originNode) {
    try {
      const t = await callNode<{ lazyPushIntervalMs?: number }>(
        nodeUrl(originNode),
        'GET',
        '/broadcast/config',
      )
      if (typeof t.lazyPushIntervalMs === 'number') lazyMs = t.lazyPushIntervalMs
    } catch {
      // the default interval then
    }
  }
  const quietMs = Math.min(maxMs, lazyMs + QUIET_MS_OVER_LAZY)
  const perNode = new Map<string, NodeFrames>()
  let lastTotal = -1
  let lastChange = Date.now()
  const nodes = rec.nodes.filter((n) => !skip.has(n.name))
  for (;;) {
    let silent = 0
    await Promise.all(
      nodes.map(async (n) => {
        try {
          const f = await callNode<NodeFrames>(
            nodeUrl(n),
            'GET',
            `/broadcast/frames?id=${encodeURIComponent(id)}`,
            undefined,
            2000,
          )
          if (typeof f.payload === 'number' && typeof f.control === 'number')
            perNode.set(n.name, { payload: f.payload, control: f.control, byType: f.byType ?? {} })
        } catch {
          // a node that did not answer keeps its last figures
          silent++
        }
      }),
    )
    let total = 0
    for (const f of perNode.values()) total += f.payload + f.control
    const now = Date.now()
    if (total !== lastTotal || silent > 0) {
      lastTotal = total
      lastChange = now
    }
    if (now - lastChange >= quietMs || now - started >= maxMs) break
    await new Promise((res) => setTimeout(res, POLL_MS))
  }
  let payload = 0
  let control = 0
  const byType = new Map<string, number>()
  for (const f of perNode.values()) {
    payload += f.payload
    control += f.control
    for (const type of FRAME_TYPES) {
      const n = f.byType[type]
      if (typeof n === 'number') byType.set(type, (byType.get(type) ?? 0) + n)
    }
  }
  const redundancy = reached > 1 ? Math.max(0, Math.round((payload / (reached - 1) - 1) * 100) / 100) : 0
  return {
    payload,
    control,
    total: payload + control,
    byType,
    redundancy,
    perNode,
    settledMs: Date.now() - started,
  }
}
