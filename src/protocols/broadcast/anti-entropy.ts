// Anti-entropy (Demers et al., "Epidemic Algorithms for Replicated Database Maintenance", 1987):
// a node sends one random peer a digest of what it holds per origin; the peer answers with the
// messages the digest lacks and, when the digest shows it lacks some itself, its own digest.
import { wireOf, type MessageStore } from './store.js'
import type { WireItem } from './wire.js'

/** Per origin: [n, ...extra] = holds every seq below n, and each extra seq. */
export function digestOf(store: MessageStore): Record<string, number[]> {
  // Origins are names peers sent: no prototype.
  const d = Object.create(null) as Record<string, number[]>
  for (const [origin, log] of store.origins) {
    const extra = [...log.items.keys()].filter((q) => q > log.contiguous)
    d[origin] = [log.contiguous, ...extra]
  }
  return d
}

/**
 * What a digest from a peer draws: the stored messages it lacks (those older than `graceMs` here:
 * younger ones are still on the push path), at most `max` of them (`more` when some were left for
 * the next digest), and whether it shows messages this node lacks.
 */
export function answerDigest(
  store: MessageStore,
  theirs: Record<string, number[]>,
  now: number,
  graceMs: number,
  max: number,
): { give: WireItem[]; more: boolean; theyHaveMore: boolean } {
  const give: WireItem[] = []
  let more = false
  let theyHaveMore = false
  // Theirs is a peer's record: read through a Map, never by indexing it with a stored name.
  const their = new Map(Object.entries(theirs))
  scan: for (const [origin, log] of store.origins) {
    const [contiguous = 0, ...extra] = their.get(origin) ?? [0]
    const extraSet = new Set(extra)
    for (const [seq, item] of log.items)
      if (seq >= contiguous && !extraSet.has(seq) && now - item.receivedAt >= graceMs) {
        if (give.length >= max) {
          more = true
          break scan
        }
        give.push(wireOf(item))
      }
  }
  for (const [origin, [contiguous = 0, ...extra]] of Object.entries(theirs)) {
    const mine = store.origins.get(origin)
    if (!mine || mine.contiguous < contiguous || extra.some((q) => !store.has(origin, q))) {
      theyHaveMore = true
      break
    }
  }
  return { give, more, theyHaveMore }
}
