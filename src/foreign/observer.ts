// The foreign cluster's window for people: a distlab master node of its own inside the supervisor
// (on 127.0.0.1, ports chosen by the OS) whose collector takes the relays' telemetry, with the run
// store and the dashboard every distlab master runs beside it. The foreign instances are admitted
// as its members (and kept fresh while they run), so the dashboard's topology, flows and sequence
// diagram show the student's system as they show distlab's own.
import type { Node } from '../node/node.js'
import { createNode } from '../cluster/node-assembly.js'
import { MasterExtras } from '../monitor/master-extras.js'
import { silentLogger } from '../core/logger.js'
import type { TelemetryEvent } from '../core/telemetry.js'

export const OBSERVER_NAME = 'distlab'

export interface ObservedInstance {
  name: string
  host: string
  port: number
  running: boolean
}

export class ForeignObserver {
  private node?: Node
  private extras?: MasterExtras
  private seq = 0
  private timer?: ReturnType<typeof setInterval>
  private readonly ids = new Map<string, string>()

  constructor(
    private readonly init: {
      stateDir: string
      runsDir?: string
      dashboardPort?: number
      instances: () => ObservedInstance[]
    },
  ) {}

  get runId(): string | undefined {
    return this.extras?.store.id
  }

  get runFile(): string | undefined {
    return this.extras?.store.file
  }

  get dashboardUrl(): string | undefined {
    return this.extras?.dashboard.url
  }

  async start(): Promise<void> {
    const node = createNode({
      name: OBSERVER_NAME,
      role: 'master',
      host: '127.0.0.1',
      httpPort: 0,
      framePort: 0,
      protocols: [],
      logger: silentLogger,
    })
    await node.start()
    this.node = node
    this.extras = new MasterExtras(node, {
      stateDir: this.init.stateDir,
      runsDir: this.init.runsDir,
      dashboardPort: this.init.dashboardPort ?? 8080,
    })
    try {
      await this.extras.start()
    } catch (err) {
      await node.stop()
      throw err
    }
    this.admit()
    this.timer = setInterval(() => this.admit(), 1000)
    this.timer.unref?.()
  }

  /** Running instances are members, heard from now; a dead one goes quiet and the dashboard marks it down. */
  private admit(): void {
    if (!this.node) return
    for (const i of this.init.instances()) {
      if (!i.running) continue
      let id = this.ids.get(i.name)
      if (!id) {
        id = `${i.name}-${this.ids.size + 1}`
        this.ids.set(i.name, id)
      }
      this.node.admit({ name: i.name, id, role: 'node', host: i.host, httpPort: i.port, framePort: 0 })
    }
  }

  ingest(events: TelemetryEvent[]): void {
    this.node?.collector?.ingest({ node: OBSERVER_NAME, seq: ++this.seq, lost: 0, events })
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.extras?.stop().catch(() => {})
    await this.node?.stop().catch(() => {})
    this.extras = undefined
    this.node = undefined
  }
}
