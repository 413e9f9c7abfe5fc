// The fault half of ClusterControls carried out over the nodes' own HTTP API (PUT /link, GET
// /link, POST /partition, POST /heal: node/http.ts serves them): the link emulator lives in each
// node, so these work the same whichever launcher started it. The one place that calls those
// routes for the launchers and the dashboard; the typed node client replaces `callNodeApi` here.
import { DistlabError } from '../core/errors.js'
import type { ClusterControls, FaultOutcome, LinkRuleSpec, LinkView } from '../core/cluster-controls.js'

/** Time one fault call may take, in ms. */
export const FAULT_CALL_TIMEOUT_MS = 10_000

/** A node answered a fault call with an error, or not at all. */
export class NodeApiError extends DistlabError {
  override readonly code = 'ERR_NODE_API'
  constructor(
    message: string,
    /** The HTTP status, or 0 when the node did not answer. */
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'NodeApiError'
  }
}

/** One call to a node's API: JSON in, JSON out; an error names the node and the endpoint. */
export type NodeApiCall = (
  node: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
) => Promise<unknown>

/** Calls `path` on the node at `baseUrl` with `headers` (the cluster key's bearer token, if any). */
export async function callNodeApi(
  node: string,
  baseUrl: string,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs = FAULT_CALL_TIMEOUT_MS,
): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(baseUrl + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    throw new NodeApiError(`${node} did not answer ${method} ${path} (${(err as Error).message})`, 0, {
      cause: err,
    })
  }
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // plain text
  }
  if (!res.ok) {
    const why = (parsed as { message?: unknown } | null)?.message
    throw new NodeApiError(
      `${node} ${method} ${path} answered ${res.status}: ${typeof why === 'string' ? why : text.slice(0, 200)}`,
      res.status,
    )
  }
  return parsed
}

/** What the fault calls need: how to call a node, and which nodes run now. */
export interface FaultTarget {
  call: NodeApiCall
  /** The nodes a partition or heal goes to: those running now. */
  runningNodes(): Promise<string[]> | string[]
}

/** setLink, links, partition and heal over the nodes' HTTP API. */
export class NodeApiFaults implements Pick<ClusterControls, 'setLink' | 'links' | 'partition' | 'heal'> {
  constructor(private readonly target: FaultTarget) {}

  async setLink(from: string, to: string, rule: LinkRuleSpec): Promise<void> {
    await this.target.call(from, 'PUT', '/link', { peer: to, ...rule })
  }

  async links(name: string): Promise<LinkView> {
    return (await this.target.call(name, 'GET', '/link')) as LinkView
  }

  partition(groups: string[][]): Promise<FaultOutcome> {
    return this.everywhere((n) => this.target.call(n, 'POST', '/partition', { groups }))
  }

  heal(): Promise<FaultOutcome> {
    return this.everywhere((n) => this.target.call(n, 'POST', '/heal', {}))
  }

  private async everywhere(fn: (name: string) => Promise<unknown>): Promise<FaultOutcome> {
    const names = await this.target.runningNodes()
    const results = await Promise.allSettled(names.map(fn))
    const out: FaultOutcome = { applied: [], failed: [] }
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') out.applied.push(names[i]!)
      else out.failed.push({ name: names[i]!, error: (r.reason as Error)?.message ?? String(r.reason) })
    })
    return out
  }
}
