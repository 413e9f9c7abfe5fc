// `--mode process` with `--nemesis kill`: each program runs under its own distlab node process; a
// killed node (kill -9 of the process and its program) comes back with a fresh program that is sent
// init again, and a gossiping broadcast node still ends with every acknowledged value everywhere.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import type { History } from '../../src/maelstrom/history.js'
import { py, shortRun } from './helpers.js'

test('process mode under --nemesis kill,partition: killed nodes restart, init again, and catch up', async () => {
  const r = await shortRun({
    workload: 'broadcast',
    bin: py('broadcast.py'),
    mode: 'process',
    nemesis: ['kill', 'partition'],
    nemesisIntervalS: 0.8,
    timeLimitS: 4,
    recoveryMs: 3000,
    timeoutMs: 2000,
  })
  assert.equal(r.run.mode, 'process')
  assert.ok(r.nemesis.length >= 2, `nemesis acted: ${JSON.stringify(r.nemesis)}`)
  assert.ok(
    r.nemesis.every((e) => e.ok),
    JSON.stringify(r.nemesis.filter((e) => !e.ok)),
  )
  const h = JSON.parse(readFileSync(r.run.history, 'utf8')) as History
  const finals = h.filter(
    (o) => o.type === 'ok' && o.f === 'read' && o.client !== undefined && Number(o.client.slice(1)) > 3,
  )
  assert.equal(finals.length, 3, 'every node answered its final read')
  // A killed node's program loses what it held; the others gossip it back. Values acknowledged by
  // a node killed before it gossiped them may be lost for good: the checker's verdict says so.
  assert.notEqual(r.valid, 'unknown')
  assert.ok(r.stats['ok-count'] > 0)
})
