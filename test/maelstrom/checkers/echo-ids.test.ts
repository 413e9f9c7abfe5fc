import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkEcho } from '../../../src/maelstrom/checkers/echo.js'
import { checkUniqueIds } from '../../../src/maelstrom/checkers/unique-ids.js'
import { checkers, checkerFor } from '../../../src/maelstrom/checkers/index.js'
import { HistoryBuilder } from './build.js'

test('echo: every acknowledged echo returns what was sent', () => {
  const h = new HistoryBuilder()
    .call(0, 'echo', 'hello')
    .call(1, 'echo', 'world')
    .invoke(2, 'echo', 'lost')
    .info(2, 'echo', 'lost')
  const r = checkEcho(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['ok-count'], 2)
  assert.equal(r.stats?.['info-count'], 1)
})

test('echo: a reply that differs from the request is named', () => {
  const h = new HistoryBuilder().call(0, 'echo', 'hello').call(1, 'echo', 'world', 'hello')
  const r = checkEcho(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['mismatched']?.length, 1)
  assert.deepEqual((r.anomalies['mismatched']?.[0] as { got: unknown }).got, 'hello')
})

test('echo: nothing acknowledged is unknown, not valid', () => {
  const h = new HistoryBuilder().invoke(0, 'echo', 'x').info(0, 'echo', 'x')
  assert.equal(checkEcho(h.ops).valid, 'unknown')
})

test('unique-ids: distinct ids are valid, with Jepsen counts and range', () => {
  const h = new HistoryBuilder()
  for (let i = 0; i < 20; i++) h.invoke(i % 3, 'generate', null).ok(i % 3, 'generate', i * 10)
  h.invoke(5, 'generate', null).info(5, 'generate', null)
  const r = checkUniqueIds(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['attempted-count'], 21)
  assert.equal(r.stats?.['acknowledged-count'], 20)
  assert.deepEqual(r.stats?.['range'], [0, 190])
})

test('unique-ids: an id handed out twice is duplicated, with both operations', () => {
  const h = new HistoryBuilder()
    .invoke(0, 'generate', null)
    .ok(0, 'generate', 'n1-1', 'n1')
    .invoke(1, 'generate', null)
    .ok(1, 'generate', 'n2-1', 'n2')
    .invoke(2, 'generate', null)
    .ok(2, 'generate', 'n1-1', 'n3')
  const r = checkUniqueIds(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.stats?.['duplicated-count'], 1)
  const d = r.anomalies['duplicated']?.[0] as { id: unknown; count: number; ops: Array<{ node: string }> }
  assert.equal(d.id, 'n1-1')
  assert.equal(d.count, 2)
  assert.deepEqual(
    d.ops.map((o) => o.node),
    ['n1', 'n3'],
  )
})

test('unique-ids: ids that are objects compare by value', () => {
  const h = new HistoryBuilder()
    .invoke(0, 'generate', null)
    .ok(0, 'generate', [1, 2])
    .invoke(1, 'generate', null)
    .ok(1, 'generate', [1, 2])
  assert.equal(checkUniqueIds(h.ops).valid, false)
})

test('the checker table is keyed by Maelstrom workload names and ignores prototype names', () => {
  for (const name of ['echo', 'unique-ids', 'broadcast', 'g-set', 'g-counter', 'pn-counter', 'lin-kv']) {
    assert.equal(typeof checkers[name], 'function', name)
  }
  assert.equal(checkerFor('__proto__'), undefined)
  assert.equal(checkerFor('toString'), undefined)
})
