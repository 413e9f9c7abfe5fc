import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkGCounter, checkPnCounter } from '../../../src/maelstrom/checkers/counter.js'
import { HistoryBuilder } from './build.js'

function adds(deltas: number[]): HistoryBuilder {
  const h = new HistoryBuilder()
  deltas.forEach((d, i) => h.call(i % 4, 'add', d, d, `n${i % 3}`))
  return h
}

test('g-counter: final reads equal to the acknowledged sum are valid', () => {
  const h = adds([1, 2, 3, 4]).call(10, 'read', null, 10, 'n0').call(11, 'read', null, 10, 'n1')
  const r = checkGCounter(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['final-reads'], 2)
  assert.deepEqual(r.stats?.['bounds'], [10, 10])
})

test('g-counter: a double-counted add makes the final read too high', () => {
  const h = adds([1, 2, 3, 4]).call(10, 'read', null, 10, 'n0').call(11, 'read', null, 13, 'n1')
  const r = checkGCounter(h.ops)
  assert.equal(r.valid, false)
  const a = r.anomalies['final-read-out-of-bounds']?.[0] as { node: string; direction: string; value: number }
  assert.equal(a.node, 'n1')
  assert.equal(a.direction, 'too-high')
  assert.equal(a.value, 13)
})

test('g-counter: a lost increment makes the final read too low', () => {
  const r = checkGCounter(adds([5, 5]).call(10, 'read', null, 5, 'n2').ops)
  assert.equal(r.valid, false)
  assert.equal((r.anomalies['final-read-out-of-bounds']?.[0] as { direction: string }).direction, 'too-low')
})

test('counter: indefinite adds widen the final bounds; failed ones do not count', () => {
  const base = (): HistoryBuilder => {
    const h = adds([1, 1])
    h.invoke(5, 'add', 10).info(5, 'add', 10)
    h.invoke(6, 'add', 100).fail(6, 'add', 100, 11)
    return h
  }
  const none = checkGCounter(base().ops)
  assert.equal(none.valid, 'unknown', 'no read after the adds: no verdict')
  assert.match(none.reason ?? '', /no read/)
  assert.equal(
    checkGCounter(base().call(20, 'read', null, 12, 'n0').call(21, 'read', null, 2, 'n1').ops).valid,
    true,
  )
  assert.equal(checkGCounter(base().call(20, 'read', null, 112, 'n0').ops).valid, false)
})

test('counter: a read cannot count an add invoked after it returned', () => {
  const h = new HistoryBuilder()
    .call(0, 'add', 1)
    .call(1, 'read', null, 3)
    .call(0, 'add', 2)
    .call(1, 'read', null, 3)
  const r = checkGCounter(h.ops)
  assert.equal(r.valid, false)
  assert.equal((r.anomalies['read-out-of-bounds']?.[0] as { upper: number }).upper, 1)
})

test('pn-counter: decrements, with an eventually consistent read in the middle', () => {
  const h = new HistoryBuilder()
    .call(0, 'add', 5, 5, 'n0')
    .call(1, 'add', -3, -3, 'n1')
    .call(2, 'read', null, -3, 'n2')
  h.call(0, 'add', 1, 1, 'n0').call(2, 'read', null, 3, 'n2').call(3, 'read', null, 3, 'n0')
  const r = checkPnCounter(h.ops)
  assert.equal(r.valid, true, JSON.stringify(r.anomalies))
  assert.equal(checkGCounter(h.ops).valid, false, 'g-counter rejects a negative delta')
})

test('counter: malformed deltas and reads are reported, not thrown', () => {
  const h = new HistoryBuilder().call(0, 'add', 'x').call(1, 'read', null, [1])
  const r = checkPnCounter(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['malformed']?.length, 2)
})

test('property: final reads of the exact sum pass; any other value fails', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: -3, max: 3 }),
      (deltas, off) => {
        const sum = deltas.reduce((a, b) => a + b, 0)
        const r = checkPnCounter(adds(deltas).call(50, 'read', null, sum + off, 'n0').ops)
        assert.equal(r.valid, off === 0)
      },
    ),
    { numRuns: 100 },
  )
})
