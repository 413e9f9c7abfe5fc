// g-set, pn-counter, kafka and the txn workloads end to end through `distlab maelstrom test`, with
// the project's Python test nodes (Debian's python3, standard library only): a correct node is
// judged valid, a deliberately broken one invalid with its anomaly named; and --consistency-models
// reaches the txn checker (a model that allows the anomaly makes the same broken node valid).
// Three runs at a time, each on a loopback block of its own: a run mostly waits on its time limit.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { runCli, scratchDir } from '../helpers.js'
import type { MaelstromResults } from '../../src/maelstrom/run.js'
import { blockPool, historyOf, oks, py } from './helpers.js'

/** This file's loopback blocks: 127.63.0.0/16, and 127.162 and 127.163 for the runs beside it. */
const withBlock = blockPool([63, 162, 163])

async function maelstromTest(
  workload: string,
  bin: string,
  extra: string[] = [],
): Promise<{ code: number | null; r: MaelstromResults; stderr: string }> {
  const dir = scratchDir('distlab-maelstrom-cli-')
  const cli = (block: number) =>
    runCli(
      [
        '--state-dir',
        join(dir, 'state'),
        'maelstrom',
        'test',
        '-w',
        workload,
        '--bin',
        bin,
        '--node-count',
        '3',
        '--time-limit',
        '5',
        '--rate',
        '20',
        '--recovery',
        '1500',
        '--block',
        String(block),
        '--json',
        ...extra,
      ],
      { env: { DISTLAB_RUNS_DIR: join(dir, 'runs') }, timeoutMs: 120_000 },
    )
  const res = await withBlock(cli)
  assert.ok(res.stdout.trim().startsWith('{'), `no JSON on stdout (exit ${res.code}): ${res.stderr}`)
  return { code: res.code, r: JSON.parse(res.stdout) as MaelstromResults, stderr: res.stderr }
}

describe('distlab maelstrom test: more workloads', { concurrency: 3 }, () => {
  test('g-set: a gossiping Python node is valid, and every node reads every acknowledged add at the end', async () => {
    const { code, r, stderr } = await maelstromTest('g-set', py('g_set.py'))
    assert.equal(r.valid, true, r.summary)
    assert.equal(code, 0, stderr)
    const h = historyOf(r)
    const added = oks(h, 'add').map((o) => o.value as number)
    const outcomes = h.filter((o) => o.f === 'add' && o.type !== 'invoke').map((o) => o.type)
    assert.ok(added.length >= 10, `only ${added.length} adds ok; all outcomes: ${outcomes.join(' ')}`)
    const finals = new Map<string, number[]>()
    for (const o of oks(h, 'read')) finals.set(o.node!, o.value as number[])
    assert.equal(finals.size, 3)
    for (const [node, read] of finals)
      for (const a of added) assert.ok(read.includes(a), `${node} misses ${a}`)
    assert.ok(r.net.servers['send-count'] > 0, 'the nodes gossiped over distlab frames')
  })

  test('pn-counter: a PN-counter CRDT node (increments and decrements) is valid', async () => {
    const { code, r, stderr } = await maelstromTest('pn-counter', py('pn_counter.py'))
    assert.equal(r.valid, true, r.summary)
    assert.equal(code, 0, stderr)
    const h = historyOf(r)
    const deltas = oks(h, 'add').map((o) => o.value as number)
    assert.ok(
      deltas.some((d) => d < 0),
      'some adds were negative',
    )
    const sum = deltas.reduce((a, b) => a + b, 0)
    const finals = new Map<string, number>()
    for (const o of oks(h, 'read')) finals.set(o.node!, o.value as number)
    assert.equal(finals.size, 3)
    // No faults, so every node ends with the same count: the acknowledged adds, plus whichever of the
    // adds that timed out (info, on a loaded machine: one was seen) were applied after all.
    const unsure = h.filter((o) => o.f === 'add' && o.type === 'info').map((o) => o.value as number)
    let reachable = new Set([sum])
    for (const d of unsure) reachable = new Set([...reachable, ...[...reachable].map((x) => x + d)])
    for (const [node, v] of finals)
      assert.ok(
        reachable.has(v),
        `${node} read ${v}: the acknowledged adds sum to ${sum}, and ${unsure.length} more are unsure (${unsure.join(', ')})`,
      )
    assert.equal(new Set(finals.values()).size, 1, `the nodes read ${[...finals.values()].join(', ')}`)
  })

  test('kafka: a single-node log (n0, committed offsets in lin-kv) is valid', async () => {
    const { code, r, stderr } = await maelstromTest('kafka', py('kafka.py'))
    assert.equal(r.valid, true, r.summary)
    assert.equal(code, 0, stderr)
    const h = historyOf(r)
    assert.ok(oks(h, 'send').length >= 10)
    assert.ok(
      oks(h, 'poll').some((o) =>
        Object.values(o.value as Record<string, unknown[]>).some((l) => l.length > 0),
      ),
      'a poll returned messages',
    )
    assert.ok(oks(h, 'commit_offsets').length > 0 || oks(h, 'list_committed_offsets').length > 0)
  })

  test('kafka: a log that acknowledges a send but never stores it is invalid: lost-write and poll-skip named', async () => {
    const { code, r, stderr } = await maelstromTest('kafka', `${py('kafka.py')} --lose-every 3`)
    assert.equal(r.valid, false)
    assert.equal(code, 1, stderr)
    const kinds = Object.keys(r.workloadResult.anomalies)
    assert.ok(kinds.includes('lost-write'), kinds.join(', '))
    assert.ok(
      kinds.some((k) => k === 'poll-skip' || k === 'int-poll-skip'),
      kinds.join(', '),
    )
    assert.match(r.summary, /lost-write/)
  })

  test('txn-rw-register: a single-leader node is valid (serializable by default)', async () => {
    const { code, r, stderr } = await maelstromTest('txn-rw-register', py('txn.py'))
    assert.equal(r.valid, true, r.summary)
    assert.equal(code, 0, stderr)
    assert.deepEqual(r.opts.consistencyModels, ['serializable'])
    const reads = oks(historyOf(r), 'txn').filter((o) =>
      (o.value as unknown[][]).some((m) => m[0] === 'r' && m[2] !== null),
    )
    assert.ok(reads.length > 0, 'some transactions read written values')
  })

  test('txn-rw-register: writes of aborted transactions that stay visible are G1a, invalid; read-uncommitted allows it', async () => {
    const broken = `${py('txn.py')} --leak-aborts 2`
    const { code, r, stderr } = await maelstromTest('txn-rw-register', broken)
    assert.equal(r.valid, false)
    assert.equal(code, 1, stderr)
    assert.ok('G1a' in r.workloadResult.anomalies, Object.keys(r.workloadResult.anomalies).join(', '))
    assert.match(r.summary, /G1a/)

    const lax = await maelstromTest('txn-rw-register', broken, ['--consistency-models', 'read-uncommitted'])
    assert.deepEqual(lax.r.opts.consistencyModels, ['read-uncommitted'])
    assert.ok(!('G1a' in lax.r.workloadResult.anomalies) || lax.r.valid === true)
    assert.equal(lax.r.valid, true, lax.r.summary)
    assert.equal(lax.code, 0)
  })

  test('txn-list-append: a single-leader node is valid', async () => {
    const { code, r, stderr } = await maelstromTest('txn-list-append', py('txn.py'))
    assert.equal(r.valid, true, r.summary)
    assert.equal(code, 0, stderr)
    const lists = oks(historyOf(r), 'txn').filter((o) =>
      (o.value as unknown[][]).some((m) => m[0] === 'r' && Array.isArray(m[2]) && m[2].length > 1),
    )
    assert.ok(lists.length > 0, 'some reads saw lists of several appends')
  })

  test('--consistency-models: a model the checker does not judge is a usage error (exit 2, one line)', async () => {
    const dir = scratchDir('distlab-maelstrom-cli-')
    for (const [model, pattern] of [
      ['snapshot-isolation', /snapshot-isolation is a Maelstrom model distlab's checker does not judge/],
      ['bogus', /unknown model bogus/],
    ] as const) {
      const res = await runCli(
        [
          '--state-dir',
          join(dir, 'state'),
          'maelstrom',
          'test',
          '-w',
          'txn-list-append',
          '--bin',
          py('txn.py'),
          '--consistency-models',
          `serializable,${model}`,
        ],
        { timeoutMs: 60_000 },
      )
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /^distlab: /)
      assert.match(res.stderr, pattern)
    }
  })
})
