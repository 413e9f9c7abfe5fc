// A Maelstrom node program runs unchanged under distlab: init, then every client's echo comes back
// through real sockets, the history records it, results.json and the run file are written, and
// garbage the program prints is counted instead of stopping the run.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { RunReader } from '../../src/monitor/store.js'
import type { History } from '../../src/maelstrom/history.js'
import { js, py, shortRun } from './helpers.js'

for (const [lang, bin] of [
  ['Python', py('echo.py')],
  ['Node', js('echo.mjs')],
] as const) {
  test(`echo: a ${lang} node program answers every client through distlab frames`, async () => {
    const r = await shortRun({ workload: 'echo', bin, nodeCount: 2, concurrency: 2 })
    assert.ok(r.stats.count >= 10, `only ${r.stats.count} operations`)
    assert.equal(r.stats['ok-count'], r.stats.count)
    assert.equal(r.valid, true, r.summary)
    const history = JSON.parse(readFileSync(r.run.history, 'utf8')) as History
    const invokes = new Map(history.filter((o) => o.type === 'invoke').map((o) => [o.process, o]))
    for (const op of history.filter((o) => o.type === 'ok')) {
      assert.equal(op.f, 'echo')
      assert.match(String(op.value), /^Please echo \d+$/)
      assert.ok(op.node === 'n0' || op.node === 'n1')
    }
    assert.ok(invokes.size >= 2, 'both clients invoked operations')
    // Every request and reply crossed the network: two frames per operation, none between servers.
    assert.equal(r.net.all['send-count'], 2 * r.stats.count)
    assert.equal(r.net.servers['send-count'], 0)
    assert.ok(existsSync(r.run.results))
    const saved = JSON.parse(readFileSync(r.run.results, 'utf8')) as {
      workload: string
      stats: { count: number }
    }
    assert.equal(saved.workload, 'echo')
    assert.equal(saved.stats.count, r.stats.count)
    assert.ok(r.run.file && existsSync(r.run.file), 'the run file exists')
    const reader = new RunReader(r.run.file)
    try {
      assert.ok(reader.distinct('proto').includes('maelstrom'))
      const meta = reader.meta() as { maelstrom?: { workload: string } }
      assert.equal(meta.maelstrom?.workload, 'echo')
    } finally {
      reader.close()
    }
  })
}

test('echo: malformed lines a program prints are counted and reported, and the run goes on', async () => {
  const r = await shortRun({
    workload: 'echo',
    bin: py('echo_noisy.py'),
    nodeCount: 1,
    concurrency: 1,
    rate: 10,
  })
  assert.ok(r.stats.count >= 5)
  assert.equal(r.stats['ok-count'], r.stats.count)
  // Three bad lines per message received (init included).
  assert.ok(r.malformed >= 3 * r.stats.count, `${r.malformed} malformed lines for ${r.stats.count} ops`)
  const reasons = r.nodes[0]!.malformedExamples.map((e) => e.reason)
  assert.ok(reasons.includes('not JSON'))
  assert.ok(reasons.some((x) => /nests deeper/.test(x)))
})
