import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkKafka } from '../../../src/maelstrom/checkers/kafka.js'
import { HistoryBuilder } from './build.js'

/** Sends msgs to key k from process 0 with offsets 0.., returning the builder. */
function sends(h: HistoryBuilder, key: string, msgs: number[], first = 0): HistoryBuilder {
  msgs.forEach((m, i) => h.call(0, 'send', [key, m], [key, first + i]))
  return h
}

const poll = (
  h: HistoryBuilder,
  p: number,
  result: Record<string, Array<[number, number]>>,
): HistoryBuilder => h.call(p, 'poll', null, result)

test('kafka: consumers that read every offset in order are valid', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11, 12, 13])
  poll(h, 1, {
    k: [
      [0, 10],
      [1, 11],
    ],
  })
  poll(h, 1, {
    k: [
      [2, 12],
      [3, 13],
    ],
  })
  h.call(2, 'commit_offsets', { k: 3 }).call(2, 'list_committed_offsets', ['k'], { k: 3 })
  const r = checkKafka(h.ops)
  assert.equal(r.valid, true, JSON.stringify(r.anomalies))
  assert.equal(r.stats?.['send-count'], 4)
  assert.equal(r.stats?.['unseen-count'], 0)
})

test('kafka: a send acknowledged with an offset another message holds is inconsistent-offsets', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11])
  h.call(3, 'send', ['k', 99], ['k', 1])
  const r = checkKafka(h.ops)
  assert.equal(r.valid, false)
  assert.deepEqual(
    (r.anomalies['inconsistent-offsets']?.[0] as { offset: number; values: number[] }).values,
    [11, 99],
  )
})

test('kafka: a consumer that jumps over an acknowledged message skips it, and the message is lost', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11, 12, 13])
  poll(h, 1, {
    k: [
      [0, 10],
      [1, 11],
    ],
  })
  poll(h, 1, { k: [[3, 13]] })
  const r = checkKafka(h.ops)
  assert.equal(r.valid, false)
  assert.deepEqual((r.anomalies['poll-skip']?.[0] as { skipped: number[] }).skipped, [2])
  const lost = r.anomalies['lost-write']?.[0] as { offset: number; value: number }
  assert.equal(lost.offset, 2)
  assert.equal(lost.value, 12)
})

test('kafka: a gap inside one poll over an existing offset is int-poll-skip', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11, 12])
  poll(h, 1, {
    k: [
      [0, 10],
      [2, 12],
    ],
  })
  const r = checkKafka(h.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['int-poll-skip']?.length, 1)
})

test('kafka: offsets out of order in a poll, or a poll going back, are nonmonotonic', () => {
  const h1 = sends(new HistoryBuilder(), 'k', [10, 11])
  poll(h1, 1, {
    k: [
      [1, 11],
      [0, 10],
    ],
  })
  assert.equal(checkKafka(h1.ops).anomalies['int-nonmonotonic-poll']?.length, 1)
  const h2 = sends(new HistoryBuilder(), 'k', [10, 11])
  poll(h2, 1, {
    k: [
      [0, 10],
      [1, 11],
    ],
  })
  poll(h2, 1, { k: [[0, 10]] })
  const r = checkKafka(h2.ops)
  assert.equal(r.valid, false)
  assert.equal(r.anomalies['nonmonotonic-poll']?.length, 1)
})

test('kafka: where the poll asked to start is taken from its value when given', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11, 12])
  h.call(1, 'poll', { k: 2 }, { k: [[2, 12]] })
  assert.equal(checkKafka(h.ops).valid, true)
})

test('kafka: one message at two offsets is duplicate; decreasing offsets for one sender is nonmonotonic-send', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11])
  poll(h, 1, {
    k: [
      [0, 10],
      [1, 11],
      [2, 10],
    ],
  })
  assert.equal(checkKafka(h.ops).anomalies['duplicate']?.length, 1)
  const s = new HistoryBuilder().call(0, 'send', ['k', 1], ['k', 5]).call(0, 'send', ['k', 2], ['k', 4])
  assert.equal(checkKafka(s.ops).anomalies['nonmonotonic-send']?.length, 1)
})

test('kafka: listing committed offsets below one already committed is a regression', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11, 12])
  h.call(2, 'commit_offsets', { k: 2 }).call(3, 'list_committed_offsets', ['k'], { k: 1 })
  const r = checkKafka(h.ops)
  assert.equal(r.valid, false)
  const a = r.anomalies['committed-offset-regression']?.[0] as { committed: number; listed: number }
  assert.deepEqual([a.committed, a.listed], [2, 1])
})

test('kafka: messages no consumer reached are unseen, not lost; hostile poll values are malformed', () => {
  const h = sends(new HistoryBuilder(), 'k', [10, 11, 12])
  poll(h, 1, { k: [[0, 10]] })
  const r = checkKafka(h.ops)
  assert.equal(r.valid, true)
  assert.equal(r.stats?.['unseen-count'], 2)
  const bad = new HistoryBuilder().call(
    1,
    'poll',
    null,
    JSON.parse('{"__proto__": [[0, 1]], "k": [["x", 1]]}'),
  )
  const rb = checkKafka(bad.ops)
  assert.equal(rb.valid, false)
  assert.equal(rb.anomalies['malformed']?.length, 1)
})
