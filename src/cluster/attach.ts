// A Launcher attached to a cluster another process started (`distlab up`, detached or in another
// terminal), built from its cluster record: what `distlab kill`, `restart`, `link`, `partition`
// and `heal` go through, whichever mode started it. Link faults go over the nodes' API as in every
// launcher; kill and restart go where the nodes are held: the supervisor's control API for local
// processes (it owns them and restarts them with their logs), the engine for compose containers.
// It neither starts nor stops the cluster: `distlab up` and `down` do.
import type { KillSignal } from '../core/cluster-controls.js'
import { ClusterError } from '../core/errors.js'
import { Keyring, readClusterKey } from '../core/auth.js'
import { callNodeApi } from '../node/fault-client.js'
import {
  BaseLauncher,
  memberOf,
  type LauncherMember,
  type LauncherMode,
  type MemberState,
} from './launcher.js'
import { projectContainers } from './docker.js'
import {
  CONTAINER_CONTROL_TIMEOUT_MS,
  killContainer,
  pauseContainer,
  restartContainer,
  resumeContainer,
} from './container-controls.js'
import { SWARM_REPLACES_TASKS, SWARM_TASKS_ELSEWHERE } from './swarm-launcher.js'
import {
  isContainerRecord,
  readControlToken,
  requireCluster,
  type ClusterRecord,
  type ContainerClusterRecord,
} from './state.js'

const SUPERVISOR = 'the cluster supervisor'
const HELD_BY_SUPERVISOR =
  "the supervisor holds the node processes; pause a node from the launcher that started it (LocalLauncher.pause), or the dashboard's kill"

/** The running cluster of `stateDir` as a Launcher; a clear error when none runs. */
export function attachLauncher(stateDir: string): AttachedLauncher {
  const rec = requireCluster(stateDir)
  if (rec.mode === 'foreign')
    throw new ClusterError(
      'this is a cluster of `distlab run`: its supervisor applies link faults in its relays',
    )
  return new AttachedLauncher(stateDir, rec, usableKey(stateDir))
}

/** The cluster's key when it has a readable one (an unreadable one: calls go without a token). */
function usableKey(stateDir: string): string | undefined {
  const spec = readClusterKey(stateDir)
  if (spec === undefined) return undefined
  try {
    new Keyring(spec)
    return spec
  } catch {
    return undefined
  }
}

export class AttachedLauncher extends BaseLauncher {
  readonly mode: LauncherMode
  /** What this launcher did or saw; a member it knows nothing of is taken to be running. */
  private readonly states = new Map<string, MemberState>()

  constructor(
    stateDir: string,
    private readonly rec: ClusterRecord,
    key: string | undefined,
  ) {
    super(stateDir, key)
    this.mode = rec.mode as LauncherMode
  }

  start(): Promise<void> {
    this.unsupported('start', 'this launcher is attached to a running cluster; `distlab up` starts one')
  }

  stop(): Promise<void> {
    this.unsupported('stop', 'this launcher is attached to a running cluster; `distlab down` stops it')
  }

  list(): LauncherMember[] {
    return this.rec.nodes.map((n) => memberOf(n, this.states.get(n.name) ?? 'running'))
  }

  override record(): ClusterRecord {
    return this.rec
  }

  /** Who runs now: the supervisor's view (local), the engine's (docker), every task (swarm). */
  protected override async runningNodes(): Promise<string[]> {
    const all = this.rec.nodes.map((n) => n.name)
    if (this.container()) {
      if (this.mode === 'swarm') return all
      const running = new Set((await this.containers()).flatMap((c) => (c.running ? [c.service] : [])))
      return all.filter((n) => running.has(n))
    }
    const r = (await this.supervise('GET', '/nodes')) as { nodes: Array<{ name: string; running: boolean }> }
    const running = new Set(r.nodes.flatMap((n) => (n.running ? [n.name] : [])))
    return all.filter((n) => running.has(n))
  }

  async kill(name: string, signal: KillSignal = 'SIGKILL'): Promise<void> {
    this.member(name)
    if (this.mode === 'swarm') this.unsupported('kill', SWARM_REPLACES_TASKS)
    if (this.container()) await killContainer(name, await this.containerId(name), signal)
    else await this.supervise('POST', `/nodes/${encodeURIComponent(name)}/kill`, { signal })
    this.states.set(name, 'down')
  }

  async restart(name: string): Promise<void> {
    this.member(name)
    if (this.mode === 'swarm') this.unsupported('restart', SWARM_REPLACES_TASKS)
    const rec = this.container()
    if (rec) await restartContainer(name, await this.containerId(name), rec, this.stateDir)
    else await this.supervise('POST', `/nodes/${encodeURIComponent(name)}/restart`, {})
    this.states.set(name, 'running')
  }

  pause(name: string): Promise<void> {
    return this.freeze(name, 'pause')
  }

  resume(name: string): Promise<void> {
    return this.freeze(name, 'resume')
  }

  /** docker pause / unpause; a swarm's task or a supervisor's process cannot be frozen from here. */
  private async freeze(name: string, op: 'pause' | 'resume'): Promise<void> {
    this.member(name)
    if (this.mode === 'swarm') this.unsupported(op, SWARM_TASKS_ELSEWHERE)
    if (!this.container()) this.unsupported(op, HELD_BY_SUPERVISOR)
    const id = await this.containerId(name)
    await (op === 'pause' ? pauseContainer(id) : resumeContainer(id))
    this.states.set(name, op === 'pause' ? 'paused' : 'running')
  }

  /** The record as a container cluster's, or undefined for a local one. */
  private container(): ContainerClusterRecord | undefined {
    const rec = this.rec as unknown
    return isContainerRecord(rec) ? rec : undefined
  }

  private containers() {
    const rec = this.container()!
    return projectContainers(rec.docker.project, rec.docker.network)
  }

  /** The node's container: from the record, or (a record written before it had them) the engine. */
  private async containerId(name: string): Promise<string> {
    const known = this.rec.nodes.find((n) => n.name === name)?.container
    if (known) return known
    const c = (await this.containers()).find((x) => x.service === name)
    if (!c) throw new ClusterError(`${name} has no container in project ${this.container()!.docker.project}`)
    return c.id
  }

  /** A call to the local supervisor's control API, with the run's control token. */
  private supervise(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    if (!this.rec.controlUrl)
      throw new ClusterError('this cluster has no control API (started by an older distlab?)')
    const token = readControlToken(this.stateDir)
    if (!token)
      throw new ClusterError(
        `cannot read the control token in ${this.stateDir} (control.token): run this as the user who started the cluster`,
      )
    const headers = { authorization: `Bearer ${token}` }
    return callNodeApi(
      SUPERVISOR,
      this.rec.controlUrl,
      method,
      path,
      body,
      headers,
      CONTAINER_CONTROL_TIMEOUT_MS,
    )
  }
}
