// The broadcast queue (memberlist's TransmitLimitedQueue): updates leave piggybacked on probes and
// gossip rounds with the fewest transmissions first, each up to RETRANSMIT_MULT × log10(n + 1)
// times, and stop early in a backlog once peers are heard repeating them (Demers et al.'s feedback).
import { MAX_UPDATES_PER_FRAME, FEEDBACK_MIN_QUEUED, FEEDBACK_HEARINGS } from './constants.js'
import { type Update } from './wire.js'
import { MembershipBase } from './base.js'

export class GossipQueue extends MembershipBase {
  protected retransmitLimit(): number {
    return this.o.retransmitMult * Math.ceil(Math.log10(this.members.size + 2))
  }

  protected enqueue(update: Update): void {
    const key = update.s === 'm' ? `m:${update.m}` : update.u
    const old = this.queued.get(key)
    if (old) this.buckets[old.sent]?.delete(key)
    this.queued.set(key, { update, bytes: jsonLength(update), sent: 0 })
    ;(this.buckets[0] ??= new Set()).add(key)
    if (this.queued.size > FEEDBACK_MIN_QUEUED) this.backlog = true
  }

  /**
   * Another peer told us what we already queued to tell: the rumor is spreading without us
   * (rumor mongering with feedback and a counter, Demers et al. 1987), so after FEEDBACK_HEARINGS
   * such hearings it stops being sent. Without it a mass join of a thousand peers re-sent each of a
   * million known (member, peer) facts the full retransmit limit. Only while the queue holds more
   * than FEEDBACK_MIN_QUEUED updates (a backlog, as in a mass join): a few updates (one join, one
   * failure) go out the full limit, as memberlist sends them. Push-pull repairs anything missed.
   */
  protected heardAgain(key: string): void {
    if (this.queued.size <= FEEDBACK_MIN_QUEUED) return
    const q = this.queued.get(key)
    if (!q || q.update.s === 'm') return
    const limit = this.retransmitLimit()
    this.buckets[q.sent]?.delete(key)
    q.sent += Math.ceil(limit / FEEDBACK_HEARINGS)
    if (q.sent >= limit) this.queued.delete(key)
    else (this.buckets[q.sent] ??= new Set()).add(key)
  }

  /** Takes updates for one frame, up to the byte budget, and counts them as sent once more. */
  protected piggyback(): Update[] | undefined {
    if (this.queued.size === 0) return undefined
    const taken: string[] = []
    let bytes = 0
    outer: for (const bucket of this.buckets) {
      if (!bucket) continue
      for (const key of bucket) {
        const q = this.queued.get(key)!
        if (bytes + q.bytes + 1 > this.o.maxPiggybackBytes) {
          if (taken.length > 0) break outer
          continue
        }
        taken.push(key)
        bytes += q.bytes + 1
        if (taken.length >= MAX_UPDATES_PER_FRAME) break outer
      }
    }
    const limit = this.retransmitLimit()
    const out: Update[] = []
    for (const key of taken) {
      const q = this.queued.get(key)!
      out.push(q.update)
      this.buckets[q.sent]!.delete(key)
      q.sent++
      if (q.sent >= limit) this.queued.delete(key)
      else (this.buckets[q.sent] ??= new Set()).add(key)
    }
    return out.length > 0 ? out : undefined
  }
}

/** Whether JSON.stringify writes a character of `v` other than as itself (quote, backslash, control, surrogate). */
function escaped(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return true
  }
  return false
}

/**
 * The length of JSON.stringify(u), counted rather than built: a mass join enqueues a million
 * updates across the peers of one process, and the text was only ever measured. A string that
 * JSON would escape is measured by encoding it.
 */
export function jsonLength(u: Update): number {
  let n = 1
  for (const [k, v] of Object.entries(u)) {
    if (v === undefined) continue
    n += k.length + 4 // "k": and a comma or the closing brace
    if (typeof v === 'number') n += Number.isFinite(v) ? String(v).length : 4
    else if (typeof v === 'string') n += escaped(v) ? JSON.stringify(v).length : v.length + 2
    else n += JSON.stringify(v)?.length ?? 0
  }
  return n === 1 ? 2 : n
}
