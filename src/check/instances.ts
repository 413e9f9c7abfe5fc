// Where a check's student programs run. A check asks for an instance by name and index and gets an
// address and the program's output; process mode gives each instance its own loopback address on
// distlab's plan (127.B.1.1 for the master or bootstrap, 127.B.2.i for node i), as `distlab up`
// and `distlab run` do, so every instance can use the same port.
import { loopbackHost } from '../core/ids.js'
import { StudentProcess, type Placeholders } from './process.js'

export interface InstanceSpec {
  /** `bootstrap`, `master`, `node1`, ... */
  name: string
  /** 0 for the master or bootstrap, i for node i. */
  index: number
  command: string
  env?: Record<string, string>
  port: number
  bootstrap?: string
  master?: string
  peers?: string
  stdin?: boolean
  /** A command the program runs under (a network namespace: `ip netns exec <ns>`). */
  wrap?: readonly string[]
  /** The address it gets, instead of the plan's. */
  host?: string
}

export interface Instance {
  readonly name: string
  readonly host: string
  readonly port: number
  /** http://host:port */
  readonly url: string
  readonly process: StudentProcess
}

export interface ProcessLauncherInit {
  /** Loopback block B of 127.B.x.y. @default 0 */
  block?: number
  /** Working directory of the programs. @default process.cwd() */
  cwd?: string
}

/** Starts student programs as local processes, each on its own loopback address. */
export class ProcessLauncher {
  readonly instances: Instance[] = []
  constructor(private readonly init: ProcessLauncherInit = {}) {}

  hostOf(index: number): string {
    return loopbackHost(index, this.init.block ?? 0)
  }

  start(spec: InstanceSpec): Instance {
    const host = spec.host ?? this.hostOf(spec.index)
    const placeholders: Placeholders = {
      host,
      port: spec.port,
      name: spec.name,
      index: spec.index,
      bootstrap: spec.bootstrap,
      master: spec.master,
      peers: spec.peers,
    }
    const process = new StudentProcess({
      command: spec.command,
      placeholders,
      env: spec.env,
      cwd: this.init.cwd,
      stdin: spec.stdin,
      wrap: spec.wrap,
    })
    const instance = { name: spec.name, host, port: spec.port, url: `http://${host}:${spec.port}`, process }
    this.instances.push(instance)
    return instance
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.process.stop()))
  }
}
