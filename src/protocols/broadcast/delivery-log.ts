// The delivery log a node's reads come from (GET /broadcast/delivered, `delivered()`): the last
// deliveries in index order, bounded by count and by estimated bytes, the oldest dropped first.
import type { BroadcastDelivery } from './options.js'
import { DELIVERY_OVERHEAD_BYTES } from './budget.js'

export class DeliveryLog {
  /** Entries from `head` on are live; the slots before it are cleared and reclaimed in bulk. */
  private entries: Array<BroadcastDelivery | undefined> = []
  private sizes: number[] = []
  private head = 0
  private heldBytes = 0

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.entries.length - this.head
  }

  get bytes(): number {
    return this.heldBytes
  }

  /** Appends a delivery whose value is `valueBytes` of JSON; returns how many old ones it dropped. */
  push(d: BroadcastDelivery, valueBytes: number): number {
    const bytes = DELIVERY_OVERHEAD_BYTES + valueBytes
    this.entries.push(d)
    this.sizes.push(bytes)
    this.heldBytes += bytes
    let dropped = 0
    while (this.size > 1 && (this.size > this.maxCount || this.heldBytes > this.maxBytes)) {
      this.heldBytes -= this.sizes[this.head]!
      this.entries[this.head] = undefined
      this.head++
      dropped++
    }
    // Reclaim the cleared slots once they are half the array: amortized constant per delivery (a
    // shift per delivery copied the whole array each time).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.sizes = this.sizes.slice(this.head)
      this.head = 0
    }
    return dropped
  }

  /** Deliveries with index >= `since`, of `kind`, oldest first. */
  since(since: number, kind: 'app' | 'group' | 'all'): BroadcastDelivery[] {
    const out: BroadcastDelivery[] = []
    const n = this.entries.length
    // The log is in index order, so a binary search finds `since`.
    let lo = this.head
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.entries[mid]!.index < since) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < n; i++) {
      const d = this.entries[i]!
      if (kind === 'all' || d.kind === kind) out.push(d)
    }
    return out
  }
}
