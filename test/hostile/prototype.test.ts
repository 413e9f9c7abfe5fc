// Issue 14, item 4: names a peer sends (`__proto__`, `constructor`, `prototype`) are only names in
// every table the master keeps: the collector, the live aggregator, the analyzer and the run store.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { Collector } from '../../src/monitor/collector.js'
import { LiveAggregator } from '../../src/monitor/live.js'
import { analyzeEvents } from '../../src/monitor/analyzer.js'
import { RunReader, RunStore } from '../../src/monitor/store.js'
import type { TelemetryEvent } from '../../src/core/telemetry.js'
import { scratchDir } from '../helpers.js'

const NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']
const dir = scratchDir('distlab-proto-')
after(() => rmSync(dir, { recursive: true, force: true }))

function events(): TelemetryEvent[] {
  const out: TelemetryEvent[] = []
  for (const name of NAMES)
    for (const kind of ['send', 'recv', 'deliver', 'drop'] as const)
      out.push({
        ts: Date.now(),
        node: name,
        proto: name,
        kind,
        msgId: name,
        src: name,
        dst: name,
        bytes: 1,
        transport: 'udp',
        type: name,
        reason: name,
      })
  return out
}

function assertClean(): void {
  const probe = {} as Record<string, unknown>
  for (const k of ['events', 'lost', 'lastBatchAt', 'sent', 'received', '__proto__polluted'])
    assert.equal(probe[k], undefined, `Object.prototype.${k} was set`)
  assert.equal(Object.getPrototypeOf(probe), Object.prototype)
  assert.deepEqual(Object.keys(Object.prototype), [])
}

test('the collector counts a node named __proto__ as a node and pollutes nothing', () => {
  const c = new Collector()
  for (const name of NAMES) c.ingest({ node: name, seq: 1, lost: 2, events: events() })
  assertClean()
  const s = c.stats()
  assert.equal(Object.getOwnPropertyDescriptor(s.nodes, '__proto__')?.value?.lost, 2)
  assert.equal(Object.keys(s.nodes).length, NAMES.length)
  assert.equal(JSON.parse(JSON.stringify(s)).nodes.constructor.events, NAMES.length * 4)
})

test('the collector bounds the node names it counts on their own', () => {
  const c = new Collector({ maxNodes: 10 })
  for (let i = 0; i < 1000; i++) c.ingest({ node: `n${i}`, seq: 1, lost: 0, events: [] })
  assert.equal(Object.keys(c.stats().nodes).length, 11)
  assert.equal(c.stats().nodes['(other)']?.lost, 0)
})

test('the live aggregator, the analyzer and the run store take the same names', async () => {
  const live = new LiveAggregator(250)
  live.ingest(events())
  live.tick(Date.now() + 2000)
  const snap = live.snapshot()
  assert.equal(Object.getOwnPropertyDescriptor(snap.protocols, '__proto__')?.value?.sent, 1)
  assertClean()

  const report = analyzeEvents(events(), { run: 'x', series: true })
  assert.ok(JSON.stringify(report).includes('__proto__'))
  assertClean()

  const store = new RunStore({ dir, runId: 'proto' })
  await store.start()
  store.add(events())
  store.setMeta('__proto__', { polluted: true })
  await store.stop()
  const r = new RunReader(join(dir, 'proto.sqlite'))
  try {
    assert.equal(r.meta().id, 'proto')
    assert.ok(r.distinct('node').includes('__proto__'))
  } finally {
    r.close()
  }
  assertClean()
})
