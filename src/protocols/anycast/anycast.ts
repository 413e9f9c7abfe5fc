// The anycast replica every cluster node runs: the seed's TCP greeting server on the node's own
// address and one shared port (5001; the node's HTTP API has 5000), answering with the node's
// name on the second line. GET /anycast tells clients where it is, which is how
// `distlab anycast client` finds the replicas of a running cluster.
import type { RouteHost } from '../../core/routes.js'
import { anycastRoutes } from './routes.js'
import type { Envelope } from '../../core/envelope.js'
import type { Protocol, ProtocolComponents } from '../../core/interfaces.js'
import { checkPort } from '../../core/options.js'
import { named, type Logger } from '../../core/logger.js'
import { AnycastServer } from './server.js'
import { NODE_ANYCAST_PORT } from './constants.js'

export interface AnycastInit {
  /** Port of the replica; if busy, the OS picks one. 0 lets the OS pick. @default 5001 */
  port?: number
}

export interface AnycastInfo {
  name: string
  host: string
  port: number
  served: number
  active: number
}

export class Anycast implements Protocol {
  readonly name = 'anycast'
  private server?: AnycastServer
  private readonly log: Logger
  private readonly port: number

  constructor(
    private readonly c: ProtocolComponents,
    init: AnycastInit = {},
  ) {
    this.log = named(c.logger, 'distlab:anycast')
    this.port = checkPort('port', init.port ?? NODE_ANYCAST_PORT)
  }

  async start(): Promise<void> {
    if (this.server) return
    const make = (port: number) =>
      new AnycastServer({
        host: this.c.self.bindHost,
        port,
        name: this.c.self.name,
        onConnection: (remote) =>
          this.c.record({
            proto: this.name,
            kind: 'deliver',
            msgId: '',
            src: `${remote.host}:${remote.port}`,
            dst: this.c.self.name,
            bytes: 0,
            transport: 'tcp',
            type: 'hello',
          }),
      })
    let server = make(this.port)
    try {
      await server.start()
    } catch (err) {
      if (this.port === 0) throw err
      this.log.warn(`anycast port ${this.port} is busy on ${this.c.self.bindHost}; using one the OS picks`)
      server = make(0)
      await server.start()
    }
    this.server = server
  }

  async stop(): Promise<void> {
    const s = this.server
    this.server = undefined
    await s?.stop()
  }

  info(): AnycastInfo | undefined {
    if (!this.server) return undefined
    return {
      name: this.c.self.name,
      host: this.c.self.host,
      port: this.server.address().port,
      served: this.server.counts.served,
      active: this.server.counts.active,
    }
  }

  handle(env: Envelope): void {
    this.c.dropped(env, 'unknown_type')
  }

  routes(app: RouteHost): void {
    anycastRoutes(app, this, this.c.self.name)
  }
}
