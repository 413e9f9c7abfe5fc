// The last step of every launcher's start: each node knows every other when `up` returns.
//
// A node's view is the master's member list as of its own join, then refreshed every
// membersRefreshMs (5 s). A node that joined before others would not know them for up to that long
// after `up` said the cluster was ready: a flood sent at once skipped them (a node forwarded to one
// peer of two). So each node is asked to copy the master's list now (POST /members/refresh) until
// every one counts all the cluster's members, or the time runs out (the periodic refresh then ends
// the job; nothing fails on it).
import { NodeClient } from '../client/node-client.js'
import { NodeApiError } from '../core/errors.js'

/** How long a start waits for every node to know every other, in ms. */
export const VIEWS_TIMEOUT_MS = 10_000
/** A node refreshes at most once a second (node.ts, UNKNOWN_PEER_REFRESH_MS): ask again after that. */
const VIEWS_RETRY_MS = 1100
/** Requests out at once. */
const VIEWS_CONCURRENCY = 32

/**
 * Asks every one of `nodes` (the whole cluster, master included) to refresh its member list until
 * each knows at least `nodes.length` members. Answers the names that still did not when
 * `timeoutMs` ran out.
 */
export async function completeViews(
  nodes: ReadonlyArray<{ name: string; url: string }>,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? VIEWS_TIMEOUT_MS)
  let pending = [...nodes]
  for (;;) {
    const short: Array<{ name: string; url: string }> = []
    const ask = async (n: { name: string; url: string }) => {
      try {
        const client = new NodeClient({ url: n.url, name: n.name, headers: opts.headers, timeoutMs: 5000 })
        if ((await client.refreshMembers()).members < nodes.length) short.push(n)
      } catch (err) {
        // A node built before this route (an older image) answers 404: it refreshes on its own.
        if (!(err instanceof NodeApiError && err.status === 404)) short.push(n)
      }
    }
    for (let i = 0; i < pending.length; i += VIEWS_CONCURRENCY)
      await Promise.all(pending.slice(i, i + VIEWS_CONCURRENCY).map(ask))
    pending = short
    if (pending.length === 0 || Date.now() + VIEWS_RETRY_MS > deadline) return pending.map((n) => n.name)
    await new Promise((resolve) => setTimeout(resolve, VIEWS_RETRY_MS))
  }
}
