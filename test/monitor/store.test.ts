import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { RunStore, RunReader, listRuns, resolveRun, runsDir } from '../../src/monitor/store.js'
import { Collector } from '../../src/monitor/collector.js'
import type { TelemetryEvent } from '../../src/core/telemetry.js'
import { scratchDir } from '../helpers.js'

const dir = scratchDir('distlab-store-')
after(() => rmSync(dir, { recursive: true, force: true }))

const event = (i: number, node = `node${(i % 4) + 1}`): TelemetryEvent => ({
  ts: 1_700_000_000_000 + i,
  node,
  proto: i % 2 ? 'ping' : 'unicast',
  kind: i % 3 === 0 ? 'recv' : 'send',
  msgId: `m${i}`,
  src: node,
  dst: 'node9',
  bytes: i,
  transport: 'udp',
  ...(i % 5 === 0 ? { reason: 'loss', type: 'data' } : {}),
})

describe('run store', () => {
  test('every event the collector takes in reaches the run file, with the loss counts', async () => {
    const collector = new Collector()
    const store = new RunStore({ dir, runId: 'r-one', batchEvents: 100, flushIntervalMs: 10 })
    store.attach(collector, () => [{ name: 'node1', host: '127.70.2.1', framePort: 7000 }])
    await store.start()
    let seq = 0
    for (let b = 0; b < 25; b++) {
      const events = Array.from({ length: 400 }, (_, i) => event(b * 400 + i))
      collector.ingest({ node: 'node1', seq: ++seq, lost: b === 3 ? 7 : 0, events })
    }
    await store.stop()
    await store.stop() // twice is harmless

    const r = new RunReader(store.file)
    try {
      assert.equal(r.count(), 10_000)
      const meta = r.meta()
      assert.equal(meta.id, 'r-one')
      assert.equal(meta.lostEvents, 7)
      assert.ok(meta.endedAt && meta.endedAt >= meta.startedAt)
      assert.deepEqual(
        meta.members.map((m) => m.host),
        ['127.70.2.1'],
      )
      const all = [...r.events()]
      assert.deepEqual(all[5], event(5))
      assert.deepEqual(all[0], event(0))
      assert.deepEqual(r.distinct('proto'), ['ping', 'unicast'])
    } finally {
      r.close()
    }
  })

  test('runs are listed oldest first and found by id, prefix or latest', async () => {
    const second = new RunStore({ dir, runId: 'r-two' })
    await second.start()
    second.add([event(1)])
    await second.stop()
    const runs = listRuns(dir)
    assert.deepEqual(
      runs.map((r) => [r.id, r.events, r.open]),
      [
        ['r-one', 10_000, false],
        ['r-two', 1, false],
      ],
    )
    assert.equal(resolveRun('latest', dir), join(dir, 'r-two.sqlite'))
    assert.equal(resolveRun(undefined, dir), join(dir, 'r-two.sqlite'))
    assert.equal(resolveRun('r-o', dir), join(dir, 'r-one.sqlite'))
    assert.throws(() => resolveRun('r-', dir), { code: 'ERR_RUN_NOT_FOUND' })
    assert.throws(() => resolveRun('nope', dir), { code: 'ERR_RUN_NOT_FOUND' })
    assert.throws(() => resolveRun('x', join(dir, 'empty')), { code: 'ERR_RUN_NOT_FOUND' })
  })

  test('when the disk cannot keep up, the excess is counted as lost rather than held without bound', async () => {
    const store = new RunStore({
      dir,
      runId: 'r-full',
      maxPendingEvents: 10,
      batchEvents: 1000,
      flushIntervalMs: 60_000,
    })
    await store.start()
    store.add(Array.from({ length: 25 }, (_, i) => event(i)))
    assert.deepEqual(store.stats(), { written: 0, pending: 10, dropped: 15 })
    await store.stop()
    const r = new RunReader(store.file)
    try {
      assert.equal(r.count(), 10)
      assert.equal(r.meta().lostEvents, 15)
    } finally {
      r.close()
    }
  })

  test('bad options name the field', () => {
    assert.throws(() => new RunStore({ dir, runId: '../escape' }), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'runId',
    })
    assert.throws(() => new RunStore({ dir, batchEvents: 0 }), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'batchEvents',
    })
  })
})

test('the runs folder: the one named, else $DISTLAB_RUNS_DIR, else ./runs; an empty variable is unset', () => {
  const saved = process.env.DISTLAB_RUNS_DIR
  try {
    process.env.DISTLAB_RUNS_DIR = '/tmp/elsewhere'
    assert.equal(runsDir('/tmp/named'), '/tmp/named')
    assert.equal(runsDir(), '/tmp/elsewhere')
    // Not the working directory itself, where run files would land among the user's own.
    process.env.DISTLAB_RUNS_DIR = ''
    assert.equal(runsDir(), resolve('runs'))
    delete process.env.DISTLAB_RUNS_DIR
    assert.equal(runsDir(), resolve('runs'))
  } finally {
    if (saved === undefined) delete process.env.DISTLAB_RUNS_DIR
    else process.env.DISTLAB_RUNS_DIR = saved
  }
})
