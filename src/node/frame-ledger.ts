// The node's frame ledger: what becomes of a frame the link emulator hands over (counted, recorded
// as a telemetry event, given to its protocol, or dropped with a reason), and the counters and
// telemetry event of every dropped frame and of every event the node records.
import { BROADCAST_DST, type Envelope } from '../core/envelope.js'
import type { DropInfo, InboundMessage, Protocol } from '../core/interfaces.js'
import { named, type Logger } from '../core/logger.js'
import type { TelemetryEvent } from '../core/telemetry.js'
import type { Metrics } from './metrics.js'

export interface FrameLedgerInit {
  /** The node's name. */
  name: string
  metrics: Metrics
  /** The node's telemetry emitter. */
  telemetry: { record(ev: TelemetryEvent): void }
  logger: Logger
  /** The node's own protocol table (protocols plugged in later are seen). */
  protocols: ReadonlyMap<string, Protocol>
}

export class FrameLedger {
  private readonly name: string
  private readonly metrics: Metrics
  private readonly telemetry: FrameLedgerInit['telemetry']
  private readonly logger: Logger
  private readonly protocols: ReadonlyMap<string, Protocol>

  constructor(init: FrameLedgerInit) {
    this.name = init.name
    this.metrics = init.metrics
    this.telemetry = init.telemetry
    this.logger = init.logger
    this.protocols = init.protocols
  }

  receive(msg: InboundMessage): void {
    const { env } = msg
    const proto = this.protoLabel(env.proto)
    this.metrics.inc('distlab_frames_received_total', 'Frames received and decoded.', {
      proto,
      transport: msg.transport,
    })
    this.metrics.inc(
      'distlab_bytes_received_total',
      'Bytes of frames received and decoded.',
      { proto, transport: msg.transport },
      msg.bytes,
    )
    this.event('recv', env, msg.bytes, msg.transport)
    if (env.dst !== this.name && env.dst !== BROADCAST_DST && !env.dst.startsWith('group:')) {
      this.droppedInbound(msg, 'not_for_me')
      return
    }
    const p = this.protocols.get(env.proto)
    if (!p) {
      this.droppedInbound(msg, 'no_protocol')
      return
    }
    try {
      p.handle(env, msg)
    } catch (err) {
      named(this.logger, `distlab:${env.proto}`).warn(
        `dropped a ${env.type} from ${env.src}: ${(err as Error).message}`,
      )
      this.droppedInbound(msg, 'protocol_error')
    }
  }

  /** A received frame this node will not deliver, counted with the reason. */
  private droppedInbound(msg: InboundMessage, reason: DropInfo['reason']): void {
    this.dropped({
      reason,
      bytes: msg.bytes,
      transport: msg.transport,
      direction: 'in',
      from: msg.from,
      env: msg.env,
    })
  }

  /** A metrics label for a frame's protocol: one this node runs, or `other` (peers invent names). */
  private protoLabel(proto: string): string {
    return this.protocols.has(proto) ? proto : 'other'
  }

  dropped(d: DropInfo): void {
    const proto = d.env?.proto ?? 'unknown'
    this.metrics.inc('distlab_frames_dropped_total', 'Frames dropped, by reason.', {
      proto: d.env ? this.protoLabel(proto) : proto,
      reason: d.reason,
      direction: d.direction,
      transport: d.transport,
    })
    if (d.env) this.event('drop', d.env, d.bytes, d.transport, d.reason)
    else
      this.telemetry.record({
        ts: Date.now(),
        node: this.name,
        proto,
        kind: 'drop',
        msgId: '',
        src: d.from ? `${d.from.host}:${d.from.port}` : '?',
        dst: this.name,
        bytes: d.bytes,
        transport: d.transport,
        reason: d.reason,
      })
  }

  event(
    kind: TelemetryEvent['kind'],
    env: Envelope,
    bytes: number,
    transport: TelemetryEvent['transport'],
    reason?: string,
  ): void {
    const ev: TelemetryEvent = {
      ts: Date.now(),
      node: this.name,
      proto: env.proto,
      kind,
      msgId: env.id,
      src: env.src,
      dst: env.dst,
      bytes,
      transport,
      type: env.type,
    }
    if (reason) ev.reason = reason
    this.telemetry.record(ev)
  }
}
