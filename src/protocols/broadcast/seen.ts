// The seqs of one origin that a node has delivered, kept for duplicate checks apart from the
// payloads (which the store may evict): every seq below `contiguous`, and above it sorted,
// disjoint ranges [lo, hi). A flood of consecutive seqs is one range, whatever its length.

export class SeenSeqs {
  /** Every seq below this has been delivered (or given up on, see `abandonFirstGap`). */
  contiguous = 0
  /** Range starts and ends (exclusive) above `contiguous`, ascending, never touching. */
  private readonly lo: number[] = []
  private readonly hi: number[] = []
  /** Seqs held in the ranges. */
  private ahead = 0

  /** Ranges above `contiguous` (what the table's bound counts). */
  get ranges(): number {
    return this.lo.length
  }

  /** Seqs delivered above a gap. */
  get extra(): number {
    return this.ahead
  }

  has(seq: number): boolean {
    if (seq < this.contiguous) return true
    const i = this.rangeAtOrBelow(seq)
    return i >= 0 && seq < this.hi[i]!
  }

  /**
   * Marks `seq` delivered; returns the change in the number of ranges (-1, 0 or +1). Arrivals in
   * order extend the last range (or `contiguous`) in constant time.
   */
  add(seq: number): number {
    if (seq < this.contiguous) return 0
    if (seq === this.contiguous) {
      this.contiguous++
      if (this.lo.length > 0 && this.lo[0] === this.contiguous) {
        this.ahead -= this.hi[0]! - this.lo[0]!
        this.contiguous = this.hi[0]!
        this.lo.shift()
        this.hi.shift()
        return -1
      }
      return 0
    }
    const i = this.rangeAtOrBelow(seq)
    if (i >= 0 && seq < this.hi[i]!) return 0
    this.ahead++
    const joinsLeft = i >= 0 && this.hi[i] === seq
    const joinsRight = i + 1 < this.lo.length && this.lo[i + 1] === seq + 1
    if (joinsLeft && joinsRight) {
      this.hi[i] = this.hi[i + 1]!
      this.lo.splice(i + 1, 1)
      this.hi.splice(i + 1, 1)
      return -1
    }
    if (joinsLeft) {
      this.hi[i] = seq + 1
      return 0
    }
    if (joinsRight) {
      this.lo[i + 1] = seq
      return 0
    }
    this.lo.splice(i + 1, 0, seq)
    this.hi.splice(i + 1, 0, seq + 1)
    return 1
  }

  /**
   * Gives up on the seqs missing below the first range: `contiguous` moves past it. Returns how many
   * seqs were given up (never to be delivered here), 0 when there is no range.
   */
  abandonFirstGap(): number {
    if (this.lo.length === 0) return 0
    const lost = this.lo[0]! - this.contiguous
    this.ahead -= this.hi[0]! - this.lo[0]!
    this.contiguous = this.hi[0]!
    this.lo.shift()
    this.hi.shift()
    return lost
  }

  /**
   * The digest of these seqs: `contiguous`, then each range above it as a pair lo, hi (exclusive),
   * ascending: a flood of consecutive seqs above a gap is two numbers, not one per seq.
   */
  digest(): number[] {
    const out = [this.contiguous]
    for (let r = 0; r < this.lo.length; r++) out.push(this.lo[r]!, this.hi[r]!)
    return out
  }

  /**
   * Seqs delivered here inside `ranges` (pairs lo, hi; ascending and disjoint), by one merge of
   * the two range lists: O(ranges here + ranges given), whatever the spans.
   */
  countInRanges(ranges: readonly number[]): number {
    let n = 0
    let r = 0
    for (let i = 0; i + 1 < ranges.length; i += 2) {
      const lo = ranges[i]!
      const hi = ranges[i + 1]!
      n += Math.max(0, Math.min(hi, this.contiguous) - lo)
      while (r < this.lo.length && this.hi[r]! <= lo) r++
      for (let k = r; k < this.lo.length && this.lo[k]! < hi; k++)
        n += Math.max(0, Math.min(hi, this.hi[k]!) - Math.max(lo, this.lo[k]!))
    }
    return n
  }

  /**
   * The seqs in [from, upTo) not delivered here, ascending, at most `max` of them: O(max) steps
   * whatever the span, since every range skipped is followed by a missing seq.
   */
  missing(from: number, upTo: number, max: number): number[] {
    const out: number[] = []
    let q = Math.max(from, this.contiguous)
    let i = this.rangeAtOrBelow(q)
    if (i >= 0 && q < this.hi[i]!) q = this.hi[i]!
    i++
    while (q < upTo && out.length < max) {
      if (i < this.lo.length && q === this.lo[i]!) {
        q = this.hi[i]!
        i++
      } else {
        out.push(q)
        q++
      }
    }
    return out
  }

  /** Seqs at or above `from` that have been delivered here. */
  countFrom(from: number): number {
    let n = Math.max(0, this.contiguous - from)
    for (let r = 0; r < this.lo.length; r++) n += Math.max(0, this.hi[r]! - Math.max(this.lo[r]!, from))
    return n
  }

  /** Index of the last range starting at or below `seq`, or -1. */
  private rangeAtOrBelow(seq: number): number {
    const n = this.lo.length
    // Arrivals in order land in the last range: checked first.
    if (n === 0 || this.lo[0]! > seq) return -1
    if (this.lo[n - 1]! <= seq) return n - 1
    let a = 0
    let b = n - 1
    while (a < b) {
      const mid = (a + b + 1) >> 1
      if (this.lo[mid]! <= seq) a = mid
      else b = mid - 1
    }
    return a
  }
}
