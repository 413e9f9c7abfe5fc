// Heartbeats: each node tells the master it is alive once a second over UDP. The master's view
// of who is reachable comes from these, so a partition or a lossy link shows in `distlab status`.
import type { Envelope } from '../../core/envelope.js'
import type { Protocol, ProtocolComponents } from '../../core/interfaces.js'
import { MASTER_NAME } from '../../core/ids.js'
import { checkInteger } from '../../core/options.js'
import { HEARTBEAT_INTERVAL_MS } from './constants.js'
import { BEAT, BeatBody } from './wire.js'

export interface HeartbeatInit {
  /** @default 1000 */
  intervalMs?: number
  /** Who to beat to. @default 'master' */
  target?: string
  /** Called on the receiving side for each heartbeat. */
  onBeat?: (from: string, env: Envelope) => void
}

export class Heartbeat implements Protocol {
  readonly name = 'heartbeat'
  private timer?: ReturnType<typeof setInterval>
  private beats = 0
  private readonly intervalMs: number

  constructor(
    private readonly c: ProtocolComponents,
    private readonly init: HeartbeatInit,
  ) {
    this.intervalMs = checkInteger('intervalMs', init.intervalMs ?? HEARTBEAT_INTERVAL_MS, 10)
  }

  async start(): Promise<void> {
    const target = this.init.target ?? MASTER_NAME
    if (this.c.self.name === target || this.timer) return
    this.timer = setInterval(() => {
      const beat: BeatBody = { n: ++this.beats }
      this.c.send(target, BEAT, beat, { transport: 'udp' }).catch(() => {})
    }, this.intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  handle(env: Envelope): void {
    if (env.type !== BEAT) return
    if (!BeatBody.safeParse(env.body).success) return this.c.dropped(env, 'bad_body')
    this.c.delivered(env)
    this.init.onBeat?.(env.src, env)
  }
}
