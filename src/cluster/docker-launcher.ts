// DockerCluster (compose containers on one bridge network) as a Launcher. The host reaches every
// container at its address on the network, so link faults go over the nodes' API as in local
// mode; kill is `docker kill` (the container stays down: the compose file sets no restart
// policy), restart is `docker start` (or `docker restart`) and a new /health, pause is `docker
// pause`. A restarted container may get a new address: the record follows it.
import type { KillSignal } from '../core/cluster-controls.js'
import { ClusterError } from '../core/errors.js'
import { docker } from './docker-cli.js'
import {
  DockerCluster,
  inspectContainers,
  projectContainers,
  waitHealthy,
  writeContainerRecord,
  type DockerClusterInit,
} from './docker.js'
import { BaseLauncher, type LauncherMember, type MemberState } from './launcher.js'
import { nodeUrl } from './state.js'

/** Time a killed container has to be seen stopped, and a restarted one to answer, in ms. */
export const CONTAINER_CONTROL_TIMEOUT_MS = 60_000
/** Seconds `docker restart` gives a running container to stop before it kills it. */
const RESTART_STOP_SECONDS = 5

export class DockerLauncher extends BaseLauncher {
  readonly mode = 'docker' as const
  readonly cluster: DockerCluster
  /** service name → container id. */
  private readonly containers = new Map<string, string>()
  private readonly states = new Map<string, MemberState>()

  constructor(init: DockerClusterInit) {
    super(init.stateDir, init.key)
    this.cluster = new DockerCluster({
      ...init,
      onLine: this.tee(init.onLine),
    })
  }

  async start(): Promise<void> {
    await this.cluster.start()
    try {
      for (const c of await projectContainers(this.cluster.project, this.cluster.network)) {
        this.containers.set(c.service, c.id)
        this.states.set(c.service, c.running ? 'running' : 'down')
      }
    } catch (err) {
      await this.cluster.stop()
      throw err
    }
  }

  async stop(): Promise<void> {
    // `compose stop` waits on a paused container forever: thaw them first.
    for (const [name, s] of this.states) if (s === 'paused') await this.resume(name).catch(() => {})
    await this.cluster.stop()
  }

  list(): LauncherMember[] {
    return this.cluster.list().map((n) => ({
      name: n.name,
      url: nodeUrl(n),
      host: n.host,
      httpPort: n.httpPort,
      id: n.id,
      pid: n.pid,
      container: this.containers.get(n.name),
      state: this.states.get(n.name) ?? 'down',
    }))
  }

  private container(name: string): string {
    this.member(name)
    const id = this.containers.get(name)
    if (!id) throw new ClusterError(`${name} has no container (the cluster is not started)`)
    return id
  }

  async kill(name: string, signal: KillSignal = 'SIGKILL'): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) === 'down') return
    if (this.states.get(name) === 'paused') await this.resume(name)
    await docker(['kill', '--signal', signal, id], { allowFailure: true })
    const deadline = Date.now() + CONTAINER_CONTROL_TIMEOUT_MS
    while ((await inspectContainers([id]))[0]?.running) {
      if (Date.now() > deadline)
        throw new ClusterError(`${name} still runs ${CONTAINER_CONTROL_TIMEOUT_MS} ms after ${signal}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    this.states.set(name, 'down')
  }

  async restart(name: string): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) === 'paused') await this.resume(name)
    const [before] = await inspectContainers([id])
    if (before?.running) await docker(['restart', '-t', String(RESTART_STOP_SECONDS), id])
    else await docker(['start', id])
    this.states.set(name, 'running')
    // The address may change with the restart: read it again, then wait for the new incarnation.
    const [c] = await inspectContainers([id], this.cluster.network)
    const rec = this.cluster.cluster
    const n = rec?.nodes.find((x) => x.name === name)
    if (!c?.ip || !rec || !n) throw new ClusterError(`${name} has no address on ${this.cluster.network}`)
    n.host = c.ip
    n.pid = c.pid
    const ids = await waitHealthy(new Map([[name, nodeUrl(n)]]), CONTAINER_CONTROL_TIMEOUT_MS)
    n.id = ids.get(name)
    writeContainerRecord(this.stateDir, rec)
  }

  async pause(name: string): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) !== 'running') return
    await docker(['pause', id])
    this.states.set(name, 'paused')
  }

  async resume(name: string): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) !== 'paused') return
    await docker(['unpause', id])
    this.states.set(name, 'running')
  }
}
