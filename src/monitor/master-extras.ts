// What the master runs beside its node: the telemetry store and the dashboard (issue 7) start here.
import type { Node } from '../node/node.js'
import type { Startable } from '../core/interfaces.js'

export interface MasterExtrasInit {
  /** Where the cluster's state lives (runs, logs). */
  stateDir?: string
  /** Dashboard port; 0 lets the OS choose. */
  dashboardPort?: number
  dashboardHost?: string
  /**
   * The local supervisor's control API, when a launcher started this master (the env variable
   * DISTLAB_CONTROL_URL in process mode): GET /nodes, POST /nodes/:name/kill {signal?},
   * POST /nodes/:name/restart.
   */
  controlUrl?: string
}

/** Starts what the master runs beside its node; the result is stopped with the master. */
export async function startMasterExtras(
  _master: Node,
  _init: MasterExtrasInit = {},
): Promise<Startable | undefined> {
  return undefined
}
