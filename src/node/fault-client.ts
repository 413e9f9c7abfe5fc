// The fault half of ClusterControls carried out over the nodes' own HTTP API (PUT /link, GET
// /link, POST /partition, POST /heal: node/http.ts serves them): the link emulator lives in each
// node, so these work the same whichever launcher started it. The one place that calls those
// routes for the launchers and the dashboard, through the typed NodeClient.
import { NodeClient } from '../client/node-client.js'
import type { ClusterControls, FaultOutcome, KillSignal, LinkView } from '../core/cluster-controls.js'
import type { LinkRule, LinkRuleInit } from '../core/link-rule.js'

/** Time one fault call may take, in ms. */
export const FAULT_CALL_TIMEOUT_MS = 10_000

export { NodeApiError } from '../core/errors.js'

/** One call to a node's API: JSON in, JSON out; an error names the node and the endpoint. */
export type NodeApiCall = (
  node: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
) => Promise<unknown>

/** Calls `path` on the node at `baseUrl` with `headers` (the cluster key's bearer token, if any). */
export function callNodeApi(
  node: string,
  baseUrl: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs = FAULT_CALL_TIMEOUT_MS,
): Promise<unknown> {
  return new NodeClient({ url: baseUrl, name: node, headers, timeoutMs }).call(method, path, { body })
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

  async setLink(from: string, to: string, rule: LinkRuleInit): Promise<LinkRule> {
    return ((await this.target.call(from, 'PUT', '/link', { peer: to, ...rule })) as { rule: LinkRule }).rule
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

/**
 * ClusterControls whose link faults go over the nodes' API: what every launcher and the dashboard's
 * controls share. A subclass says how it calls a node, which nodes run, and how it kills and
 * restarts one.
 */
export abstract class NodeApiControls implements ClusterControls {
  private readonly faults = new NodeApiFaults({
    call: (...args) => this.callNode(...args),
    runningNodes: () => this.runningNodes(),
  })

  /** One call to a node's API (its URL, the headers, the timeout are the subclass's). */
  protected abstract readonly callNode: NodeApiCall
  /** The nodes a partition or heal goes to. */
  protected abstract runningNodes(): Promise<string[]> | string[]
  abstract kill(name: string, signal?: KillSignal): Promise<void>
  abstract restart(name: string): Promise<void>

  setLink(from: string, to: string, rule: LinkRuleInit): Promise<LinkRule> {
    return this.faults.setLink(from, to, rule)
  }

  links(name: string): Promise<LinkView> {
    return this.faults.links(name)
  }

  partition(groups: string[][]): Promise<FaultOutcome> {
    return this.faults.partition(groups)
  }

  heal(): Promise<FaultOutcome> {
    return this.faults.heal()
  }
}
