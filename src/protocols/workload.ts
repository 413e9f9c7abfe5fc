// What the workload runners (broadcast, unicast, multicast) share: they drive a cluster through the
// nodes' HTTP API only, so one runner serves in-process nodes, child processes and containers alike.
import { setTimeout as delay } from 'node:timers/promises'
import { NodeClient, type HttpMethod } from '../client/node-client.js'

export interface WorkloadNode {
  name: string
  /** The node's HTTP API, e.g. http://127.0.2.1:5000. */
  url: string
  /**
   * `Authorization` header value for a keyed cluster (`Bearer <token>`, Keyring.bearer()); every
   * call to this node sends it. Absent for an open cluster.
   */
  authorization?: string
}

export interface Quantiles {
  p50: number
  p95: number
  p99: number
  max: number
}

/** Nearest-rank quantiles, rounded to 0.1 (milliseconds in every report that uses them). */
export function quantiles(xs: readonly number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) =>
    s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : 0
  const r = (v: number) => Math.round(v * 10) / 10
  return { p50: r(q(0.5)), p95: r(q(0.95)), p99: r(q(0.99)), max: r(s.at(-1) ?? 0) }
}

/**
 * One JSON call to a node's API through NodeClient, with the node's bearer token when it has one (a
 * keyed cluster answers 401 without it); a failure is a NodeApiError naming the node.
 */
export function callApi<T>(
  node: WorkloadNode,
  method: HttpMethod,
  path: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<T> {
  return new NodeClient({
    url: node.url,
    name: node.name,
    authorization: node.authorization,
    timeoutMs,
  }).call<T>(method, path, { body })
}

export const sleep = (ms: number): Promise<void> => delay(ms)

/**
 * Runs `task(0) ... task(count - 1)` with at most `concurrency` running at once, each index once,
 * in order of start, the next as soon as one settles; resolves when every one has. A task that
 * throws stops the others from taking a new index, and the run rejects with its error at once
 * (tasks already running go on).
 */
export async function runConcurrently(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  let failed = false
  const worker = async () => {
    while (next < count && !failed) {
      try {
        await task(next++)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}
