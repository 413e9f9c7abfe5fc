// Anti-entropy (Demers et al., "Epidemic Algorithms for Replicated Database Maintenance", 1987):
// a node sends one random peer a digest of what it has delivered per origin; the peer answers with
// the messages the digest lacks and, when the digest shows it lacks some itself, its own digest.
// A message whose payload the store evicted (budget.ts) is still in the digest (it was delivered)
// but cannot be sent on: an answer counts those as unservable.
import { wireOf, type MessageStore } from './store.js'
import { digestRanges, inRanges, type WireItem } from './wire.js'

/**
 * Per origin: [n, lo1, hi1, ...] = has delivered every seq below n and every seq of each range
 * [lo, hi) (ranges, not seqs: a digest after a flood above a gap was 50,000 numbers).
 */
export function digestOf(store: MessageStore): Record<string, number[]> {
  // Origins are names peers sent: no prototype.
  const d = Object.create(null) as Record<string, number[]>
  for (const [origin, log] of store.origins) d[origin] = log.seen.digest()
  return d
}

/**
 * What a digest from a peer draws: the stored messages it lacks (those older than `graceMs` here:
 * younger ones are still on the push path), at most `max` of them (`more` when some were left for
 * the next digest), whether it shows messages this node lacks, and how many messages it lacks that
 * were delivered here but are no longer held (`unservable`).
 */
export function answerDigest(
  store: MessageStore,
  theirs: Record<string, number[]>,
  now: number,
  graceMs: number,
  max: number,
): { give: WireItem[]; more: boolean; theyHaveMore: boolean; unservable: number } {
  const give: WireItem[] = []
  let more = false
  let theyHaveMore = false
  let unservable = 0
  // Theirs is a peer's record: read through a Map, never by indexing it with a stored name.
  const their = new Map(Object.entries(theirs))
  // Each origin's ranges sorted and merged once (a hostile list may be 100,000 numbers), for both passes.
  const rangesOf = new Map<string, number[]>()
  const rangesFor = (origin: string, list: readonly number[]) => {
    let r = rangesOf.get(origin)
    if (!r) rangesOf.set(origin, (r = digestRanges(list)))
    return r
  }
  for (const [origin, log] of store.origins) {
    const list = their.get(origin) ?? [0]
    const contiguous = list[0] ?? 0
    const ranges = rangesFor(origin, list)
    // Delivered here at or above their contiguous, and not in their ranges: what they lack.
    const theyLack = log.seen.countFrom(contiguous) - log.seen.countInRanges(ranges)
    let held = 0
    for (const [seq, item] of log.items)
      if (seq >= contiguous && !inRanges(ranges, seq)) {
        held++
        if (now - item.receivedAt < graceMs) continue
        if (give.length >= max) more = true
        else give.push(wireOf(item))
      }
    unservable += Math.max(0, theyLack - held)
  }
  for (const [origin, list] of their) {
    const contiguous = list[0] ?? 0
    const mine = store.origins.get(origin)
    if (!mine || mine.contiguous < contiguous) {
      theyHaveMore = true
      break
    }
    const ranges = rangesFor(origin, list)
    let span = 0
    for (let i = 0; i < ranges.length; i += 2) span += ranges[i + 1]! - ranges[i]!
    if (mine.seen.countInRanges(ranges) < span) {
      theyHaveMore = true
      break
    }
  }
  return { give, more, theyHaveMore, unservable }
}
