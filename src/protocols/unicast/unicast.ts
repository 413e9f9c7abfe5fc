// Reliable unicast: a selective-repeat ARQ over the node's UDP (or TCP) frames. Every message
// carries the sender's session and a per-peer sequence number; the receiver acknowledges each one
// (selectively, plus the next sequence it expects), suppresses duplicates and delivers in order per
// sender. The sender retransmits on a timer estimated as in RFC 6298, with exponential backoff, and
// only ever measures round trips of messages sent once (Karn's rule). The same machinery runs over
// TCP, since the link emulator loses and duplicates TCP frames too.
import { randomUUID } from 'node:crypto'
import type { Envelope } from '../../core/envelope.js'
import type { InboundMessage, Protocol, ProtocolComponents } from '../../core/interfaces.js'
import type { TimerHandle } from '../../core/clock.js'
import {
  InvalidArgumentError,
  NotStartedError,
  TimeoutError,
  UnknownPeerError,
  UnicastSendError,
} from '../../core/errors.js'
import { named, type Logger } from '../../core/logger.js'
import type { RouteHost } from '../../core/routes.js'
import { unicastRoutes } from './routes.js'
import {
  MAX_DATA_FRAME_BYTES,
  MAX_MESSAGE_BYTES,
  RECEIVE_SENDER_IDLE_MS,
  RETIRED_SESSIONS_PER_PEER,
  RETRANSMIT_BACKOFF_FACTOR,
  MAX_SKIP_ATTEMPTS,
  SEND_QUEUE_MESSAGES,
} from './constants.js'
import type { UnicastOptions } from './options.js'
import { ReceiveTable, type ReceiveState } from './receive.js'
import { ACK, AckBody, DATA, DataBody, newSession, sessionStart, SKIP, SkipBody } from './wire.js'

export { resolveUnicastOptions, type UnicastInit, type UnicastOptions } from './options.js'

export { UnicastSendError }

export type UnicastTransport = 'udp' | 'tcp'

export interface UnicastSendResult {
  delivered: true
  from: string
  to: string
  seq: number
  /** From send() to the acknowledgement, including any retransmissions, in ms. */
  rttMs: number
  attempts: number
  transport: UnicastTransport
}

export interface UnicastDelivery {
  /** Position in this node's delivery log, from 0. */
  index: number
  from: string
  seq: number
  msg: unknown
  transport: string
  /** When it reached the application, ms since the epoch. */
  at: number
}

export interface UnicastStats {
  sent: number
  retransmissions: number
  acksSent: number
  acksReceived: number
  delivered: number
  duplicates: number
  outOfOrder: number
  refused: number
  timedOut: number
  inFlight: number
  queued: number
  /** Bytes this protocol put on the node's transports. */
  bytesSent: number
  /** Senders this node keeps receive state for. */
  receiveSenders: number
  /** Out-of-order bytes buffered for all senders. */
  receiveBufferedBytes: number
}

interface Outgoing {
  seq: number
  msg: unknown
  transport: UnicastTransport
  attempts: number
  /**
   * Envelope id of the first transmission, reused by every retransmission: one message id per
   * message, so telemetry and the analyzer see a retransmission as the same message again.
   */
  envId?: string
  /** performance.now() at the first transmission, for the reported round-trip time. */
  startedPerf: number
  lastSentAt: number
  deadline: number
  timer?: TimerHandle
  resolve: (r: UnicastSendResult) => void
  reject: (err: Error) => void
}

interface PeerSendState {
  nextSeq: number
  inFlight: Map<number, Outgoing>
  queue: Outgoing[]
  srtt?: number
  rttvar?: number
  rto: number
  /** Set when messages were given up: the receiver has not yet confirmed moving past them (skipIfIdle). */
  gaveUpBelow?: number
  /** A skip to this base is announced and not yet confirmed. */
  skipTo?: number
  skipAttempts: number
  skipTimer?: TimerHandle
}

export class Unicast implements Protocol {
  readonly name = 'unicast'
  /** Changes on every start, so a restarted sender is told apart from replays of its old frames. */
  private session = ''
  private running = false
  private readonly log: Logger
  private readonly out = new Map<string, PeerSendState>()
  private readonly in: ReceiveTable
  private sweepTimer?: TimerHandle
  private readonly deliveredLog: UnicastDelivery[] = []
  private deliveredTotal = 0
  private readonly listeners = new Set<(d: UnicastDelivery) => void>()
  private readonly counters = {
    sent: 0,
    retransmissions: 0,
    acksSent: 0,
    acksReceived: 0,
    duplicates: 0,
    outOfOrder: 0,
    refused: 0,
    timedOut: 0,
  }

  constructor(
    private readonly c: ProtocolComponents,
    private readonly o: UnicastOptions,
    /** Set when another protocol uses this ARQ as its channel, for the byte count. */
    private readonly channelOf?: string,
  ) {
    this.log = named(c.logger, 'distlab:unicast')
    this.in = new ReceiveTable({
      maxSenders: o.maxReceiveSenders,
      bytesPerSender: o.receiveBufferBytes,
      totalBytes: o.receiveBufferTotalBytes,
      bufferIdleMs: o.receiveIdleMs,
      senderIdleMs: Math.max(o.receiveIdleMs, RECEIVE_SENDER_IDLE_MS),
    })
  }

  async start(): Promise<void> {
    if (this.running) return
    // The start time leads, so that a receiver tells a restarted sender from a replay of an old one.
    this.session = newSession()
    this.running = true
    this.armSweep()
  }

  /** Frees idle receive buffers a few times per idle period, whether or not frames arrive. */
  private armSweep(): void {
    const every = Math.max(50, Math.min(10_000, this.o.receiveIdleMs / 4))
    this.sweepTimer = this.c.clock.setTimeout(() => {
      this.sweepTimer = undefined
      if (!this.running) return
      this.in.sweep(this.c.clock.now())
      this.armSweep()
    }, every)
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.sweepTimer) this.c.clock.clearTimeout(this.sweepTimer)
    this.sweepTimer = undefined
    for (const st of this.out.values()) {
      this.endSkip(st)
      for (const o of [...st.inFlight.values(), ...st.queue]) {
        if (o.timer) this.c.clock.clearTimeout(o.timer)
        o.reject(new NotStartedError('unicast stopped before the message was acknowledged'))
      }
    }
    this.out.clear()
    this.in.clear()
  }

  /** Calls `fn` for every message delivered to this node, in order per sender. */
  onDeliver(fn: (d: UnicastDelivery) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Delivered messages with index >= since (those still in the log). */
  delivered(since = 0): { total: number; messages: UnicastDelivery[] } {
    return { total: this.deliveredTotal, messages: this.deliveredLog.filter((d) => d.index >= since) }
  }

  stats(): UnicastStats {
    let inFlight = 0
    let queued = 0
    for (const st of this.out.values()) {
      inFlight += st.inFlight.size
      queued += st.queue.length
    }
    return {
      ...this.counters,
      delivered: this.deliveredTotal,
      inFlight,
      queued,
      bytesSent: this.c.metrics.total('distlab_bytes_sent_total', { proto: this.protoName() }),
      receiveSenders: this.in.size,
      receiveBufferedBytes: this.in.heldBytes,
    }
  }

  /** The envelope protocol this instance's frames carry (`multicast` when it is the group channel). */
  private protoName(): string {
    return this.channelOf ?? this.name
  }

  /** Sends `msg` to node `to`; resolves once `to` acknowledged it, rejects with TimeoutError. */
  send(
    to: string,
    msg: unknown,
    options: { transport?: UnicastTransport; timeoutMs?: number } = {},
  ): Promise<UnicastSendResult> {
    if (!this.running) return Promise.reject(new NotStartedError('unicast is not started'))
    if (to === this.c.self.name)
      return Promise.reject(new InvalidArgumentError('a node does not send unicast to itself', 'to'))
    const timeoutMs = options.timeoutMs ?? this.o.sendTimeoutMs
    const transport = options.transport ?? 'udp'
    if (transport !== 'udp' && transport !== 'tcp')
      return Promise.reject(new InvalidArgumentError('transport must be udp or tcp', 'transport'))
    const size = Buffer.byteLength(JSON.stringify(msg ?? null))
    if (size > MAX_MESSAGE_BYTES)
      return Promise.reject(
        new UnicastSendError(`message is ${size} bytes of JSON, the limit is ${MAX_MESSAGE_BYTES}`),
      )
    const st = this.peer(to)
    if (st.queue.length >= SEND_QUEUE_MESSAGES)
      return Promise.reject(new UnicastSendError(`${SEND_QUEUE_MESSAGES} messages already wait for ${to}`))
    return new Promise<UnicastSendResult>((resolve, reject) => {
      const now = this.c.clock.now()
      const o: Outgoing = {
        seq: st.nextSeq++,
        msg: msg ?? null,
        transport,
        attempts: 0,
        startedPerf: performance.now(),
        lastSentAt: now,
        deadline: now + timeoutMs,
        resolve,
        reject,
      }
      st.queue.push(o)
      this.pump(to, st)
    })
  }

  private peer(to: string): PeerSendState {
    let st = this.out.get(to)
    if (!st)
      this.out.set(
        to,
        (st = {
          nextSeq: 0,
          inFlight: new Map(),
          queue: [],
          rto: this.o.initialRetransmitTimeoutMs,
          skipAttempts: 0,
        }),
      )
    return st
  }

  private pump(to: string, st: PeerSendState): void {
    while (st.inFlight.size < this.o.windowMessages && st.queue.length > 0) {
      const o = st.queue.shift()!
      o.startedPerf = performance.now()
      st.inFlight.set(o.seq, o)
      this.transmit(to, st, o)
    }
  }

  /** Lowest sequence not yet acknowledged: the receiver may skip anything below it. */
  private base(st: PeerSendState): number {
    let b = st.queue[0]?.seq ?? st.nextSeq
    for (const seq of st.inFlight.keys()) if (seq < b) b = seq
    return b
  }

  /** `expired`: called by the timer armed for the message's deadline. */
  private transmit(to: string, st: PeerSendState, o: Outgoing, expired = false): void {
    const now = this.c.clock.now()
    if (o.attempts > 0 && (expired || now >= o.deadline)) {
      st.inFlight.delete(o.seq)
      this.counters.timedOut++
      o.reject(new TimeoutError(`${to} did not acknowledge message ${o.seq} in time`))
      st.gaveUpBelow = Math.max(st.gaveUpBelow ?? 0, o.seq + 1)
      this.pump(to, st)
      this.skipIfIdle(to, st)
      return
    }
    if (o.attempts > 0) this.counters.retransmissions++
    o.attempts++
    o.lastSentAt = now
    this.counters.sent++
    const body: DataBody = { s: this.session, q: o.seq, b: this.base(st), m: o.msg }
    o.envId ??= randomUUID()
    this.c.send(to, DATA, body, { transport: o.transport, id: o.envId }).catch((err: unknown) => {
      // The node refreshed its member list and still does not know `to`: fail at once.
      if (err instanceof UnknownPeerError && st.inFlight.get(o.seq) === o) {
        st.inFlight.delete(o.seq)
        if (o.timer) this.c.clock.clearTimeout(o.timer)
        o.reject(err)
        this.pump(to, st)
        return
      }
      this.log.debug(`send of ${o.seq} to ${to} failed: ${(err as Error).message}`)
    })
    const backoff = Math.min(
      this.o.maxRetransmitTimeoutMs,
      st.rto * RETRANSMIT_BACKOFF_FACTOR ** (o.attempts - 1),
    )
    // A timer armed for the deadline means it: Node's timers run on the event loop's cached time,
    // which a busy loop leaves behind the wall clock, so when it fires, clock.now() may still read
    // just before the deadline, and the message would be sent again past its timeout.
    const untilDeadline = o.deadline - now
    const expires = backoff >= untilDeadline
    o.timer = this.c.clock.setTimeout(
      () => {
        o.timer = undefined
        if (this.running && st.inFlight.get(o.seq) === o) this.transmit(to, st, o, expires)
      },
      Math.max(1, Math.min(backoff, untilDeadline)),
    )
  }

  /**
   * After a message was given up, once nothing is in flight or queued: the frames that carried the
   * new base may all have been sent before the give-up, and without a word the receiver would hold
   * what it took in behind the gap (acknowledged, so never sent again) and never deliver it. A
   * `skip` frame says it, sent again with the retransmission backoff until an ack confirms it or
   * MAX_SKIP_ATTEMPTS went out.
   */
  private skipIfIdle(to: string, st: PeerSendState): void {
    const b = st.nextSeq
    if (
      st.gaveUpBelow === undefined ||
      st.inFlight.size > 0 ||
      st.queue.length > 0 ||
      st.skipTo === b ||
      b < 1
    )
      return
    this.endSkip(st)
    st.skipTo = b
    const attempt = () => {
      st.skipTimer = undefined
      if (!this.running || st.skipTo !== b || st.skipAttempts >= MAX_SKIP_ATTEMPTS) return
      st.skipAttempts++
      const body: SkipBody = { s: this.session, b }
      this.c.send(to, SKIP, body).catch(() => {})
      const wait = Math.min(
        this.o.maxRetransmitTimeoutMs,
        st.rto * RETRANSMIT_BACKOFF_FACTOR ** (st.skipAttempts - 1),
      )
      st.skipTimer = this.c.clock.setTimeout(attempt, Math.max(1, wait))
    }
    attempt()
  }

  private endSkip(st: PeerSendState): void {
    if (st.skipTimer) this.c.clock.clearTimeout(st.skipTimer)
    st.skipTimer = undefined
    st.skipTo = undefined
    st.skipAttempts = 0
  }

  handle(env: Envelope, msg: InboundMessage): void {
    if (!this.running) return
    if (env.type === DATA) return this.onData(env, msg)
    if (env.type === ACK) return this.onAck(env)
    if (env.type === SKIP) return this.onSkip(env, msg)
    this.c.dropped(env, 'unknown_type')
  }

  private onData(env: Envelope, msg: InboundMessage): void {
    // A sender's own check stops larger messages; a bigger frame is not one of ours.
    if (msg.bytes > MAX_DATA_FRAME_BYTES) return this.c.dropped(env, 'too_large')
    const r = DataBody.safeParse(env.body)
    if (!r.success || r.data.b > r.data.q) return this.c.dropped(env, 'bad_body')
    const { s, q, b, m } = r.data
    const transport: UnicastTransport = msg.transport === 'tcp' ? 'tcp' : 'udp'
    const now = this.c.clock.now()
    let st = this.in.get(env.src, msg.from.host, now)
    if (!st || st.session !== s) {
      if (st && (st.retired.includes(s) || sessionStart(s) < sessionStart(st.session)))
        return this.c.dropped(env, 'replay')
      const retired = st ? [...st.retired, st.session].slice(-RETIRED_SESSIONS_PER_PEER) : []
      st = this.in.set(env.src, msg.from.host, { session: s, expected: b, retired }, now, (name) =>
        this.isMember(name),
      )
    }
    // The sender sends nothing below b again: deliver what waits behind the gaps.
    this.moveBase(env.src, st, b)
    if (q < st.expected || st.buffer.has(q)) {
      this.counters.duplicates++
      this.c.dropped(env, 'duplicate')
    } else if (
      q >= st.expected + this.o.receiveBufferMessages ||
      (q !== st.expected && !this.in.fits(st, msg.bytes))
    ) {
      // Past the window or the byte caps: not acknowledged, so the sender sends it again later.
      this.counters.refused++
      this.c.dropped(env, 'receive_buffer_full')
      return
    } else {
      if (q !== st.expected) this.counters.outOfOrder++
      this.in.hold(st, q, { env, msg: m ?? null, transport, bytes: msg.bytes })
      this.drain(env.src, st)
    }
    this.counters.acksSent++
    const ack: AckBody = { s, q, c: st.expected }
    this.c.send(env.src, ACK, ack, { transport, reply: true }).catch(() => {})
  }

  /** The sender gave up below b: deliver what waits behind the gap, and confirm. */
  private onSkip(env: Envelope, msg: InboundMessage): void {
    const r = SkipBody.safeParse(env.body)
    if (!r.success) return this.c.dropped(env, 'bad_body')
    const { s, b } = r.data
    const st = this.in.get(env.src, msg.from.host, this.c.clock.now())
    if (st && st.session !== s && (st.retired.includes(s) || sessionStart(s) < sessionStart(st.session)))
      return this.c.dropped(env, 'replay')
    // Nothing held from this session (none of its frames came, or a newer one replaced it): there
    // is nothing to deliver, and nothing below b will come.
    let c = b
    if (st && st.session === s) {
      this.moveBase(env.src, st, b)
      c = st.expected
    }
    const ack: AckBody = { s, q: b - 1, c }
    this.c
      .send(env.src, ACK, ack, { transport: msg.transport === 'tcp' ? 'tcp' : 'udp', reply: true })
      .catch(() => {})
  }

  /**
   * The sender sends nothing below b again (a data frame's base, or a skip): every message it did
   * not give up there was acknowledged, so what is held below b is delivered now, in order, past the
   * gaps of those given up; delivery then waits at b.
   */
  private moveBase(from: string, st: ReceiveState, b: number): void {
    if (b <= st.expected) return
    const held = [...st.buffer.keys()].filter((q) => q < b).sort((x, y) => x - y)
    for (const q of held) {
      if (q < st.expected) continue
      st.expected = q
      this.drain(from, st)
    }
    if (b > st.expected) st.expected = b
    this.drain(from, st)
  }

  private isMember(name: string): boolean {
    return this.c.peers().includes(name)
  }

  private drain(from: string, st: ReceiveState): void {
    for (let next = this.in.take(st, st.expected); next; next = this.in.take(st, st.expected)) {
      const d: UnicastDelivery = {
        index: this.deliveredTotal++,
        from,
        seq: st.expected,
        msg: next.msg,
        transport: next.transport,
        at: Date.now(),
      }
      st.expected++
      this.c.delivered(next.env)
      this.log.info(`received unicast ${d.seq} from ${from}: ${preview(d.msg)}`)
      if (this.o.deliveredLogMessages > 0) {
        this.deliveredLog.push(d)
        if (this.deliveredLog.length > this.o.deliveredLogMessages) this.deliveredLog.shift()
      }
      for (const fn of this.listeners) {
        try {
          fn(d)
        } catch (err) {
          this.log.warn(`a delivery listener failed: ${(err as Error).message}`)
        }
      }
    }
  }

  private onAck(env: Envelope): void {
    const r = AckBody.safeParse(env.body)
    if (!r.success) return this.c.dropped(env, 'bad_body')
    const { s, q, c } = r.data
    const st = this.out.get(env.src)
    if (s !== this.session || !st) return this.c.dropped(env, 'stale_ack')
    this.counters.acksReceived++
    const now = this.c.clock.now()
    const confirmsSkip = st.skipTo !== undefined && c >= st.skipTo
    if (confirmsSkip) this.endSkip(st)
    // The receiver delivered past what was given up: it knows the base.
    if (st.gaveUpBelow !== undefined && c >= st.gaveUpBelow) st.gaveUpBelow = undefined
    let acked = 0
    for (const [seq, o] of st.inFlight) {
      if (seq !== q && seq >= c) continue
      st.inFlight.delete(seq)
      if (o.timer) this.c.clock.clearTimeout(o.timer)
      acked++
      if (o.attempts === 1 && seq === q) this.sample(st, now - o.lastSentAt)
      const rttMs = performance.now() - o.startedPerf
      this.c.metrics.observe(
        'distlab_unicast_rtt_seconds',
        'Reliable unicast: time from the first send of a message to its acknowledgement (retransmissions included).',
        rttMs / 1000,
      )
      o.resolve({
        delivered: true,
        from: this.c.self.name,
        to: env.src,
        seq,
        rttMs: Math.round(rttMs * 1000) / 1000,
        attempts: o.attempts,
        transport: o.transport,
      })
    }
    if (acked === 0 && !confirmsSkip) this.c.dropped(env, 'duplicate_ack')
    this.pump(env.src, st)
    this.skipIfIdle(env.src, st)
  }

  /** RFC 6298 section 2. */
  private sample(st: PeerSendState, rtt: number): void {
    if (st.srtt === undefined || st.rttvar === undefined) {
      st.srtt = rtt
      st.rttvar = rtt / 2
    } else {
      st.rttvar = 0.75 * st.rttvar + 0.25 * Math.abs(st.srtt - rtt)
      st.srtt = 0.875 * st.srtt + 0.125 * rtt
    }
    st.rto = Math.min(
      this.o.maxRetransmitTimeoutMs,
      Math.max(this.o.minRetransmitTimeoutMs, st.srtt + Math.max(1, 4 * st.rttvar)),
    )
  }

  routes(app: RouteHost): void {
    unicastRoutes(app, this)
  }
}

function preview(msg: unknown): string {
  const text = typeof msg === 'string' ? msg : JSON.stringify(msg)
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}
