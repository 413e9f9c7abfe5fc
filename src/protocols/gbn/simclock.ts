// A fake clock for large in-process simulations: like core's ManualClock (time moves only when
// told to), but timers sit in a binary heap, so ten thousands of in-flight datagrams stay cheap.
import type { Clock, TimerHandle } from '../../core/clock.js'

interface Timer {
  id: number
  at: number
  seq: number
  fn: () => void
}

export class SimulationClock implements Clock {
  private time: number
  private nextId = 1
  private seq = 0
  private heap: Timer[] = []
  private readonly cancelled = new Set<number>()

  constructor(start = 0) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { id: this.nextId++, at: this.time + Math.max(0, ms), seq: this.seq++, fn }
    this.push(t)
    return { id: t.id }
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'object' && handle !== null && 'id' in handle)
      this.cancelled.add(handle.id as number)
  }

  /** Timers not yet fired or cancelled. */
  pending(): number {
    return this.heap.length - this.cancelled.size
  }

  /** Moves time forward by `ms`, firing each due timer at its own time, in order. */
  advance(ms: number): void {
    const end = this.time + ms
    while (this.heap.length > 0 && this.heap[0]!.at <= end) {
      const t = this.pop()
      if (this.cancelled.delete(t.id)) continue
      this.time = t.at
      t.fn()
    }
    this.time = end
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push(t: Timer): void {
    const h = this.heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  private pop(): Timer {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}
