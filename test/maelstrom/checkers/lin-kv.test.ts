import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkLinKv } from '../../../src/maelstrom/checkers/lin-kv.js'
import { corruptRead, synthLinKv } from '../../../src/maelstrom/checkers/synth.js'
import { MaelstromErrorCode } from '../../../src/maelstrom/history.js'
import type { OpRef } from '../../../src/maelstrom/checkers/common.js'
import { HistoryBuilder } from './build.js'

const { keyDoesNotExist: E20, preconditionFailed: E22 } = MaelstromErrorCode

interface Witness {
  key: unknown
  ops: OpRef[]
  'linearizable-prefix': OpRef[]
  minimal: boolean
}

const witness = (r: ReturnType<typeof checkLinKv>): Witness => r.anomalies['nonlinearizable']?.[0] as Witness

test('lin-kv: a sequential history is linearizable', () => {
  const h = new HistoryBuilder()
    .invoke(0, 'read', ['x', null])
    .fail(0, 'read', ['x', null], E20)
    .call(0, 'write', ['x', 1])
    .call(1, 'read', ['x', null], ['x', 1])
    .call(1, 'cas', ['x', [1, 2]])
    .invoke(2, 'cas', ['x', [1, 3]])
    .fail(2, 'cas', ['x', [1, 3]], E22)
    .call(2, 'read', ['x', null], ['x', 2])
  const r = checkLinKv(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['key-count'], 1)
})

test('lin-kv: a stale read after a write completed is not linearizable; the witness is those three ops', () => {
  const h = new HistoryBuilder()
    .call(0, 'write', ['x', 1])
    .call(1, 'write', ['y', 5])
    .call(0, 'write', ['x', 2])
    .call(2, 'read', ['y', null], ['y', 5])
    .call(1, 'read', ['x', null], ['x', 1])
    .call(2, 'read', ['x', null], ['x', 2])
  const r = checkLinKv(h.ops)
  assert.equal(r.valid, false)
  const w = witness(r)
  assert.equal(w.key, 'x')
  assert.equal(w.minimal, true)
  assert.deepEqual(
    w.ops.map((o) => [o.f, o.value]),
    [
      ['write', ['x', 1]],
      ['write', ['x', 2]],
      ['read', ['x', 1]],
    ],
  )
  assert.deepEqual(
    w['linearizable-prefix'].map((o) => o.f),
    ['write', 'write'],
    'the search got as far as both writes',
  )
})

test('lin-kv: a read concurrent with a write may see either value', () => {
  for (const seen of [1, 2]) {
    const h = new HistoryBuilder()
      .call(0, 'write', ['x', 1])
      .invoke(0, 'write', ['x', 2])
      .invoke(1, 'read', ['x', null])
      .ok(1, 'read', ['x', seen])
      .ok(0, 'write', ['x', 2])
    assert.equal(checkLinKv(h.ops).valid, true, `read ${seen}`)
  }
})

test('lin-kv: a read seeing a value then an older one (both concurrent with writes) is not', () => {
  const h = new HistoryBuilder()
    .call(0, 'write', ['x', 1])
    .invoke(0, 'write', ['x', 2])
    .call(1, 'read', ['x', null], ['x', 2])
    .call(1, 'read', ['x', null], ['x', 1])
    .ok(0, 'write', ['x', 2])
  assert.equal(checkLinKv(h.ops).valid, false)
})

test('lin-kv: failures are evidence: cas 22 when the value matched, 20 when the key existed', () => {
  const base = (): HistoryBuilder => new HistoryBuilder().call(0, 'write', ['k', 3])
  const r22 = checkLinKv(
    base()
      .invoke(1, 'cas', ['k', [3, 4]])
      .fail(1, 'cas', ['k', [3, 4]], E22).ops,
  )
  assert.equal(r22.valid, false)
  const r20 = checkLinKv(
    base()
      .invoke(1, 'cas', ['k', [3, 4]])
      .fail(1, 'cas', ['k', [3, 4]], E20).ops,
  )
  assert.equal(r20.valid, false)
  const read20 = checkLinKv(base().invoke(1, 'read', ['k', null]).fail(1, 'read', ['k', null], E20).ops)
  assert.equal(read20.valid, false)
  const cas22ok = checkLinKv(
    base()
      .invoke(1, 'cas', ['k', [9, 4]])
      .fail(1, 'cas', ['k', [9, 4]], E22).ops,
  )
  assert.equal(cas22ok.valid, true)
  // A failure with any other code says nothing (temporarily unavailable).
  const r11 = checkLinKv(
    base()
      .invoke(1, 'cas', ['k', [3, 4]])
      .fail(1, 'cas', ['k', [3, 4]], 11).ops,
  )
  assert.equal(r11.valid, true)
})

test('lin-kv: a failed write did not happen; an indefinite one may or may not have', () => {
  const failed = new HistoryBuilder()
    .call(0, 'write', ['x', 1])
    .invoke(1, 'write', ['x', 2])
    .fail(1, 'write', ['x', 2], 11)
  assert.equal(checkLinKv(failed.call(0, 'read', ['x', null], ['x', 2]).ops).valid, false)
  for (const seen of [1, 2]) {
    const h = new HistoryBuilder()
      .call(0, 'write', ['x', 1])
      .invoke(1, 'write', ['x', 2])
      .info(1, 'write', ['x', 2])
      .call(0, 'read', ['x', null], ['x', seen])
      .call(0, 'read', ['x', null], ['x', seen])
    assert.equal(checkLinKv(h.ops).valid, true, `info write, read ${seen}`)
  }
  // ... but once seen it stays: 2 then 1 again is not linearizable.
  const flip = new HistoryBuilder()
    .call(0, 'write', ['x', 1])
    .invoke(1, 'write', ['x', 2])
    .info(1, 'write', ['x', 2])
    .call(0, 'read', ['x', null], ['x', 2])
    .call(0, 'read', ['x', null], ['x', 1])
  assert.equal(checkLinKv(flip.ops).valid, false)
})

test('lin-kv: keys are independent registers (P-compositionality)', () => {
  const h = new HistoryBuilder()
  for (let i = 0; i < 50; i++)
    h.call(i % 5, 'write', [i % 7, i]).call(i % 5, 'read', [i % 7, null], [i % 7, i])
  const r = checkLinKv(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['key-count'], 7)
})

test('lin-kv: malformed operations are reported, not thrown', () => {
  const h = new HistoryBuilder()
    .call(0, 'write', 'nonsense')
    .call(0, 'read', ['x', null], 42)
    .call(0, 'cas', ['x', 3])
  const r = checkLinKv(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.stats?.['malformed-count'], 3)
})

test('lin-kv: an exhausted time budget gives unknown with a reason', () => {
  const h = synthLinKv({ ops: 4000, keys: 4, seed: 11 })
  const r = checkLinKv(h, { timeBudgetMs: 0 })
  assert.equal(r.valid, 'unknown')
  assert.match(r.reason ?? '', /time budget/)
})

test('lin-kv: 10k ops (10 keys, 10 clients) check within the default budget; a stale read in them is shown alone', () => {
  const h = synthLinKv({ ops: 10_000, keys: 10, concurrency: 10, seed: 5 })
  assert.equal(checkLinKv(h).valid, true)
  const bad = corruptRead(h, 'stale', 5)
  assert.ok(bad !== undefined)
  // Proving a history wrong explores every configuration up to the bad read. The reductions
  // (garbage values, interchangeable and dead indefinite ops) keep that near what a valid
  // history needs: the count is the machine-independent measure (without them: 320 625).
  const r = checkLinKv(bad.history, { timeBudgetMs: 120_000 })
  assert.equal(r.valid, false)
  const configurations = r.stats?.['configurations'] as number
  assert.ok(configurations < 30_000, `${configurations} configurations`)
  const w = witness(r)
  assert.ok(
    w.ops.some((o) => o.completeIndex === bad.index),
    'the witness holds the corrupted read',
  )
  assert.ok(w.ops.length <= 4, `witness has ${w.ops.length} ops`)
})

test('property: any history a sequential register produces is linearizable', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1e9 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 8 }),
      (seed, keys, concurrency) => {
        const h = synthLinKv({ ops: 300, keys, concurrency, seed, infoRate: 0.05 })
        assert.equal(checkLinKv(h).valid, true)
      },
    ),
    { numRuns: 30 },
  )
})

test('property: a read of a value never written, or overwritten before the read began, is caught', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1e9 }),
      fc.constantFrom('never-written' as const, 'stale' as const),
      (seed, mode) => {
        const h = synthLinKv({ ops: 300, keys: 3, concurrency: 5, seed })
        const bad = corruptRead(h, mode, seed)
        if (bad === undefined) return
        const r = checkLinKv(bad.history)
        assert.equal(r.valid, false)
        const w = witness(r)
        assert.ok(w.ops.some((o) => o.completeIndex === bad.index))
        // The witness alone is not linearizable either.
        assert.equal(checkLinKv(witnessHistory(bad.history, w)).valid, false)
      },
    ),
    { numRuns: 30 },
  )
})

/** The history restricted to the witness's operations. */
function witnessHistory(h: ReturnType<typeof synthLinKv>, w: Witness): ReturnType<typeof synthLinKv> {
  const keep = new Set<number>()
  for (const o of w.ops) {
    keep.add(o.index)
    if (o.completeIndex !== undefined) keep.add(o.completeIndex)
  }
  return h.filter((op) => keep.has(op.index))
}
