// The course's dvnode/cnnode output lines (DESIGN.md, compatibility row 004).
import { formatTimestamp } from '../gbn/format.js'
import type { Route } from './vector.js'
import type { DvEvent } from './dv.js'

/** A distance as printed: at most `decimals` decimals, no floating-point noise (0.1 + 0.2 → 0.3). */
export function formatDistance(d: number, decimals = 6): string {
  const f = 10 ** decimals
  return String(Math.round(d * f) / f)
}

export function formatRoutingTable(
  at: number,
  node: number,
  routes: Array<[number, Route]>,
  decimals = 6,
): string[] {
  const lines = [`${formatTimestamp(at)} Node ${node} Routing Table`]
  for (const [dest, r] of routes) {
    const head = `- (${formatDistance(r.distance, decimals)}) -> Node ${dest}`
    lines.push(r.nextHop === dest ? head : `${head} ; Next hop -> Node ${r.nextHop}`)
  }
  return lines
}

/** The lines for one event; the course prints tables and messages (link changes are not its lines). */
export function formatDvEvent(e: DvEvent, decimals = 6): string[] {
  switch (e.kind) {
    case 'table':
      return formatRoutingTable(e.at, e.node, e.routes, decimals)
    case 'message-sent':
      return [`${formatTimestamp(e.at)} Message sent from Node ${e.from} to Node ${e.to}`]
    case 'message-received':
      return [`${formatTimestamp(e.at)} Message received at Node ${e.to} from Node ${e.from}`]
    case 'link':
      return []
  }
}
