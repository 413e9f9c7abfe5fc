// What the workload runners (broadcast, unicast, multicast) share: they drive a cluster through the
// nodes' HTTP API only, so one runner serves in-process nodes, child processes and containers alike.
import { setTimeout as delay } from 'node:timers/promises'

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
 * One JSON call to a node's API, with the node's bearer token when it has one (a keyed cluster
 * answers 401 without it); a non-2xx answer throws with the node's own message.
 */
export async function callApi<T>(
  node: WorkloadNode,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<T> {
  const url = node.url
  const headers: Record<string, string> = {}
  if (node.authorization) headers.authorization = node.authorization
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (!res.ok) throw new Error(`${method} ${url}${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

export const sleep = (ms: number): Promise<void> => delay(ms)
