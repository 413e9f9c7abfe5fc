// The messages a node holds, per origin (for GRAFT answers and anti-entropy), the seqs it has
// delivered (for duplicate checks, kept apart and compactly: seen.ts), and its delivery log (for
// reads). What peers send is hostile, so each part is bounded by bytes as well as by count, evicts
// oldest first and counts what it evicted (budget.ts has the budgets and the byte estimates).
import type { BroadcastDelivery, BroadcastStrategy } from './options.js'
import { nameOf, type WireItem } from './wire.js'
import { SeenSeqs } from './seen.js'
import { DeliveryLog } from './delivery-log.js'
import { MAX_SEEN_AHEAD, STORED_ITEM_OVERHEAD_BYTES } from './budget.js'

export interface Item {
  origin: string
  seq: number
  value: unknown
  /** Bytes of the value's JSON. */
  valueBytes: number
  strategy: BroadcastStrategy
  kind: 'app' | 'group'
  sentAt: number
  hops: number
  receivedAt: number
  /** The peer it came from; undefined at the origin. */
  from?: string
  delivery: BroadcastDelivery
}

export class OriginLog {
  /** The seqs delivered here (whether or not their payload is still held). */
  readonly seen = new SeenSeqs()
  /** The payloads held, oldest first (a Map iterates in insertion order). */
  readonly items = new Map<number, Item>()
  /** Estimated bytes of `items`. */
  bytes = 0

  /** Every seq below this has been delivered here. */
  get contiguous(): number {
    return this.seen.contiguous
  }
}

/** What the store let go of to stay within its bounds, since start. */
export interface StoreEvictions {
  /** Payloads evicted (the seq stays known as delivered: anti-entropy can no longer send it on). */
  payloads: number
  /** Deliveries dropped from the delivery log (reads from before them see them no more). */
  deliveries: number
  /** Origins dropped whole, non-members' first (their seqs are forgotten too). */
  origins: number
  /** Seqs given up on: missing below seqs far ahead, past MAX_SEEN_AHEAD (never delivered here). */
  abandoned: number
}

export interface StoreLimits {
  maxStoredMessages: number
  maxStoredBytes: number
  maxOrigins: number
}

export class MessageStore {
  readonly origins = new Map<string, OriginLog>()
  private stored = 0
  private storedBytes = 0
  private readonly log: DeliveryLog
  private deliveredTotal = 0
  readonly evicted: StoreEvictions = { payloads: 0, deliveries: 0, origins: 0, abandoned: 0 }
  /** Seqs held above a gap, over every origin (bounded by MAX_SEEN_AHEAD). */
  private ahead = 0
  /** The origin eviction takes payloads from, recomputed every EVICTION_RESCAN evictions. */
  private evictFrom?: OriginLog
  private evictions = 0
  /** The origin that gives up a gap when too many seqs wait above gaps, likewise. */
  private abandonFrom?: OriginLog
  private abandons = 0

  /**
   * @param members names of the current members and this node: their origins are evicted last.
   */
  constructor(
    private readonly limits: StoreLimits,
    private readonly members: () => Iterable<string>,
    /** Told of every eviction, e.g. to count it in a metric. */
    private readonly onEvict: (what: keyof StoreEvictions, n: number) => void = () => {},
  ) {
    this.log = new DeliveryLog(limits.maxStoredMessages, limits.maxStoredBytes)
  }

  /** Messages delivered here since start, each counted once. */
  get total(): number {
    return this.deliveredTotal
  }

  /** Messages held now (what anti-entropy can answer from). */
  get size(): number {
    return this.stored
  }

  /** Estimated bytes of the messages held now. */
  get bytes(): number {
    return this.storedBytes
  }

  /** Deliveries the log holds now, and their estimated bytes. */
  get logged(): { count: number; bytes: number } {
    return { count: this.log.size, bytes: this.log.bytes }
  }

  /** The index the next delivery gets. */
  nextIndex(): number {
    return this.deliveredTotal++
  }

  has(origin: string, seq: number): boolean {
    return this.origins.get(origin)?.seen.has(seq) ?? false
  }

  item(origin: string, seq: number): Item | undefined {
    return this.origins.get(origin)?.items.get(seq)
  }

  /** Stores a message new here and logs its delivery; returns its origin's log. */
  add(item: Item): OriginLog {
    let log = this.origins.get(item.origin)
    if (!log) {
      if (this.origins.size >= this.limits.maxOrigins) this.evictOrigin()
      this.origins.set(item.origin, (log = new OriginLog()))
    }
    const aheadBefore = log.seen.extra
    log.seen.add(item.seq)
    this.ahead += log.seen.extra - aheadBefore
    while (this.ahead > MAX_SEEN_AHEAD) this.abandonGap()
    const bytes = STORED_ITEM_OVERHEAD_BYTES + item.valueBytes
    log.items.set(item.seq, item)
    log.bytes += bytes
    this.stored++
    this.storedBytes += bytes
    while (this.stored > this.limits.maxStoredMessages || this.storedBytes > this.limits.maxStoredBytes)
      if (!this.evictPayload()) break
    const dropped = this.log.push(item.delivery, item.valueBytes)
    if (dropped > 0) this.count('deliveries', dropped)
    return log
  }

  delivered(since = 0, kind: 'app' | 'group' | 'all' = 'app'): BroadcastDelivery[] {
    return this.log.since(since, kind)
  }

  /** The oldest origin of a node that is not a member goes; if every origin is a member's, the oldest. */
  private evictOrigin(): void {
    const live = new Set(this.members())
    let victim: string | undefined
    for (const origin of this.origins.keys())
      if (!live.has(nameOf(origin))) {
        victim = origin
        break
      }
    victim ??= this.origins.keys().next().value
    if (victim === undefined) return
    const log = this.origins.get(victim)!
    this.stored -= log.items.size
    this.storedBytes -= log.bytes
    this.ahead -= log.seen.extra
    if (this.evictFrom === log) this.evictFrom = undefined
    if (this.abandonFrom === log) this.abandonFrom = undefined
    this.origins.delete(victim)
    this.count('origins', 1)
  }

  private count(what: keyof StoreEvictions, n: number): void {
    this.evicted[what] += n
    this.onEvict(what, n)
  }

  /**
   * The origin holding the most bytes gives up its oldest payload (a flooding origin evicts its
   * own), found again every EVICTION_RESCAN evictions rather than at each: a scan over all origins
   * per message made a full store quadratic. Its seq stays known as delivered.
   */
  private evictPayload(): boolean {
    if (!this.evictFrom || this.evictFrom.items.size === 0 || this.evictions++ % EVICTION_RESCAN === 0) {
      this.evictFrom = undefined
      for (const l of this.origins.values())
        if (l.items.size > 0 && (!this.evictFrom || l.bytes > this.evictFrom.bytes)) this.evictFrom = l
    }
    const worst = this.evictFrom
    if (!worst) return false
    const first = worst.items.entries().next().value
    if (first === undefined) return false
    const [seq, item] = first
    worst.items.delete(seq)
    const bytes = STORED_ITEM_OVERHEAD_BYTES + item.valueBytes
    worst.bytes -= bytes
    this.stored--
    this.storedBytes -= bytes
    this.count('payloads', 1)
    return true
  }

  /** The origin with the most seqs above a gap gives up its first gap (the others keep theirs). */
  private abandonGap(): void {
    if (!this.abandonFrom || this.abandonFrom.seen.extra === 0 || this.abandons++ % EVICTION_RESCAN === 0) {
      this.abandonFrom = undefined
      for (const l of this.origins.values())
        if (l.seen.extra > 0 && (!this.abandonFrom || l.seen.extra > this.abandonFrom.seen.extra))
          this.abandonFrom = l
    }
    const worst = this.abandonFrom
    if (!worst) {
      this.ahead = 0
      return
    }
    const before = worst.seen.extra
    const lost = worst.seen.abandonFirstGap()
    if (lost > 0) this.count('abandoned', lost)
    this.ahead -= before - worst.seen.extra
  }
}

/** Evictions between searches for the origin to evict from. */
const EVICTION_RESCAN = 256

/** The wire form of a stored message, one hop further on. */
export function wireOf(item: Item): WireItem {
  const w: WireItem = {
    o: item.origin,
    q: item.seq,
    v: item.value,
    s: item.strategy,
    t: item.sentAt,
    h: item.hops + 1,
  }
  if (item.kind === 'group') w.k = 'g'
  return w
}
