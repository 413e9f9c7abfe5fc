// The network analyzer: turns a run's telemetry (or the messages decoded from a capture) into the
// figures a protocol is judged by, per protocol and per node: messages and bytes sent, received
// and dropped, delivery ratio, duplicates, one-way latency quantiles (a send matched to its
// receives by message id) and the unnecessary-traffic ratio (messages beyond one per delivery).
//
// Delivery ratio is delivered / unique messages sent, per receiver a message was meant for: a
// message is its id (a retransmission reuses it), so neither retransmissions nor duplicates count
// against it, and acks or control frames are not messages. A protocol's messages are its sends of
// the types it hands to the application (its `deliver` events), plus messages only seen delivered
// (a broadcast's id, delivered by its origin first; an HTTP POST /message from outside the run).
import type { TelemetryEvent } from '../core/telemetry.js'
import { BROADCAST_DST } from '../core/envelope.js'

export interface LatencyQuantiles {
  /** Milliseconds; null when no message was matched. */
  p50: number | null
  p95: number | null
  p99: number | null
  max: number | null
}

export interface ProtocolReport {
  /** Messages put on the wire (frames: retransmissions, acks and control frames included). */
  sent: number
  /** Messages that arrived and decoded (duplicates included). */
  received: number
  /** Messages dropped anywhere: by the link emulator, a partition, a bad frame, a full queue. */
  dropped: number
  /** Bytes put on the wire. */
  bytes: number
  /**
   * Distinct messages sent: one per message id, so a retransmission or a duplicate is not counted
   * again; for a protocol that delivers to the application, only the types it delivers (no acks).
   */
  uniqueMessages: number
  /**
   * Delivered / unique messages sent, per intended receiver: a message to one node is meant for it,
   * one to `*` for every other node of the run (messages to a group are left out: telemetry does
   * not know its members). Deliveries are the protocol's `deliver` events; a protocol that reports
   * none counts first receptions. Null when nothing was sent to a known receiver.
   */
  deliveryRatio: number | null
  /** Receptions of a message a node had already received. */
  duplicates: number
  latencyMs: LatencyQuantiles
  /** Distinct messages handed to the application (per node). */
  delivered: number
  /**
   * (sent − deliveries) / sent: the share of traffic beyond one message per delivery (acks,
   * retransmissions, redundant copies). Deliveries are the protocol's `deliver` events, or its
   * distinct receptions if it reports none; null when nothing was sent.
   */
  unnecessaryRatio: number | null
}

export interface NodeReport {
  sent: number
  received: number
  dropped: number
  /** Bytes this node put on the wire. */
  bytes: number
  bytesReceived: number
  delivered: number
  duplicates: number
}

export interface AnalysisReport {
  run: string
  events: number
  lostEvents: number
  protocols: Record<string, ProtocolReport>
  nodes: Record<string, NodeReport>
}

export interface AnalysisSeries {
  /** Start of the first second, ms since the epoch. */
  t0: number
  /** Messages sent per protocol per whole second since t0. */
  throughput: Record<string, number[]>
  /** Every matched latency per protocol, in ms, sorted. */
  latencies: Record<string, number[]>
  /** Messages sent per node and protocol. */
  sentByNode: Record<string, Record<string, number>>
}

export interface AnalyzeInit {
  run: string
  lostEvents?: number
  /** Node names of the run besides those seen in events (the receivers a `*` message is meant for). */
  members?: string[]
  /** Also return per-second throughput and every latency, for plots. @default false */
  series?: boolean
}

interface ProtoAcc {
  sent: number
  received: number
  dropped: number
  bytes: number
  duplicates: number
  intended: Set<string>
  reached: Set<string>
  delivered: Set<string>
  receivedPairs: Set<string>
  /** Message types this protocol delivers to the application ('' for none given). */
  payloadTypes: Set<string>
  /** First send (or outbound drop) of each message id. */
  sentMsgs: Map<string, MessageInfo>
  /** Each delivered message id, with its origin and destination. */
  deliveredMsgs: Map<string, MessageInfo>
  latencies: number[]
  perSecond: number[]
}

interface MessageInfo {
  src: string
  dst: string
  type: string
}

/** Distinct delivered types kept per protocol (types come from telemetry: a bound, not a limit in practice). */
const MAX_PAYLOAD_TYPES = 64

const newProto = (): ProtoAcc => ({
  sent: 0,
  received: 0,
  dropped: 0,
  bytes: 0,
  duplicates: 0,
  intended: new Set(),
  reached: new Set(),
  delivered: new Set(),
  receivedPairs: new Set(),
  payloadTypes: new Set(),
  sentMsgs: new Map(),
  deliveredMsgs: new Map(),
  latencies: [],
  perSecond: [],
})

const newNode = (): NodeReport => ({
  sent: 0,
  received: 0,
  dropped: 0,
  bytes: 0,
  bytesReceived: 0,
  delivered: 0,
  duplicates: 0,
})

/** Reasons the link emulator gives for a frame it discarded on the way out (src/link/emulator.ts). */
const LINK_DROPS: ReadonlySet<string> = new Set(['loss', 'partition', 'drop_every', 'corrupt'])

/** Receives waiting for their send to show up, at most (a bound on memory, not a limit in practice). */
const MAX_EARLY_RECEIVES = 1_000_000

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]!
}

const round3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000)

export function latencyQuantiles(sorted: readonly number[]): LatencyQuantiles {
  return {
    p50: round3(quantile(sorted, 0.5)),
    p95: round3(quantile(sorted, 0.95)),
    p99: round3(quantile(sorted, 0.99)),
    max: round3(sorted.length ? sorted[sorted.length - 1]! : null),
  }
}

/**
 * Analyzes events in time order. Two passes over the events are avoided: a `*` message's intended
 * receivers are resolved at the end, from every node the run saw.
 */
export function analyzeEvents(
  events: Iterable<TelemetryEvent>,
  init: AnalyzeInit,
): AnalysisReport & { series?: AnalysisSeries } {
  const acc = new EventAccumulator(init)
  for (const e of events) acc.add(e)
  return acc.report()
}

/** The running state of one analysis: per protocol, per node, and the message pairs seen so far. */
class EventAccumulator {
  private readonly protos = new Map<string, ProtoAcc>()
  private readonly nodes = new Map<string, NodeReport>()
  private readonly firstSend = new Map<string, number>()
  private readonly seenRecv = new Set<string>()
  private readonly earlyRecv = new Map<string, Array<{ proto: ProtoAcc; ts: number }>>()
  private readonly broadcastSends: Array<{ proto: ProtoAcc; msgId: string; src: string }> = []
  private readonly nodeNames: Set<string>
  // Keyed by node and protocol names from telemetry: no prototype, so `__proto__` is only a name.
  private readonly sentByNode = Object.create(null) as Record<string, Record<string, number>>
  private count = 0
  private t0: number | undefined

  constructor(private readonly init: AnalyzeInit) {
    this.nodeNames = new Set<string>(init.members ?? [])
  }

  add(e: TelemetryEvent): void {
    this.count++
    this.t0 ??= Math.floor(e.ts / 1000) * 1000
    this.nodeNames.add(e.node)
    const p = this.protoOf(e.proto)
    const n = this.nodeOf(e.node)
    switch (e.kind) {
      case 'send':
        this.onSend(e, p, n)
        break
      case 'recv':
        this.onRecv(e, p, n)
        break
      case 'deliver':
        this.onDeliver(e, p, n)
        break
      case 'drop':
        this.onDrop(e, p, n)
        break
      default:
        break
    }
  }

  private nodeOf(name: string): NodeReport {
    let n = this.nodes.get(name)
    if (!n) this.nodes.set(name, (n = newNode()))
    return n
  }

  private protoOf(name: string): ProtoAcc {
    let p = this.protos.get(name)
    if (!p) this.protos.set(name, (p = newProto()))
    return p
  }

  private intend(p: ProtoAcc, msgId: string, src: string, dst: string, type = ''): void {
    if (!msgId) return
    if (!p.sentMsgs.has(msgId)) p.sentMsgs.set(msgId, { src, dst, type })
    if (dst === BROADCAST_DST) this.broadcastSends.push({ proto: p, msgId, src })
    else if (!dst.startsWith('group:')) p.intended.add(`${msgId}\u0000${dst}`)
  }

  /** One more frame on the wire in the per-second series (when the caller asked for series). */
  private countSeries(e: TelemetryEvent, p: ProtoAcc): void {
    if (!this.init.series) return
    const s = Math.max(0, Math.floor((e.ts - this.t0!) / 1000))
    p.perSecond[s] = (p.perSecond[s] ?? 0) + 1
    const byProto = (this.sentByNode[e.node] ??= Object.create(null) as Record<string, number>)
    byProto[e.proto] = (byProto[e.proto] ?? 0) + 1
  }

  private onSend(e: TelemetryEvent, p: ProtoAcc, n: NodeReport): void {
    p.sent++
    p.bytes += e.bytes
    n.sent++
    n.bytes += e.bytes
    if (e.msgId && !this.firstSend.has(e.msgId)) {
      this.firstSend.set(e.msgId, e.ts)
      // Receives reported before their send (same millisecond, or a later telemetry batch).
      const early = this.earlyRecv.get(e.msgId)
      if (early) {
        for (const r of early) r.proto.latencies.push(Math.max(0, r.ts - e.ts))
        this.earlyRecv.delete(e.msgId)
      }
    }
    this.intend(p, e.msgId, e.src, e.dst, e.type)
    this.countSeries(e, p)
  }

  private onRecv(e: TelemetryEvent, p: ProtoAcc, n: NodeReport): void {
    p.received++
    n.received++
    n.bytesReceived += e.bytes
    // An HTTP request (seed 002's POST /message) is seen only where it arrives: its client is
    // not a node of the run, so its send is counted here, for the protocol only.
    if (e.transport === 'http' && !(e.msgId && this.firstSend.has(e.msgId))) {
      p.sent++
      p.bytes += e.bytes
      if (e.msgId) this.firstSend.set(e.msgId, e.ts)
    }
    if (!e.msgId) return
    const pair = `${e.msgId}\u0000${e.node}`
    if (this.seenRecv.has(pair)) {
      p.duplicates++
      n.duplicates++
      return
    }
    this.seenRecv.add(pair)
    p.receivedPairs.add(pair)
    p.reached.add(pair)
    const sentAt = this.firstSend.get(e.msgId)
    if (sentAt !== undefined) p.latencies.push(Math.max(0, e.ts - sentAt))
    else if (this.earlyRecv.size < MAX_EARLY_RECEIVES) {
      const list = this.earlyRecv.get(e.msgId)
      if (list) list.push({ proto: p, ts: e.ts })
      else this.earlyRecv.set(e.msgId, [{ proto: p, ts: e.ts }])
    }
  }

  private onDeliver(e: TelemetryEvent, p: ProtoAcc, n: NodeReport): void {
    const key = e.msgId ? `${e.msgId}\u0000${e.node}` : `${this.count}`
    if (!p.delivered.has(key)) {
      p.delivered.add(key)
      n.delivered++
    }
    if (e.msgId) {
      const type = e.type ?? ''
      if (p.payloadTypes.size < MAX_PAYLOAD_TYPES) p.payloadTypes.add(type)
      if (!p.deliveredMsgs.has(e.msgId)) p.deliveredMsgs.set(e.msgId, { src: e.src, dst: e.dst, type })
    }
  }

  private onDrop(e: TelemetryEvent, p: ProtoAcc, n: NodeReport): void {
    p.dropped++
    n.dropped++
    // Dropped on the way out by the emulated link: the node sent it and the link lost it, so it
    // counts as sent, and it was still meant for its receiver.
    if (e.node === e.src && LINK_DROPS.has(e.reason ?? '')) {
      p.sent++
      n.sent++
      this.countSeries(e, p)
    }
    if (e.node === e.src) this.intend(p, e.msgId, e.src, e.dst, e.type)
  }

  /** The report, once every event is in. */
  report(): AnalysisReport & { series?: AnalysisSeries } {
    const { init, nodeNames } = this
    for (const b of this.broadcastSends)
      for (const name of nodeNames) if (name !== b.src) b.proto.intended.add(`${b.msgId}\u0000${name}`)
    const report: AnalysisReport & { series?: AnalysisSeries } = {
      run: init.run,
      events: this.count,
      lostEvents: init.lostEvents ?? 0,
      protocols: {},
      nodes: {},
    }
    const series: AnalysisSeries = {
      t0: this.t0 ?? 0,
      throughput: {},
      latencies: {},
      sentByNode: this.sentByNode,
    }
    for (const [name, p] of [...this.protos].sort(([a], [b]) => a.localeCompare(b))) {
      report.protocols[name] = protocolReport(p, nodeNames)
      if (init.series) {
        series.throughput[name] = Array.from(p.perSecond, (v) => v ?? 0)
        series.latencies[name] = p.latencies
      }
    }
    for (const [name, n] of [...this.nodes].sort(([a], [b]) =>
      a.localeCompare(b, undefined, { numeric: true }),
    ))
      report.nodes[name] = n
    if (init.series) report.series = series
    return report
  }
}

/** One protocol's figures; sorts its latencies in place (the series hands them on sorted). */
function protocolReport(p: ProtoAcc, nodeNames: ReadonlySet<string>): ProtocolReport {
  const d = p.deliveredMsgs.size > 0 ? deliveryOf(p, nodeNames) : receptionsOf(p)
  p.latencies.sort((a, b) => a - b)
  const deliveries = p.delivered.size > 0 ? p.delivered.size : p.receivedPairs.size
  return {
    sent: p.sent,
    received: p.received,
    dropped: p.dropped,
    bytes: p.bytes,
    uniqueMessages: d.unique,
    deliveryRatio: d.intended > 0 ? round3(d.delivered / d.intended) : null,
    duplicates: p.duplicates,
    latencyMs: latencyQuantiles(p.latencies),
    delivered: p.delivered.size,
    unnecessaryRatio: p.sent > 0 ? round3(Math.max(0, p.sent - deliveries) / p.sent) : null,
  }
}

interface Delivery {
  unique: number
  intended: number
  delivered: number
}

/** A protocol that delivers to the application: unique messages and their deliveries. */
function deliveryOf(p: ProtoAcc, nodeNames: ReadonlySet<string>): Delivery {
  const unique = new Map<string, MessageInfo>()
  for (const [id, m] of p.sentMsgs) if (p.payloadTypes.has(m.type)) unique.set(id, m)
  for (const [id, m] of p.deliveredMsgs) if (!unique.has(id)) unique.set(id, m)
  let intended = 0
  let delivered = 0
  const one = (id: string, at: string) => {
    intended++
    if (p.delivered.has(`${id}\u0000${at}`)) delivered++
  }
  for (const [id, m] of unique) {
    if (m.dst === BROADCAST_DST) {
      for (const n of nodeNames) if (n !== m.src) one(id, n)
    } else if (!m.dst.startsWith('group:')) one(id, m.dst)
  }
  return { unique: unique.size, intended, delivered }
}

/** A protocol that reports no deliveries (membership): first receptions of each message sent. */
function receptionsOf(p: ProtoAcc): Delivery {
  let reached = 0
  for (const k of p.intended) if (p.reached.has(k)) reached++
  return { unique: p.sentMsgs.size, intended: p.intended.size, delivered: reached }
}

/** Messages on the wire in a report: the sum of every protocol's `sent`. */
export function messageCount(report: AnalysisReport): number {
  return Object.values(report.protocols).reduce((s, p) => s + p.sent, 0)
}
