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
/** Requests out at once, over all nodes. */
const VIEWS_CONCURRENCY = 32

/**
 * Asks every one of `nodes` (the whole cluster, master included) to refresh its member list until
 * each knows at least `nodes.length` members. Answers the names that still did not when
 * `timeoutMs` ran out. Each node is asked on its own, again VIEWS_RETRY_MS after an answer that
 * falls short, with up to VIEWS_CONCURRENCY requests out at once: a node that answers late (a busy
 * machine) holds up no other node's next try, and no request outlives the time.
 */
export async function completeViews(
  nodes: ReadonlyArray<{ name: string; url: string }>,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? VIEWS_TIMEOUT_MS)
  let free = VIEWS_CONCURRENCY
  const queue: Array<() => void> = []
  const slot = () => (free > 0 ? (free--, Promise.resolve()) : new Promise<void>((r) => queue.push(r)))
  const release = () => (queue.length > 0 ? queue.shift()!() : free++)
  /** True when `n` knows the whole cluster, or cannot be asked (it then refreshes on its own). */
  const complete = async (n: { name: string; url: string }): Promise<boolean> => {
    await slot()
    try {
      const timeoutMs = Math.min(5000, deadline - Date.now())
      if (timeoutMs <= 0) return false
      const client = new NodeClient({ url: n.url, name: n.name, headers: opts.headers, timeoutMs })
      return (await client.refreshMembers()).members >= nodes.length
    } catch (err) {
      // A node built before this route (an older image) answers 404.
      return err instanceof NodeApiError && err.status === 404
    } finally {
      release()
    }
  }
  const short = new Set<string>()
  await Promise.all(
    nodes.map(async (n) => {
      while (!(await complete(n))) {
        if (Date.now() + VIEWS_RETRY_MS > deadline) return void short.add(n.name)
        await new Promise((resolve) => setTimeout(resolve, VIEWS_RETRY_MS))
      }
    }),
  )
  return nodes.filter((n) => short.has(n.name)).map((n) => n.name)
}
