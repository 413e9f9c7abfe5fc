import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkTxnListAppend, checkTxnRwRegister } from '../../../src/maelstrom/checkers/txn.js'
import { resolveCheckOptions } from '../../../src/maelstrom/checkers/common.js'
import { HistoryBuilder } from './build.js'

type Mop = [string, number | string, unknown]

/** A committed transaction: invoke with reads unfilled, ok with `done`. */
function txn(h: HistoryBuilder, p: number, done: Mop[]): HistoryBuilder {
  return h.call(
    p,
    'txn',
    done.map(([f, k, v]) => [f, k, f === 'r' ? null : v]),
    done,
  )
}

function failed(h: HistoryBuilder, p: number, mops: Mop[]): HistoryBuilder {
  return h.invoke(p, 'txn', mops).fail(p, 'txn', mops, 30)
}

test('list-append: a serial history is valid', () => {
  const h = new HistoryBuilder()
  txn(h, 0, [['append', 'x', 1]])
  txn(h, 1, [
    ['r', 'x', [1]],
    ['append', 'x', 2],
    ['r', 'x', [1, 2]],
  ])
  txn(h, 2, [
    ['r', 'x', [1, 2]],
    ['r', 'y', null],
  ])
  const r = checkTxnListAppend(h.ops)
  assert.equal(r.valid, true, JSON.stringify(r.anomalies))
})

test('list-append: two transactions whose appends land in opposite orders on two keys are a G0 write cycle', () => {
  const h = new HistoryBuilder()
  txn(h, 0, [
    ['append', 'x', 1],
    ['append', 'y', 1],
  ])
  txn(h, 1, [
    ['append', 'x', 2],
    ['append', 'y', 2],
  ])
  txn(h, 2, [
    ['r', 'x', [1, 2]],
    ['r', 'y', [2, 1]],
  ])
  const r = checkTxnListAppend(h.ops, { consistencyModels: ['read-uncommitted'] })
  assert.equal(r.valid, false)
  const g0 = r.anomalies['G0']?.[0] as { cycle: Array<{ index: number }>; edges: string[] }
  assert.deepEqual(g0.edges, ['ww', 'ww'])
  assert.deepEqual(
    g0.cycle.map((t) => t.index).sort((a, b) => a - b),
    [0, 2],
  )
})

test("list-append: reading a failed transaction's append is G1a; reading a value its writer then extended is G1b", () => {
  const a = new HistoryBuilder()
  failed(a, 0, [['append', 'x', 1]])
  txn(a, 1, [['r', 'x', [1]]])
  const ra = checkTxnListAppend(a.ops, { consistencyModels: ['read-committed'] })
  assert.equal(ra.valid, false)
  assert.equal(ra.anomalies['G1a']?.length, 1)
  assert.equal(
    checkTxnListAppend(a.ops, { consistencyModels: ['read-uncommitted'] }).valid,
    true,
    'allowed by read uncommitted',
  )

  const b = new HistoryBuilder()
  txn(b, 0, [
    ['append', 'x', 1],
    ['append', 'x', 2],
  ])
  txn(b, 1, [['r', 'x', [1]]])
  const rb = checkTxnListAppend(b.ops, { consistencyModels: ['read-committed'] })
  assert.equal(rb.valid, false)
  assert.equal(rb.anomalies['G1b']?.length, 1)
})

test('list-append: two read-then-append transactions on one version are a lost update (and G-single)', () => {
  const h = new HistoryBuilder()
  txn(h, 0, [['append', 'x', 0]])
  txn(h, 1, [
    ['r', 'x', [0]],
    ['append', 'x', 1],
  ])
  txn(h, 2, [
    ['r', 'x', [0]],
    ['append', 'x', 2],
  ])
  txn(h, 3, [['r', 'x', [0, 1, 2]]])
  const r = checkTxnListAppend(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['lost-update']?.length, 1)
  assert.equal(r.anomalies['G-single']?.length, 1)
  const rc = checkTxnListAppend(h.ops, { consistencyModels: ['read-committed'] })
  assert.equal(rc.valid, true, 'read committed allows lost updates')
  assert.equal((rc.stats?.['allowed-anomalies'] as Record<string, number>)['lost-update'], 1)
})

test('list-append: a transaction that does not see its own append is internal; lists out of one order are incompatible', () => {
  const h = new HistoryBuilder()
  txn(h, 0, [
    ['append', 'x', 5],
    ['r', 'x', []],
  ])
  assert.equal(
    checkTxnListAppend(h.ops, { consistencyModels: ['read-uncommitted'] }).anomalies['internal']?.length,
    1,
  )
  const o = new HistoryBuilder()
  txn(o, 0, [['append', 'x', 1]])
  txn(o, 1, [['append', 'x', 2]])
  txn(o, 2, [['r', 'x', [1, 2]]])
  txn(o, 3, [['r', 'x', [2, 1]]])
  const r = checkTxnListAppend(o.ops, { consistencyModels: ['read-uncommitted'] })
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['incompatible-order']?.length, 1)
})

test('rw-register: serial history valid; read of a failed write is G1a; of an overwritten one G1b', () => {
  const h = new HistoryBuilder()
  txn(h, 0, [
    ['r', 'x', null],
    ['w', 'x', 1],
  ])
  txn(h, 1, [
    ['r', 'x', 1],
    ['w', 'x', 2],
    ['r', 'x', 2],
  ])
  assert.equal(checkTxnRwRegister(h.ops).valid, true)
  const a = new HistoryBuilder()
  failed(a, 0, [['w', 'x', 7]])
  txn(a, 1, [['r', 'x', 7]])
  assert.equal(
    checkTxnRwRegister(a.ops, { consistencyModels: ['read-committed'] }).anomalies['G1a']?.length,
    1,
  )
  const b = new HistoryBuilder()
  txn(b, 0, [
    ['w', 'x', 1],
    ['w', 'x', 2],
  ])
  txn(b, 1, [['r', 'x', 1]])
  assert.equal(
    checkTxnRwRegister(b.ops, { consistencyModels: ['read-committed'] }).anomalies['G1b']?.length,
    1,
  )
})

test('rw-register: lost update, G0 from read-then-write order, internal reads, garbage', () => {
  const lu = new HistoryBuilder()
  txn(lu, 0, [
    ['r', 'x', null],
    ['w', 'x', 1],
  ])
  txn(lu, 1, [
    ['r', 'x', null],
    ['w', 'x', 2],
  ])
  assert.equal(checkTxnRwRegister(lu.ops).anomalies['lost-update']?.length, 1)

  const g0 = new HistoryBuilder()
  txn(g0, 0, [
    ['r', 'y', 20],
    ['w', 'y', 10],
    ['w', 'x', 1],
  ])
  txn(g0, 1, [
    ['r', 'x', 1],
    ['w', 'x', 2],
    ['w', 'y', 20],
  ])
  const r = checkTxnRwRegister(g0.ops, { consistencyModels: ['read-uncommitted'] })
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['G0']?.length, 1)

  const internal = new HistoryBuilder()
  txn(internal, 0, [
    ['w', 'x', 1],
    ['r', 'x', 3],
  ])
  assert.equal(
    checkTxnRwRegister(internal.ops, { consistencyModels: ['read-uncommitted'] }).anomalies['internal']
      ?.length,
    1,
  )
  const garbage = new HistoryBuilder()
  txn(garbage, 0, [['r', 'x', 99]])
  assert.equal(
    checkTxnRwRegister(garbage.ops, { consistencyModels: ['read-uncommitted'] }).anomalies['garbage-read']
      ?.length,
    1,
  )
})

test('txn: unknown consistency models are rejected by name; malformed transactions are reported', () => {
  assert.throws(() => resolveCheckOptions({ consistencyModels: ['snapshot-isolationx'] }), {
    code: 'ERR_INVALID_ARGUMENT',
  })
  assert.equal(
    resolveCheckOptions({ consistencyModels: ['read-uncommitted', 'read-committed'] }).consistencyModel,
    'read-committed',
  )
  const h = new HistoryBuilder().call(0, 'txn', 'nope').call(1, 'txn', [['r', 'x']])
  const r = checkTxnRwRegister(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['malformed']?.length, 2)
})

/** Random transactions executed one at a time against a map: serializable by construction. */
function serial(seed: number[], listAppend: boolean): HistoryBuilder {
  const h = new HistoryBuilder()
  const state = new Map<number, number[]>()
  let next = 1
  let i = 0
  for (let t = 0; t < 30; t++) {
    const len = 1 + ((seed[i++ % seed.length] as number) % 4)
    const done: Mop[] = []
    for (let j = 0; j < len; j++) {
      const r = seed[i++ % seed.length] as number
      const k = r % 3
      const cur = state.get(k) ?? []
      if (r % 2 === 0)
        done.push([
          'r',
          k,
          listAppend ? (cur.length === 0 ? null : cur.slice()) : (cur[cur.length - 1] ?? null),
        ])
      else {
        const v = next++
        state.set(k, cur.concat([v]))
        done.push([listAppend ? 'append' : 'w', k, v])
      }
    }
    txn(h, t % 4, done)
  }
  return h
}

test('property: serial executions are valid under serializability', () => {
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 5, maxLength: 50 }), (seed) => {
      const la = checkTxnListAppend(serial(seed, true).ops)
      assert.equal(la.valid, true, JSON.stringify(la.anomalies))
      const rw = checkTxnRwRegister(serial(seed, false).ops)
      assert.equal(rw.valid, true, JSON.stringify(rw.anomalies))
    }),
    { numRuns: 100 },
  )
})
