// A Launcher for a mode: what the scenario runner (and anything else that takes a mode from the
// command line) calls, so that it never names a launcher class itself.
import { InvalidArgumentError } from '../core/errors.js'
import type { Launcher, LauncherMode } from './launcher.js'
import { LocalLauncher } from './local-launcher.js'
import { DockerLauncher } from './docker-launcher.js'
import { SwarmLauncher } from './swarm-launcher.js'

/** What container modes take besides the common fields. */
export interface ContainerLauncherOptions {
  /** The node image. @default distlab:latest */
  image?: string
  /** Compose project (docker) or stack (swarm) name. @default distlab */
  project?: string
  /** The network the containers share. @default Proj1-distributed-network (docker) */
  network?: string
  /** The host folder the master records its runs in. @default $DISTLAB_RUNS_DIR or ./runs */
  runsDir?: string
}

export interface LauncherInit extends ContainerLauncherOptions {
  mode: LauncherMode
  /** Nodes besides the master. */
  nodes: number
  stateDir: string
  /** Second octet of every loopback address (local modes). @default 0 */
  block?: number
  /** Port of the master's dashboard (local modes; 0: any free one). */
  dashboardPort?: number
  /** Cluster key; an open cluster without one. */
  key?: string
  /** Time allowed for every node to answer /health, in ms. @default the launcher's own */
  startTimeoutMs?: number
}

/** Modes createLauncher knows. */
export const LAUNCHER_MODES: readonly LauncherMode[] = ['process', 'inproc', 'docker', 'swarm']

export function createLauncher(init: LauncherInit): Launcher {
  const common = {
    nodes: init.nodes,
    stateDir: init.stateDir,
    key: init.key,
    startTimeoutMs: init.startTimeoutMs,
  }
  switch (init.mode) {
    case 'process':
    case 'inproc':
      return new LocalLauncher({
        ...common,
        mode: init.mode,
        block: init.block,
        dashboardPort: init.dashboardPort,
        runsDir: init.runsDir,
      })
    case 'docker':
      return new DockerLauncher({
        ...common,
        image: init.image,
        project: init.project,
        network: init.network,
        runsDir: init.runsDir,
      })
    case 'swarm':
      return new SwarmLauncher({
        ...common,
        image: init.image,
        stack: init.project,
        network: init.network,
        runsDir: init.runsDir,
      })
    default:
      throw new InvalidArgumentError(
        `mode must be one of ${LAUNCHER_MODES.join(', ')}, got ${String(init.mode)}`,
        'mode',
      )
  }
}
