// The duplicate table of the broadcast store (seen.ts) and the store's byte budget: a node must
// never deliver a message twice, even after its payload was evicted, and what it keeps stays within
// its budget whatever a peer sends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SeenSeqs } from '../../../src/protocols/broadcast/seen.js'
import { MessageStore, type Item } from '../../../src/protocols/broadcast/store.js'
import { MAX_SEEN_AHEAD, STORED_ITEM_OVERHEAD_BYTES } from '../../../src/protocols/broadcast/budget.js'

test('seen seqs: in order, out of order, gaps, and a flood of one range', () => {
  const s = new SeenSeqs()
  for (const q of [0, 1, 2]) s.add(q)
  assert.equal(s.contiguous, 3)
  assert.equal(s.ranges, 0)
  // Out of order: ranges above a gap, merged as they meet.
  assert.equal(s.add(7), 1)
  assert.equal(s.add(5), 1)
  assert.equal(s.add(6), -1)
  assert.equal(s.ranges, 1)
  assert.equal(s.extra, 3)
  assert.ok(s.has(6) && s.has(0) && !s.has(4) && !s.has(3) && !s.has(8))
  assert.deepEqual(s.digest(), [3, 5, 8])
  assert.equal(s.countFrom(2), 4)
  // Overlap with a peer's ranges, by one merge: [0,4) holds 0,1,2; [6,100) holds 6,7.
  assert.equal(s.countInRanges([0, 4, 6, 100]), 5)
  assert.equal(s.countInRanges([3, 5]), 0)
  // Filling the gap folds the range into contiguous.
  s.add(3)
  s.add(4)
  assert.equal(s.contiguous, 8)
  assert.equal(s.ranges, 0)
  assert.equal(s.extra, 0)
  // 125k seqs above one missing seq: one range.
  for (let q = 9; q < 125_009; q++) s.add(q)
  assert.equal(s.ranges, 1)
  assert.equal(s.extra, 125_000)
  assert.ok(s.has(100_000) && !s.has(8))
  // Its digest is two numbers after contiguous, not 125k.
  assert.deepEqual(s.digest(), [8, 9, 125_009])
  // Giving up the gap: seq 8 counts as lost, everything is contiguous.
  assert.equal(s.abandonFirstGap(), 1)
  assert.equal(s.contiguous, 125_009)
  assert.equal(s.extra, 0)
  // Every other seq, from the top down: still correct.
  for (let q = 125_100; q > 125_010; q -= 2) s.add(q)
  for (let q = 125_099; q > 125_010; q -= 2) assert.ok(!s.has(q))
  for (let q = 125_100; q > 125_010; q -= 2) assert.ok(s.has(q))
  for (let q = 125_099; q > 125_010; q -= 2) s.add(q)
  assert.equal(s.ranges, 1)
})

const item = (origin: string, seq: number, valueBytes: number): Item => {
  const delivery = {
    index: 0,
    id: `${origin}.${seq}`,
    from: origin.split('~')[0]!,
    value: 'x'.repeat(valueBytes - 2),
    strategy: 'flood' as const,
    kind: 'app' as const,
    sentAt: 1,
    deliveredAt: 1,
    hops: 1,
  }
  return {
    origin,
    seq,
    value: delivery.value,
    valueBytes,
    strategy: 'flood',
    kind: 'app',
    sentAt: 1,
    hops: 1,
    receivedAt: 1,
    delivery,
  }
}

test('the store: a byte budget evicts oldest payloads of the largest origin, seqs stay known', () => {
  const budget = 1_000_000
  const store = new MessageStore(
    { maxStoredMessages: 1_000_000, maxStoredBytes: budget, maxOrigins: 100 },
    () => ['node1'],
  )
  // A member's few messages, then a flood of 1 KB messages from another origin.
  const add = (origin: string, q: number) => {
    const it = item(origin, q, 1000)
    it.delivery.index = store.nextIndex()
    store.add(it)
  }
  for (let q = 0; q < 10; q++) add('node1~a', q)
  for (let q = 0; q < 5000; q++) add('flood~b', q)
  assert.ok(store.bytes <= budget, `stored ${store.bytes} bytes`)
  assert.ok(store.logged.bytes <= budget, `logged ${store.logged.bytes} bytes`)
  // The flooding origin gave up its own oldest; the member's messages are all still held.
  for (let q = 0; q < 10; q++) assert.ok(store.item('node1~a', q), `node1~a.${q} held`)
  assert.equal(store.item('flood~b', 0), undefined)
  assert.ok(store.item('flood~b', 4999))
  // Evicted payloads are still known as delivered: a copy is a duplicate.
  assert.ok(store.has('flood~b', 0))
  const perItem = STORED_ITEM_OVERHEAD_BYTES + 1000
  assert.equal(store.evicted.payloads, 5010 - Math.floor(budget / perItem))
  assert.ok(store.evicted.deliveries > 0)
  // The delivery log keeps the newest, in order.
  const log = store.delivered(0, 'all')
  assert.equal(log.at(-1)!.id, 'flood~b.4999')
  assert.ok(log.every((d, i) => i === 0 || d.index === log[i - 1]!.index + 1))
})

test('the store: seqs far above a gap are bounded, the flooding origin gives up its gap', () => {
  const store = new MessageStore(
    { maxStoredMessages: 1000, maxStoredBytes: 1_000_000, maxOrigins: 100 },
    () => ['node1'],
  )
  // node1 has a gap (seq 1 lost) and waits for it; an attacker floods every other seq above seq 0.
  store.add(item('node1~a', 0, 10))
  store.add(item('node1~a', 2, 10))
  for (let q = 1; q < 2 * MAX_SEEN_AHEAD + 1000; q += 2) store.add(item('far~1', q, 10))
  // node1's gap is still open (a repair can fill it); the attacker's were given up.
  assert.ok(!store.has('node1~a', 1))
  assert.ok(store.has('node1~a', 2))
  assert.ok(store.evicted.abandoned > 0)
  assert.ok(store.origins.get('far~1')!.seen.extra <= MAX_SEEN_AHEAD)
  assert.ok(store.origins.get('far~1')!.seen.ranges <= MAX_SEEN_AHEAD)
})

test('seen seqs: the missing seqs of a window, at most max, in steps bounded by max', () => {
  const s = new SeenSeqs()
  for (const q of [0, 1, 2, 5, 6, 9, 12, 13, 14]) s.add(q)
  assert.deepEqual(s.missing(0, 20, 100), [3, 4, 7, 8, 10, 11, 15, 16, 17, 18, 19])
  assert.deepEqual(s.missing(6, 12, 100), [7, 8, 10, 11])
  assert.deepEqual(s.missing(0, 20, 3), [3, 4, 7])
  assert.deepEqual(s.missing(12, 15, 10), [])
  assert.deepEqual(s.missing(0, 3, 10), [])
  // One missing seq below 125k delivered ones: found at once, and nothing above the range.
  const flood = new SeenSeqs()
  for (let q = 1; q <= 125_000; q++) flood.add(q)
  assert.deepEqual(flood.missing(0, 125_001, 256), [0])
  assert.deepEqual(flood.missing(1, 125_001, 256), [])
})

test('a digest from a peer: ranges made ascending and disjoint, looked up by binary search', async () => {
  const { digestRanges, inRanges } = await import('../../../src/protocols/broadcast/wire.js')
  // Unsorted, overlapping, empty and below-contiguous ranges from a hostile peer.
  const r = digestRanges([10, 50, 60, 12, 20, 15, 30, 5, 9, 40, 40])
  assert.deepEqual(r, [12, 30, 50, 60])
  assert.ok(inRanges(r, 12) && inRanges(r, 29) && inRanges(r, 55))
  assert.ok(!inRanges(r, 11) && !inRanges(r, 30) && !inRanges(r, 60) && !inRanges(r, 45))
  assert.deepEqual(digestRanges([7]), [])
  assert.ok(!inRanges([], 0))
})
