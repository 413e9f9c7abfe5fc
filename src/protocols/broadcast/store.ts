// The messages a node holds, per origin (for duplicate checks, GRAFT answers and anti-entropy), and
// its delivery log (for reads), both bounded by maxStoredMessages.
import type { BroadcastDelivery, BroadcastStrategy } from './options.js'
import { nameOf, type WireItem } from './wire.js'

export interface Item {
  origin: string
  seq: number
  value: unknown
  strategy: BroadcastStrategy
  kind: 'app' | 'group'
  sentAt: number
  hops: number
  receivedAt: number
  /** The peer it came from; undefined at the origin. */
  from?: string
  delivery: BroadcastDelivery
}

export interface OriginLog {
  /** Every seq below this is held. */
  contiguous: number
  items: Map<number, Item>
}

export class MessageStore {
  readonly origins = new Map<string, OriginLog>()
  private stored = 0
  /** The delivery log: a ring of the last maxStoredMessages deliveries, oldest at `ringStart`. */
  private readonly ring: BroadcastDelivery[] = []
  private ringStart = 0
  private deliveredTotal = 0
  /** Origins dropped to keep the table within maxOrigins. */
  originsEvicted = 0
  /** The origin eviction takes messages from, recomputed every EVICTION_RESCAN evictions. */
  private evictFrom?: OriginLog
  private evictions = 0

  /**
   * @param members names of the current members and this node: their origins are evicted last.
   */
  constructor(
    private readonly maxStoredMessages: number,
    private readonly maxOrigins: number,
    private readonly members: () => Iterable<string>,
  ) {}

  /** Messages delivered here since start, each counted once. */
  get total(): number {
    return this.deliveredTotal
  }

  /** Messages held now (what anti-entropy can answer from). */
  get size(): number {
    return this.stored
  }

  /** The index the next delivery gets. */
  nextIndex(): number {
    return this.deliveredTotal++
  }

  has(origin: string, seq: number): boolean {
    const log = this.origins.get(origin)
    return !!log && (seq < log.contiguous || log.items.has(seq))
  }

  item(origin: string, seq: number): Item | undefined {
    return this.origins.get(origin)?.items.get(seq)
  }

  /** Stores a message new here and logs its delivery; returns its origin's log. */
  add(item: Item): OriginLog {
    let log = this.origins.get(item.origin)
    if (!log) {
      if (this.origins.size >= this.maxOrigins) this.evictOrigin()
      this.origins.set(item.origin, (log = { contiguous: 0, items: new Map() }))
    }
    log.items.set(item.seq, item)
    while (log.items.has(log.contiguous)) log.contiguous++
    this.stored++
    this.evictIfFull()
    // A ring, not push + shift: shift on an array this long copies it (V8 cannot trim a large
    // object), which made every delivery past the cap cost a millisecond at 200k.
    if (this.ring.length < this.maxStoredMessages) this.ring.push(item.delivery)
    else {
      this.ring[this.ringStart] = item.delivery
      this.ringStart = (this.ringStart + 1) % this.ring.length
    }
    return log
  }

  delivered(since = 0, kind: 'app' | 'group' | 'all' = 'app'): BroadcastDelivery[] {
    const messages: BroadcastDelivery[] = []
    const n = this.ring.length
    const at = (i: number) => this.ring[(this.ringStart + i) % n]!
    // The log is in index order, so a binary search finds `since`.
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (at(mid).index < since) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < n; i++) {
      const d = at(i)
      if (kind === 'all' || d.kind === kind) messages.push(d)
    }
    return messages
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
    if (this.evictFrom === log) this.evictFrom = undefined
    this.origins.delete(victim)
    this.originsEvicted++
  }

  private evictIfFull(): void {
    if (this.stored <= this.maxStoredMessages) return
    // The origin with the most stored gives up its oldest message (a flooding origin evicts its own),
    // found again every EVICTION_RESCAN evictions rather than at each: a scan over all origins and
    // over all of one origin's seqs per message made a full store quadratic.
    if (!this.evictFrom || this.evictFrom.items.size === 0 || this.evictions++ % EVICTION_RESCAN === 0) {
      this.evictFrom = undefined
      for (const l of this.origins.values())
        if (!this.evictFrom || l.items.size > this.evictFrom.items.size) this.evictFrom = l
    }
    const worst = this.evictFrom
    if (!worst) return
    // The oldest stored: a Map iterates in insertion order. Below `contiguous` its seq stays held.
    const first = worst.items.keys().next().value
    if (first === undefined) return
    worst.items.delete(first)
    this.stored--
  }
}

/** Evictions between searches for the origin with the most messages stored. */
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
