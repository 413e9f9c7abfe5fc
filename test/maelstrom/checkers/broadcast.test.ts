import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkBroadcast, checkGSet } from '../../../src/maelstrom/checkers/set-full.js'
import { HistoryBuilder } from './build.js'

const NODES = ['n0', 'n1', 'n2']

/** Broadcasts 1..count, then a final read on every node of `final(node)`. */
function run(count: number, final: (node: string) => number[]): HistoryBuilder {
  const h = new HistoryBuilder()
  for (let v = 1; v <= count; v++) h.call(v % 3, 'broadcast', v, v, NODES[v % 3])
  NODES.forEach((node, i) => h.call(10 + i, 'read', null, final(node), node))
  return h
}

test('broadcast: every acknowledged message in every final read is valid', () => {
  const all = [1, 2, 3, 4, 5]
  const r = checkBroadcast(run(5, () => all).ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['stable-count'], 5)
  assert.equal(r.stats?.['lost-count'], 0)
  assert.deepEqual(Object.keys(r.stats?.['stable-latencies'] as object).sort(), [
    '0',
    '0.5',
    '0.95',
    '0.99',
    '1',
  ])
})

test('broadcast: a message one node never gets is lost, naming the node', () => {
  const r = checkBroadcast(run(5, (node) => (node === 'n2' ? [1, 2, 4, 5] : [1, 2, 3, 4, 5])).ops)
  assert.equal(r.valid, false)
  assert.equal(r.stats?.['lost-count'], 1)
  const lost = r.anomalies['lost']?.[0] as { element: number; 'missing-on': string[] }
  assert.equal(lost.element, 3)
  assert.deepEqual(lost['missing-on'], ['n2'])
})

test('broadcast: a node that never gossips loses what others sent (set-full, last read misses it)', () => {
  const h = new HistoryBuilder()
  h.call(0, 'broadcast', 1, 1, 'n0').call(1, 'broadcast', 2, 2, 'n1')
  h.call(2, 'read', null, [1], 'n0').call(3, 'read', null, [2], 'n1')
  const r = checkBroadcast(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.stats?.['lost-count'], 2)
})

test('broadcast: a read that misses a known element, which later reads show, is stale: valid unless linearizable', () => {
  const h = new HistoryBuilder()
  h.call(0, 'broadcast', 7, 7, 'n0')
  h.call(1, 'read', null, [], 'n1') // began after the broadcast was acknowledged
  h.call(1, 'read', null, [7], 'n1')
  h.call(2, 'read', null, [7], 'n0')
  const r = checkBroadcast(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['stale-count'], 1)
  assert.equal(r.stats?.['stale-read-count'], 1)
  const lin = checkBroadcast(h.ops, { linearizable: true })
  assert.equal(lin.valid, false)
  assert.equal(lin.anomalies['stale']?.length, 1)
})

test('broadcast: stable latency runs from the broadcast to the last read that missed it', () => {
  const h = new HistoryBuilder()
  h.invoke(0, 'broadcast', 1, 'n0') // t = 0 ms
  h.invoke(1, 'read', null, 'n1') // t = 1 ms, concurrent: misses it
  h.ok(1, 'read', [], 'n1')
  h.ok(0, 'broadcast', 1, 'n0')
  h.call(1, 'read', null, [1], 'n1')
  const r = checkBroadcast(h.ops)
  assert.equal(r.valid, true)
  assert.equal((r.stats?.['stable-latencies'] as Record<string, number>)['1'], 1)
  assert.equal(r.stats?.['stale-count'], 0, 'a read that began before the ack is not stale')
})

test('broadcast: an element twice in one read is duplicated; one never sent is unexpected', () => {
  const dup = checkBroadcast(run(2, () => [1, 2, 2]).ops)
  assert.equal(dup.valid, false)
  assert.equal(dup.stats?.['duplicated-count'], 1)
  const unexpected = checkBroadcast(run(2, () => [1, 2, 99]).ops)
  assert.equal(unexpected.valid, false)
  assert.equal((unexpected.anomalies['unexpected']?.[0] as { element: number }).element, 99)
})

test('broadcast: an indefinite broadcast may be missing; one that shows up becomes known', () => {
  const h = new HistoryBuilder()
  h.call(0, 'broadcast', 1, 1, 'n0')
  h.invoke(1, 'broadcast', 2, 'n1').info(1, 'broadcast', 2)
  h.invoke(2, 'broadcast', 3, 'n1').info(2, 'broadcast', 3)
  h.call(3, 'read', null, [1, 3], 'n0').call(4, 'read', null, [1, 3], 'n1')
  const r = checkBroadcast(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['stable-count'], 2)
  assert.equal(r.stats?.['indefinite-count'], 1)
  // ... and then vanishes from a later read: lost.
  h.call(5, 'read', null, [1], 'n1')
  assert.equal(checkBroadcast(h.ops).valid, false)
})

test('broadcast: messages with no read after them are never-read; nothing read is unknown', () => {
  const h = new HistoryBuilder().call(0, 'read', null, [], 'n0').call(0, 'broadcast', 1, 1, 'n0')
  const r = checkBroadcast(h.ops)
  assert.equal(r.valid, 'unknown')
  assert.equal(r.stats?.['never-read-count'], 1)
})

test('broadcast: a read whose value is not a list is malformed, not a crash', () => {
  const h = run(1, () => [1])
  h.call(20, 'read', null, { __proto__: [1] }, 'n0')
  const r = checkBroadcast(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['malformed']?.length, 1)
})

test('g-set: the same set-full analysis over add and read', () => {
  const h = new HistoryBuilder()
  h.call(0, 'add', 'a', 'a', 'n0').call(1, 'add', 'b', 'b', 'n1')
  h.call(0, 'read', null, ['a', 'b'], 'n0').call(1, 'read', null, ['b', 'a'], 'n1')
  assert.equal(checkGSet(h.ops).valid, true)
  h.call(1, 'read', null, ['b'], 'n1')
  const r = checkGSet(h.ops)
  assert.equal(r.valid, false)
  assert.equal((r.anomalies['lost']?.[0] as { element: string }).element, 'a')
})

test('property: dropping any acknowledged message from one node final read makes it lost', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat({ max: 2 }), (count, pick, nodeIx) => {
      const all = Array.from({ length: count }, (_, i) => i + 1)
      assert.equal(checkBroadcast(run(count, () => all).ops).valid, true)
      const drop = (pick % count) + 1
      const r = checkBroadcast(
        run(count, (node) => (node === NODES[nodeIx] ? all.filter((x) => x !== drop) : all)).ops,
      )
      assert.equal(r.valid, false)
      assert.deepEqual(
        r.anomalies['lost']?.map((x) => (x as { element: number }).element),
        [drop],
      )
    }),
    { numRuns: 50 },
  )
})
