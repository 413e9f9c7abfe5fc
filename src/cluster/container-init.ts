// What every container launcher takes (compose in docker.ts, a stack in swarm.ts): the fields they
// share, documented once; each adds its own (project or stack, network, timeouts).
import type { DashboardPublish } from './forward.js'

export interface ContainerClusterInit {
  /** Nodes besides the master. @default 4 */
  nodes?: number
  stateDir: string
  /** @default distlab:latest */
  image?: string
  /**
   * Cluster key (`secret` or `id:secret,...`): handed to the containers in their environment
   * (never a file) and kept for the CLI in <stateDir>/cluster.key. Without one the cluster is open
   * (DISTLAB_INSECURE=1 in the containers).
   */
  key?: string
  /**
   * The host folder the master records its runs in (bind-mounted into its container; a swarm
   * places the master on this engine's node for it), so that `distlab runs` and `analyze` on the
   * host see a run while it is recorded, as in local mode. @default $DISTLAB_RUNS_DIR or ./runs
   */
  runsDir?: string
  /**
   * Reach the master's dashboard at this host address and port (a swarm publishes ports on every
   * interface, so there a forward on loopback does it). @default none
   */
  dashboard?: DashboardPublish
  /** Each log line of each member (master, node1, ...), as it comes. */
  onLine?: (name: string, line: string) => void
  /** How many nodes answer /health, while starting. */
  onProgress?: (healthy: number, total: number) => void
}
