// DockerCluster (compose containers on one bridge network) as a Launcher. The host reaches every
// container at its address on the network, so link faults go over the nodes' API as in local
// mode; kill, restart, pause and resume are container-controls.ts's (docker kill, start, pause).
import type { KillSignal } from '../core/cluster-controls.js'
import { ClusterError } from '../core/errors.js'
import { DockerCluster, projectContainers, type DockerClusterInit } from './docker.js'
import { killContainer, pauseContainer, restartContainer, resumeContainer } from './container-controls.js'
import { BaseLauncher, memberOf, type LauncherMember, type MemberState } from './launcher.js'

export class DockerLauncher extends BaseLauncher {
  readonly mode = 'docker' as const
  readonly cluster: DockerCluster
  /** service name → container id. */
  private readonly containers = new Map<string, string>()
  private readonly states = new Map<string, MemberState>()

  constructor(init: DockerClusterInit) {
    super(init.stateDir, init.key)
    this.cluster = new DockerCluster(this.tee(init))
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
    return this.cluster
      .list()
      .map((n) =>
        memberOf({ ...n, container: this.containers.get(n.name) }, this.states.get(n.name) ?? 'down'),
      )
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
    await killContainer(name, id, signal)
    this.states.set(name, 'down')
  }

  async restart(name: string): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) === 'paused') await this.resume(name)
    const rec = this.cluster.cluster
    if (!rec) throw new ClusterError(`${name} has no container (the cluster is not started)`)
    this.states.set(name, 'running')
    await restartContainer(name, id, rec, this.stateDir)
  }

  async pause(name: string): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) !== 'running') return
    await pauseContainer(id)
    this.states.set(name, 'paused')
  }

  async resume(name: string): Promise<void> {
    const id = this.container(name)
    if (this.states.get(name) !== 'paused') return
    await resumeContainer(id)
    this.states.set(name, 'running')
  }
}
