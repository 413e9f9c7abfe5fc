// The messages a node holds, per origin (for duplicate checks, GRAFT answers and anti-entropy), and
// its delivery log (for reads), both bounded by maxStoredMessages.
import type { BroadcastDelivery, BroadcastStrategy } from './options.js'
import type { WireItem } from './wire.js'

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
  private readonly deliveries: BroadcastDelivery[] = []
  private deliveredTotal = 0

  constructor(private readonly maxStoredMessages: number) {}

  /** Messages delivered here since start, each counted once. */
  get total(): number {
    return this.deliveredTotal
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
    if (!log) this.origins.set(item.origin, (log = { contiguous: 0, items: new Map() }))
    log.items.set(item.seq, item)
    while (log.items.has(log.contiguous)) log.contiguous++
    this.stored++
    this.evictIfFull()
    this.deliveries.push(item.delivery)
    if (this.deliveries.length > this.maxStoredMessages) this.deliveries.shift()
    return log
  }

  delivered(since = 0, kind: 'app' | 'group' | 'all' = 'app'): BroadcastDelivery[] {
    const messages: BroadcastDelivery[] = []
    // The log is in index order, so a binary search finds `since`.
    let lo = 0
    let hi = this.deliveries.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.deliveries[mid]!.index < since) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.deliveries.length; i++) {
      const d = this.deliveries[i]!
      if (kind === 'all' || d.kind === kind) messages.push(d)
    }
    return messages
  }

  private evictIfFull(): void {
    if (this.stored <= this.maxStoredMessages) return
    // Drop the oldest message of the origin with the most stored; its seq stays counted as held.
    let worst: OriginLog | undefined
    for (const l of this.origins.values()) if (!worst || l.items.size > worst.items.size) worst = l
    if (!worst) return
    // A loop, not Math.min(...keys): a spread of 120k+ arguments overflows the stack.
    let first = Infinity
    for (const q of worst.items.keys()) if (q < first) first = q
    worst.items.delete(first)
    this.stored--
  }
}

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
