import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TelemetryEmitter } from '../../src/node/telemetry.js'
import type { TelemetryBatch, TelemetryEvent } from '../../src/core/telemetry.js'
import { Collector } from '../../src/monitor/collector.js'

const ev = (i: number): TelemetryEvent => ({
  ts: i,
  node: 'n',
  proto: 'p',
  kind: 'send',
  msgId: String(i),
  src: 'a',
  dst: 'b',
  bytes: 1,
  transport: 'udp',
})

test('a full buffer counts events as lost instead of growing or blocking', async () => {
  const batches: TelemetryBatch[] = []
  const t = new TelemetryEmitter({ node: 'n', maxQueue: 10, sink: async (b) => void batches.push(b) })
  for (let i = 0; i < 25; i++) t.record(ev(i))
  assert.deepEqual(t.stats(), { recorded: 25, queued: 10, lost: 15 })
  await t.flush()
  assert.equal(
    batches.reduce((n, b) => n + b.events.length, 0),
    10,
  )
  assert.equal(batches[0]!.lost, 15)
})

test('when the collector is away, the events are counted lost and reported with the next batch', async () => {
  let up = false
  const batches: TelemetryBatch[] = []
  const t = new TelemetryEmitter({
    node: 'n',
    sink: async (b) => {
      if (!up) throw new Error('down')
      batches.push(b)
    },
  })
  for (let i = 0; i < 5; i++) t.record(ev(i))
  await t.flush()
  up = true
  t.record(ev(99))
  await t.flush()
  assert.equal(batches.length, 1)
  assert.equal(batches[0]!.lost, 5)
  assert.equal(batches[0]!.events.length, 1)
})

test('the collector adds up lost events and missing batches, and feeds subscribers', () => {
  const c = new Collector({ recentEvents: 3 })
  const seen: TelemetryEvent[] = []
  c.subscribe((events) => seen.push(...events))
  c.subscribe(() => {
    throw new Error('a broken subscriber')
  })
  c.ingest({ node: 'n', seq: 1, lost: 2, events: [ev(1), ev(2)] })
  c.ingest({ node: 'n', seq: 4, lost: 0, events: [ev(3), ev(4)] })
  const s = c.stats()
  assert.equal(s.events, 4)
  assert.equal(s.lostEvents, 2)
  assert.equal(s.missingBatches, 2)
  assert.equal(seen.length, 4)
  assert.deepEqual(
    c.recentEvents().map((e) => e.msgId),
    ['2', '3', '4'],
  )
})
