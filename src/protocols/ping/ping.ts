// Ping: a probe and its echo over the node-to-node transport, to measure round-trip time and to
// show whether a link works (the link emulator acts on it like on any protocol).
import type { Envelope } from '../../core/envelope.js'
import type { Protocol, ProtocolComponents } from '../../core/interfaces.js'
import { TimeoutError } from '../../core/errors.js'
import type { RouteHost } from '../../core/routes.js'
import { PING_TIMEOUT_MS } from './constants.js'
import { pingRoutes } from './routes.js'
import { PING, PONG, readPong, type PongBody } from './wire.js'

export interface PingResult {
  to: string
  rttMs: number
  transport: 'udp' | 'tcp'
}

export class Ping implements Protocol {
  readonly name = 'ping'
  private readonly waiting = new Map<string, { resolve: (rtt: number) => void; sentAt: number }>()
  private seq = 0

  constructor(private readonly c: ProtocolComponents) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.waiting.clear()
  }

  handle(env: Envelope): void {
    if (env.type === PING) {
      this.c.delivered(env)
      const pong: PongBody = { echo: env.id }
      this.c.send(env.src, PONG, pong, { transport: 'udp', reply: true }).catch(() => {})
      return
    }
    if (env.type === PONG) {
      const echo = readPong(env.body)
      const w = echo === undefined ? undefined : this.waiting.get(echo)
      if (w) {
        this.c.delivered(env)
        w.resolve(performance.now() - w.sentAt)
      }
    }
  }

  /** Resolves with the round-trip time; rejects with TimeoutError when no pong comes in time. */
  async ping(to: string, timeoutMs = PING_TIMEOUT_MS, transport: 'udp' | 'tcp' = 'udp'): Promise<PingResult> {
    const id = `${this.c.self.name}-ping-${++this.seq}-${Date.now()}`
    const rtt = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new TimeoutError(`no answer from ${to} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(id, {
        sentAt: performance.now(),
        resolve: (ms) => {
          clearTimeout(timer)
          this.waiting.delete(id)
          resolve(ms)
        },
      })
    })
    this.c.send(to, PING, null, { id, transport }).catch(() => {})
    return { to, rttMs: Math.round((await rtt) * 1000) / 1000, transport }
  }

  /** POST /ping (routes.ts). */
  routes(app: RouteHost): void {
    pingRoutes(app, this)
  }
}
