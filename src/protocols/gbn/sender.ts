// The Go-Back-N sender (Kurose & Ross, "Computer Networking", §3.4.3): up to `window` unacknowledged
// packets in flight, one timer for the oldest, cumulative ACKs, and on timeout every packet of the
// window sent again. It holds no socket: `transmit` puts a packet on the wire.
import type { Clock, TimerHandle } from '../../core/clock.js'
import { NotStartedError } from '../../core/errors.js'
import { encodePacket, FLAG_END_OF_MESSAGE, type Packet } from './wire.js'
import type { GbnEventListener, GbnTransferSummary } from './events.js'

export interface GbnSenderOptions {
  window: number
  timeoutMs: number
  clock: Clock
  transmit: (bytes: Buffer) => void
  onEvent?: GbnEventListener
  /** Endless probe traffic (cnnode): a new packet from `next()` at most every `intervalMs`. */
  probe?: { next: () => Uint8Array; intervalMs: number }
}

interface Segment {
  payload: Uint8Array
  eom: boolean
}

interface PendingMessage {
  endSeq: number
  packets: number
  summary: GbnTransferSummary
  resolve: (s: GbnTransferSummary) => void
  reject: (err: Error) => void
}

export class GbnSender {
  /** Oldest unacknowledged sequence number. */
  windowBase = 0
  /** Next sequence number to send for the first time. */
  nextSeq = 0
  /** Transmissions so far (first sends and retransmissions); each carries its number. */
  transmissions = 0
  timeouts = 0
  /** Highest transmission number the receiver has reported, plus one, and how many it got. */
  txKnown = 0
  txReceived = 0
  private readonly segments: Segment[] = [] // segments[i] has seq windowBase + i
  private queuedEnd = 0 // one past the last queued sequence number
  private readonly messages: PendingMessage[] = []
  private timer?: TimerHandle
  private paceTimer?: TimerHandle
  private nextProbeAt = 0
  private stopped = false

  constructor(private readonly o: GbnSenderOptions) {}

  /** Queues the segments as one message; resolves when the last one is acknowledged. */
  sendSegments(segments: Uint8Array[]): Promise<GbnTransferSummary> {
    if (this.stopped) return Promise.reject(new NotStartedError('Go-Back-N sender is stopped'))
    const list = segments.length === 0 ? [new Uint8Array(0)] : segments
    return new Promise<GbnTransferSummary>((resolve, reject) => {
      list.forEach((payload, i) => this.segments.push({ payload, eom: i === list.length - 1 }))
      this.queuedEnd += list.length
      this.messages.push({
        endSeq: this.queuedEnd,
        packets: list.length,
        summary: { packets: list.length, transmissions: 0, timeouts: 0, acksArrived: 0, acksDiscarded: 0 },
        resolve,
        reject,
      })
      this.pump()
    })
  }

  /** Starts sending what is queued, or probe traffic. */
  kick(): void {
    this.pump()
  }

  /** Packets queued or in flight, not yet acknowledged. */
  get outstanding(): number {
    return this.segments.length
  }

  /** An ACK arrived and survived emulation. */
  handleAck(p: Packet): void {
    if (this.stopped) return
    const current = this.messages[0]
    if (current) current.summary.acksArrived++
    if (p.tx + 1 > this.txKnown || (p.tx + 1 === this.txKnown && p.aux > this.txReceived)) {
      this.txKnown = p.tx + 1
      this.txReceived = Math.min(p.aux, this.txKnown)
    }
    const expected = p.seq
    if (expected <= this.windowBase || expected > this.nextSeq) {
      // A duplicate (or stale) cumulative ACK moves nothing: the sender discards it, and says so
      // once as the course's `ACK<n> discarded` instead of repeating "window moves to".
      this.emit({ kind: 'ack-discarded', at: this.o.clock.now(), ack: expected - 1, duplicate: true })
      return
    }
    this.segments.splice(0, expected - this.windowBase)
    this.windowBase = expected
    this.clearTimer()
    if (this.windowBase < this.nextSeq) this.startTimer()
    this.emit({
      kind: 'ack-received',
      at: this.o.clock.now(),
      ack: expected - 1,
      windowBase: this.windowBase,
    })
    this.completeMessages()
    this.pump()
  }

  /** An ACK arrived and emulation dropped it. */
  ackDiscarded(p: Packet): void {
    const current = this.messages[0]
    if (current) {
      current.summary.acksArrived++
      current.summary.acksDiscarded++
    }
    this.emit({ kind: 'ack-discarded', at: this.o.clock.now(), ack: p.seq - 1 })
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.clearTimer()
    if (this.paceTimer) this.o.clock.clearTimeout(this.paceTimer)
    this.paceTimer = undefined
    for (const m of this.messages.splice(0)) m.reject(new NotStartedError('Go-Back-N sender stopped'))
  }

  private completeMessages(): void {
    while (this.messages.length > 0 && this.messages[0]!.endSeq <= this.windowBase) {
      const m = this.messages.shift()!
      this.emit({
        kind: 'summary',
        at: this.o.clock.now(),
        role: 'sender',
        discarded: m.summary.acksDiscarded,
        total: m.summary.acksArrived,
      })
      m.resolve(m.summary)
    }
  }

  private pump(): void {
    if (this.stopped) return
    while (this.nextSeq < this.windowBase + this.o.window) {
      if (this.nextSeq - this.windowBase >= this.segments.length && !this.pullProbe()) break
      this.transmit(this.nextSeq, false)
      if (this.nextSeq === this.windowBase) this.startTimer()
      this.nextSeq++
    }
  }

  private pullProbe(): boolean {
    const probe = this.o.probe
    if (!probe) return false
    const now = this.o.clock.now()
    if (now < this.nextProbeAt) {
      if (!this.paceTimer)
        this.paceTimer = this.o.clock.setTimeout(() => {
          this.paceTimer = undefined
          this.pump()
        }, this.nextProbeAt - now)
      return false
    }
    this.nextProbeAt = now + probe.intervalMs
    this.segments.push({ payload: probe.next(), eom: false })
    this.queuedEnd++
    return true
  }

  private transmit(seq: number, retransmit: boolean): void {
    const seg = this.segments[seq - this.windowBase]!
    const current = this.messages.find((m) => seq < m.endSeq)
    if (current) current.summary.transmissions++
    const bytes = encodePacket({
      type: 'data',
      seq,
      tx: this.transmissions++,
      flags: seg.eom ? FLAG_END_OF_MESSAGE : 0,
      payload: seg.payload,
    })
    this.emit({ kind: 'packet-sent', at: this.o.clock.now(), seq, payload: seg.payload, retransmit })
    this.o.transmit(bytes)
  }

  private startTimer(): void {
    this.clearTimer()
    this.timer = this.o.clock.setTimeout(() => this.onTimeout(), this.o.timeoutMs)
  }

  private clearTimer(): void {
    if (this.timer) this.o.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private onTimeout(): void {
    this.timer = undefined
    if (this.stopped || this.windowBase >= this.nextSeq) return
    this.timeouts++
    const current = this.messages[0]
    if (current) current.summary.timeouts++
    this.emit({ kind: 'timeout', at: this.o.clock.now(), seq: this.windowBase })
    this.startTimer()
    for (let seq = this.windowBase; seq < this.nextSeq; seq++) this.transmit(seq, true)
  }

  private emit(e: Parameters<GbnEventListener>[0]): void {
    this.o.onEvent?.(e)
  }
}
