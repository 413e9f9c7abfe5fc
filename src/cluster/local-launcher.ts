// LocalCluster (child processes, or Node objects in this process) as a Launcher. Pause and resume
// are SIGSTOP and SIGCONT on a node's process; in-process nodes share this process's event loop,
// so they cannot be frozen one by one.
import type { KillSignal } from '../core/cluster-controls.js'
import { LocalCluster, type LocalClusterInit } from './local.js'
import { BaseLauncher, memberOf, type LauncherMember } from './launcher.js'

export class LocalLauncher extends BaseLauncher {
  readonly mode: 'process' | 'inproc'
  /** The cluster underneath, for what only local mode has (in-process Node objects, say). */
  readonly cluster: LocalCluster
  private readonly paused = new Set<string>()

  constructor(init: LocalClusterInit) {
    super(init.stateDir, init.key)
    this.cluster = new LocalCluster(this.tee(init))
    this.mode = this.cluster.mode
  }

  start(): Promise<void> {
    return this.cluster.start()
  }

  async stop(): Promise<void> {
    // A stopped process would sit on SIGTERM until continued: thaw everything first.
    for (const name of [...this.paused]) await this.resume(name).catch(() => {})
    await this.cluster.stop()
  }

  list(): LauncherMember[] {
    return this.cluster
      .list()
      .map((n) =>
        memberOf(n, !this.cluster.running(n.name) ? 'down' : this.paused.has(n.name) ? 'paused' : 'running'),
      )
  }

  async kill(name: string, signal: KillSignal = 'SIGKILL'): Promise<void> {
    this.member(name)
    if (this.paused.has(name)) await this.resume(name)
    await this.cluster.kill(name, signal)
  }

  async restart(name: string): Promise<void> {
    this.member(name)
    if (this.paused.has(name)) await this.resume(name)
    await this.cluster.restart(name)
  }

  async pause(name: string): Promise<void> {
    const m = this.member(name)
    if (this.mode === 'inproc')
      this.unsupported('pause', 'in-process nodes share one event loop; only a node process can be frozen')
    if (m.state !== 'running') return
    process.kill(m.pid!, 'SIGSTOP')
    this.paused.add(name)
  }

  async resume(name: string): Promise<void> {
    const m = this.member(name)
    if (this.mode === 'inproc')
      this.unsupported('resume', 'in-process nodes share one event loop; only a node process can be frozen')
    if (!this.paused.delete(name)) return
    if (this.cluster.running(name)) process.kill(m.pid!, 'SIGCONT')
  }
}
