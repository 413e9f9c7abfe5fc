// Which GET routes need the cluster key's bearer token (issue 14 item 14).
//
// With a key, every request that changes state needs the token (node/http.ts). Reads that reveal
// what the cluster carries or who is in it need it too: delivered messages, telemetry events, the
// member tables with their addresses. What stays open: the seed's `GET /`, `/peers` and `/health`
// (seed clients and liveness probes call them bare), `/membership/self` (the membership check of a
// peer calls it before it knows any token), and counters and settings (`/metrics` for scrapers,
// `/<protocol>/stats`, `/telemetry/stats`, `/link`, `/groups`, `/anycast`, `/broadcast/config`,
// `/broadcast/frames`, `/maelstrom`), which carry no message contents and no member addresses.

/** GET paths (without the query) that answer 401 without the bearer token on a keyed cluster. */
export const PROTECTED_GETS: ReadonlySet<string> = new Set([
  '/unicast/delivered',
  '/broadcast/delivered',
  '/broadcast/read',
  '/multicast/delivered',
  '/telemetry/recent',
  '/telemetry/stream',
  '/membership',
  '/membership/members',
  '/cluster/members',
])

/**
 * True when a request needs the token on a keyed cluster: every method but GET, HEAD and OPTIONS,
 * and GET/HEAD of a protected route. `route` is the pattern Fastify matched (`req.routeOptions.url`),
 * not the raw URL, so a query, a percent-escape or a case the router folds cannot slip past.
 */
export function needsToken(method: string, route: string | undefined): boolean {
  if (method === 'OPTIONS') return false
  if (method !== 'GET' && method !== 'HEAD') return true
  return route !== undefined && PROTECTED_GETS.has(route)
}
