// The cluster controls as the dashboard reaches them: it runs inside the master, not beside the
// launcher, so kill and restart go to the supervisor's control API (the launcher that started
// this master serves it) and link rules, partition and heal to the nodes' own API, like every
// launcher's. The page's buttons call only ClusterControls (dashboard-actions.ts).
import type { KillSignal } from '../core/cluster-controls.js'
import { NodeApiControls, type NodeApiCall } from '../node/fault-client.js'
import { callEndpoint, ControlError } from './dashboard-actions.js'

/** Time a node has to answer a fault call, and the supervisor a kill or restart, in ms. */
const NODE_CALL_TIMEOUT_MS = 5000
const SUPERVISOR_CALL_TIMEOUT_MS = 30_000

export interface DashboardControlsInit {
  /** The supervisor's control API, when a launcher started this master. */
  controlUrl: string | undefined
  supervisorHeaders(): Record<string, string>
  /** The headers a call to a node carries (the cluster key's token). */
  nodeHeaders(): Record<string, string>
  /** The HTTP base URL of a node the master knows or knew (ControlError 404 when none). */
  nodeUrl(name: string): string
  nodes(): Promise<ReadonlyArray<{ name: string; up: boolean }>>
  /** A node was killed or restarted: the cached supervisor view is stale. */
  supervisorChanged(): void
}

export class DashboardControls extends NodeApiControls {
  constructor(private readonly init: DashboardControlsInit) {
    super()
  }

  protected readonly callNode: NodeApiCall = (node, method, path, body) => {
    const i = this.init
    return callEndpoint(i.nodeUrl(node), method, path, body, NODE_CALL_TIMEOUT_MS, i.nodeHeaders(), node)
  }

  protected async runningNodes(): Promise<string[]> {
    return (await this.init.nodes()).filter((n) => n.up).map((n) => n.name)
  }

  kill(name: string, signal: KillSignal = 'SIGKILL'): Promise<void> {
    return this.supervise(name, 'kill', { signal })
  }

  restart(name: string): Promise<void> {
    return this.supervise(name, 'restart', {})
  }

  private async supervise(name: string, action: 'kill' | 'restart', body: unknown): Promise<void> {
    if (!this.init.controlUrl)
      throw new ControlError('no supervisor control API: this master was not started by `distlab up`', 501)
    await callEndpoint(
      this.init.controlUrl,
      'POST',
      `/nodes/${encodeURIComponent(name)}/${action}`,
      body,
      SUPERVISOR_CALL_TIMEOUT_MS,
      this.init.supervisorHeaders(),
      'the cluster supervisor',
    )
    this.init.supervisorChanged()
  }
}
