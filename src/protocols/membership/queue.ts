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
    this.queued.set(key, { update, json: JSON.stringify(update), sent: 0 })
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
        if (bytes + q.json.length + 1 > this.o.maxPiggybackBytes) {
          if (taken.length > 0) break outer
          continue
        }
        taken.push(key)
        bytes += q.json.length + 1
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
