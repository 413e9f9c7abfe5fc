// SwarmCluster (a stack on a swarm) as a Launcher. Link rules, partition, heal, logs and the record
// work as everywhere (the host reaches each task through docker_gwbridge). What a swarm does not
// allow is refused with the reason: its orchestrator replaces a killed or stopped task at once
// (so a kill cannot stay down, and a restart is a new task elsewhere with a new address), and a
// task may run on another machine, where this host cannot freeze its container.
import { SwarmCluster, type SwarmClusterInit } from './swarm.js'
import { BaseLauncher, memberOf, type LauncherMember } from './launcher.js'

export const SWARM_REPLACES_TASKS =
  "the swarm's orchestrator replaces a killed task at once, under a new address; use docker mode (or process mode) for kill and restart faults"
export const SWARM_TASKS_ELSEWHERE =
  'a task may run on another machine of the swarm, where this host cannot freeze its container; use docker or process mode'

export class SwarmLauncher extends BaseLauncher {
  readonly mode = 'swarm' as const
  readonly cluster: SwarmCluster
  private started = false

  constructor(init: SwarmClusterInit) {
    super(init.stateDir, init.key)
    this.cluster = new SwarmCluster(this.tee(init))
  }

  async start(): Promise<void> {
    await this.cluster.start()
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.cluster.stop()
  }

  /** Every task as the record has it; the swarm keeps them running, so their state is running. */
  list(): LauncherMember[] {
    return this.cluster
      .list()
      .map((n) => memberOf({ ...n, pid: undefined }, this.started ? 'running' : 'down'))
  }

  async kill(name: string): Promise<void> {
    this.refuse(name, 'kill', SWARM_REPLACES_TASKS)
  }

  async restart(name: string): Promise<void> {
    this.refuse(name, 'restart', SWARM_REPLACES_TASKS)
  }

  async pause(name: string): Promise<void> {
    this.refuse(name, 'pause', SWARM_TASKS_ELSEWHERE)
  }

  async resume(name: string): Promise<void> {
    this.refuse(name, 'resume', SWARM_TASKS_ELSEWHERE)
  }

  /** Refuses an operation on a task, once the name is known to be one (else: no such node). */
  private refuse(name: string, operation: string, reason: string): never {
    this.member(name)
    this.unsupported(operation, reason)
  }
}
