// What the dashboard shows live, computed once on the master for every browser: counters per
// protocol, node and link, throughput and latency per second, and a sample of recent events. Above
// DASHBOARD_MAX_EVENTS_PER_SECOND the sample is thinned (every event still counts) and says so.
import type { TelemetryEvent } from '../core/telemetry.js'
import { quantile } from './analyzer.js'
import {
  DASHBOARD_HISTORY_SECONDS,
  DASHBOARD_MAX_EVENTS_PER_SECOND,
  DASHBOARD_TICK_MS,
  LATENCY_MATCH_WINDOW,
  BACKGROUND_PROTOCOLS,
  BACKGROUND_TYPES,
} from './constants.js'

const BACKGROUND_PROTOS = new Set(BACKGROUND_PROTOCOLS)
const BACKGROUND_KINDS = new Set(BACKGROUND_TYPES)

export interface Counters {
  sent: number
  received: number
  delivered: number
  dropped: number
  bytes: number
}

const zero = (): Counters => ({ sent: 0, received: 0, delivered: 0, dropped: 0, bytes: 0 })

/** A record keyed by names from telemetry: no prototype, so `__proto__` is only a key. */
const table = <V>(): Record<string, V> => Object.create(null) as Record<string, V>

/**
 * Distinct protocols, nodes and links counted on their own; the rest (invented names from a
 * hostile POST /telemetry) are counted under OTHER.
 */
const MAX_PROTOCOLS = 256
const MAX_NODES = 70_000
const MAX_LINKS = 100_000
const OTHER = '(other)'

/** One second of history. */
export interface SecondPoint {
  /** Start of the second, ms since the epoch. */
  t: number
  /** Messages sent per protocol. */
  sent: Record<string, number>
  /** Of those, background traffic (constants.ts: BACKGROUND_PROTOCOLS, BACKGROUND_TYPES). */
  background: Record<string, number>
  /** Latency quantiles per protocol, ms. */
  p50: Record<string, number>
  p95: Record<string, number>
}

/** The compact event the browser gets. */
export interface LiveEvent {
  ts: number
  node: string
  proto: string
  kind: string
  msgId: string
  src: string
  dst: string
  bytes: number
  transport: string
  type?: string
  reason?: string
  /** For a receive matched to its send: one-way latency, ms. */
  latencyMs?: number
}

export interface Tick {
  t: number
  /** Events in this tick, all of them counted. */
  total: number
  /** Events per second over the last second. */
  rate: number
  /** True when `events` is a sample of `total`. */
  sampled: boolean
  events: LiveEvent[]
}

export interface Snapshot {
  protocols: Record<string, Counters>
  nodes: Record<string, Counters>
  /** `src>dst` → messages sent along that link. */
  links: Record<string, number>
  history: SecondPoint[]
  recent: LiveEvent[]
  totals: { events: number; sampledTicks: number }
  maxEventsPerSecond: number
}

export class LiveAggregator {
  private readonly protocols = new Map<string, Counters>()
  private readonly nodes = new Map<string, Counters>()
  private readonly links = new Map<string, number>()
  private readonly sendTs = new Map<string, number>()
  private readonly earlyRecv = new Map<string, Array<{ proto: string; ts: number }>>()
  private history: SecondPoint[] = []
  private current?: {
    t: number
    sent: Record<string, number>
    background: Record<string, number>
    lat: Record<string, number[]>
  }
  private tickEvents: LiveEvent[] = []
  private tickSeen = 0
  private recent: LiveEvent[] = []
  private readonly perTick: number
  private lastSecondCounts: number[] = []
  private events = 0
  private sampledTicks = 0

  constructor(
    private readonly tickMs = DASHBOARD_TICK_MS,
    maxEventsPerSecond = DASHBOARD_MAX_EVENTS_PER_SECOND,
  ) {
    this.perTick = Math.max(1, Math.round((maxEventsPerSecond * tickMs) / 1000))
  }

  ingest(events: readonly TelemetryEvent[]): void {
    for (const e of events) this.one(e)
  }

  private one(e: TelemetryEvent): void {
    this.events++
    const proto = bounded(this.protocols, e.proto, MAX_PROTOCOLS)
    const p = getOr(this.protocols, proto, zero)
    const n = getOr(this.nodes, bounded(this.nodes, e.node, MAX_NODES), zero)
    const second = Math.floor(e.ts / 1000) * 1000
    if (!this.current || second > this.current.t) this.rollTo(second)
    let latencyMs: number | undefined
    switch (e.kind) {
      case 'send':
        this.onSend(e, proto, p, n)
        break
      case 'recv':
        latencyMs = this.onRecv(e, proto, p, n)
        break
      case 'deliver':
        p.delivered++
        n.delivered++
        break
      case 'drop':
      case 'error':
        p.dropped++
        n.dropped++
        break
    }
    this.sample(e, latencyMs)
  }

  private onSend(e: TelemetryEvent, proto: string, p: Counters, n: Counters): void {
    const cur = this.current!
    p.sent++
    n.sent++
    p.bytes += e.bytes
    n.bytes += e.bytes
    cur.sent[proto] = (cur.sent[proto] ?? 0) + 1
    if (BACKGROUND_PROTOS.has(e.proto) || (e.type !== undefined && BACKGROUND_KINDS.has(e.type)))
      cur.background[proto] = (cur.background[proto] ?? 0) + 1
    const link = bounded(this.links, `${e.node}>${e.dst}`, MAX_LINKS)
    this.links.set(link, (this.links.get(link) ?? 0) + 1)
    if (e.msgId && !this.sendTs.has(e.msgId)) {
      this.sendTs.set(e.msgId, e.ts)
      if (this.sendTs.size > LATENCY_MATCH_WINDOW) this.sendTs.delete(this.sendTs.keys().next().value!)
      // Receives whose telemetry came in before the send's (another node's batch).
      const early = this.earlyRecv.get(e.msgId)
      if (early) {
        this.earlyRecv.delete(e.msgId)
        for (const r of early)
          (cur.lat[bounded(this.protocols, r.proto, MAX_PROTOCOLS)] ??= []).push(Math.max(0, r.ts - e.ts))
      }
    }
  }

  /** Counts a receive; its latency when its send is known, else it waits for the send. */
  private onRecv(e: TelemetryEvent, proto: string, p: Counters, n: Counters): number | undefined {
    const cur = this.current!
    p.received++
    n.received++
    // An HTTP request (POST /message) is seen only where it arrives; count its send, as analyze does.
    if (e.transport === 'http') {
      p.sent++
      p.bytes += e.bytes
      cur.sent[proto] = (cur.sent[proto] ?? 0) + 1
    }
    const at = e.msgId ? this.sendTs.get(e.msgId) : undefined
    if (at !== undefined) {
      const latencyMs = Math.max(0, e.ts - at)
      ;(cur.lat[proto] ??= []).push(latencyMs)
      return latencyMs
    }
    if (!e.msgId) return undefined
    const list = this.earlyRecv.get(e.msgId)
    if (list) {
      if (list.length < 64) list.push({ proto: e.proto, ts: e.ts })
    } else {
      this.earlyRecv.set(e.msgId, [{ proto: e.proto, ts: e.ts }])
      if (this.earlyRecv.size > LATENCY_MATCH_WINDOW)
        this.earlyRecv.delete(this.earlyRecv.keys().next().value!)
    }
    return undefined
  }

  /**
   * Reservoir sampling keeps an even sample of the tick however many events arrive; the event
   * for the page is only built when it enters the sample.
   */
  private sample(e: TelemetryEvent, latencyMs: number | undefined): void {
    this.tickSeen++
    let slot = this.tickEvents.length
    if (slot >= this.perTick) {
      slot = Math.floor(Math.random() * this.tickSeen)
      if (slot >= this.perTick) return
    }
    const live: LiveEvent = {
      ts: e.ts,
      node: e.node,
      proto: e.proto,
      kind: e.kind,
      msgId: e.msgId,
      src: e.src,
      dst: e.dst,
      bytes: e.bytes,
      transport: e.transport,
    }
    if (e.type) live.type = e.type
    if (e.reason) live.reason = e.reason
    if (latencyMs !== undefined) live.latencyMs = latencyMs
    this.tickEvents[slot] = live
  }

  private rollTo(second: number): void {
    if (this.current) {
      const point: SecondPoint = {
        t: this.current.t,
        sent: this.current.sent,
        background: this.current.background,
        p50: table(),
        p95: table(),
      }
      for (const [proto, lat] of Object.entries(this.current.lat)) {
        lat.sort((a, b) => a - b)
        point.p50[proto] = quantile(lat, 0.5) ?? 0
        point.p95[proto] = quantile(lat, 0.95) ?? 0
      }
      this.history.push(point)
      if (this.history.length > DASHBOARD_HISTORY_SECONDS)
        this.history = this.history.slice(-DASHBOARD_HISTORY_SECONDS)
    }
    this.current = { t: second, sent: table(), background: table(), lat: table() }
  }

  /** Ends the current tick: what to push to every browser. */
  tick(now = Date.now()): Tick {
    const second = Math.floor(now / 1000) * 1000
    if (this.current && second > this.current.t) this.rollTo(second)
    const sampled = this.tickSeen > this.tickEvents.length
    if (sampled) this.sampledTicks++
    const events = this.tickEvents.sort((a, b) => a.ts - b.ts)
    this.lastSecondCounts.push(this.tickSeen)
    const per = Math.max(1, Math.round(1000 / this.tickMs))
    if (this.lastSecondCounts.length > per) this.lastSecondCounts.shift()
    const rate = Math.round(
      (this.lastSecondCounts.reduce((a, b) => a + b, 0) * 1000) /
        (this.lastSecondCounts.length * this.tickMs),
    )
    const t: Tick = { t: now, total: this.tickSeen, rate, sampled, events }
    this.recent.push(...events)
    if (this.recent.length > 200) this.recent = this.recent.slice(-200)
    this.tickEvents = []
    this.tickSeen = 0
    return t
  }

  /** The finished seconds since `after` (ms since the epoch). */
  secondsSince(after: number): SecondPoint[] {
    return this.history.filter((p) => p.t > after)
  }

  snapshot(): Snapshot {
    return {
      protocols: Object.fromEntries(this.protocols),
      nodes: Object.fromEntries(this.nodes),
      links: Object.fromEntries(this.links),
      history: this.history.slice(),
      recent: this.recent.slice(),
      totals: { events: this.events, sampledTicks: this.sampledTicks },
      maxEventsPerSecond: Math.round((this.perTick * 1000) / this.tickMs),
    }
  }

  counters(): Pick<Snapshot, 'protocols' | 'nodes' | 'links'> {
    return {
      protocols: Object.fromEntries(this.protocols),
      nodes: Object.fromEntries(this.nodes),
      links: Object.fromEntries(this.links),
    }
  }
}

/** `name` while the table has room for it, else OTHER. */
function bounded(m: Map<string, unknown>, name: string, max: number): string {
  return m.size < max || m.has(name) ? name : OTHER
}

function getOr<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k)
  if (v === undefined) m.set(k, (v = make()))
  return v
}
