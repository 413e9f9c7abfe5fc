// The download and anycast workloads of `distlab scenario run`: the shipped scenarios pass (the
// download's master crashes twice and the line server drops every connection; anycast replicas are
// killed and restarted), a download whose master keeps no journal fails the loss check, and the two
// checkers fail on evidence of a loss or a double count. Clusters run in process, each test's on a
// block of its own (127.93.x.y, 127.169, 127.170), side by side: a scenario mostly waits.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import {
  anycastVerdict,
  downloadVerdict,
  loadScenario,
  parseScenario,
  runScenario,
  type ScenarioReport,
} from '../../src/scenario/index.js'
import { runCli, scratchDir } from '../helpers.js'
import { assertClean, shipped } from './shared.js'

describe('download and anycast scenarios', { timeout: 300_000, concurrency: true }, () => {
  test('distlab scenario run on the shipped download scenario: two master crashes, a line-server restart; PASS', async () => {
    const r = await runCli(
      [
        '--state-dir',
        scratchDir(),
        'scenario',
        'run',
        shipped('download-master-crash.yaml'),
        '--block',
        '93',
        '--json',
      ],
      { timeoutMs: 150_000 },
    )
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const report = JSON.parse(r.stdout) as ScenarioReport
    assert.equal(report.faults, 3)
    assert.equal(report.steps.filter((s) => s.step === 'crash the download master' && s.ok).length, 2)
    assertClean(report)
    const w = report.workloads[0]!
    assert.equal(w.kind, 'download')
    assert.equal(w.acknowledged, 300)
    // Each successor started from what its predecessor had: two takeovers, each from the journal.
    assert.match(
      w.detail!,
      /2 master crash\(es\), masters in turn: 0 \(from journal 0\), \d+ \(from journal [1-9]\d*\), \d+ \(from journal [1-9]\d*\)/,
    )
    const submit = report.checks.find((c) => c.name.startsWith('download: SUBMIT SUCCESS'))!
    assert.equal(submit.passed, true)
    assert.match(submit.detail, /^SUBMIT SUCCESS: scenario-0 - 127\.93\.201\.\d - 300, 0, 300,/)
  })

  test('the shipped anycast scenario through the library: replicas killed and restarted, every answer served once', async () => {
    const report = await runScenario(loadScenario(shipped('anycast-failover.yaml')), {
      stateDir: scratchDir(),
      block: 169,
    })
    assert.equal(report.faults, 4)
    assert.ok(
      report.steps.every((s) => s.ok),
      JSON.stringify(report.steps),
    )
    assertClean(report)
    const w = report.workloads[0]!
    assert.equal(w.kind, 'anycast')
    // Every request got an answer: the client failed over while a replica was down.
    assert.equal(w.acknowledged, w.sent)
    // Two replicas were restarted: each reports two incarnations.
    assert.match(w.detail!, /node1 answered \d+, served \d+\+\d+/)
    assert.match(w.detail!, /node2 answered \d+, served \d+\+\d+/)
  })

  test('a download whose master keeps no journal: its successor starts with nothing, and the check FAILS', async () => {
    const text = readFileSync(shipped('download-master-crash.yaml'), 'utf8')
      .replace('journal: true', 'journal: false')
      .replace(/ {2}- wait: 800ms\n {2}- restartLineServer: true\n/, '')
    const s = parseScenario(text)
    assert.equal(s.workloads[0]!.kind === 'download' && s.workloads[0]!.journal, false)
    const report = await runScenario(s, { stateDir: scratchDir(), block: 170 })
    assert.equal(report.passed, false)
    const lostCheck = report.checks.find((c) => c.name === 'nothing acknowledged was lost')!
    assert.equal(lostCheck.passed, false, lostCheck.detail)
    const w = report.workloads[0]!
    assert.ok(w.lost > 0)
    assert.match(w.lostKeys[0]!, /^master 0 held \d+ lines; master 1 started with 0$/)
  })

  test('a crashClient step needs a download workload and a rank that exists', () => {
    assert.throws(
      () =>
        parseScenario(
          'name: x\nworkloads: [{ kind: anycast, servers: [node1] }]\nsteps: [{ crashClient: master }]\n',
        ),
      {
        code: 'ERR_INVALID_ARGUMENT',
        message: /steps\.0\.crashClient: the scenario has no download workload/,
      },
    )
    assert.throws(
      () =>
        parseScenario('name: x\nworkloads: [{ kind: download, clients: 2 }]\nsteps: [{ crashClient: 2 }]\n'),
      { code: 'ERR_INVALID_ARGUMENT', message: /no client of rank 2/ },
    )
    assert.throws(() => parseScenario('name: x\nworkloads: [{ kind: anycast, servers: [node7] }]\n'), {
      message: /workloads\.0\.servers: no node named node7/,
    })
  })
})

describe('the download and anycast checkers fail when they should', () => {
  const text = ['zero', 'one', 'two', 'three']
  const good = {
    submitted: true,
    submitReply: 'SUBMIT SUCCESS: id - 127.0.0.1 - 4, 0, 4, 9, 1.0',
    masters: [
      { rank: 0, fromJournal: 0, t: 0 },
      { rank: 1, fromJournal: 2, t: 1 },
    ],
    lines: 4,
    requests: 12,
    text,
  }
  const journal = (ns: number[]) => ns.map((n) => ({ n, text: text[n]! }))

  test('download: a clean run passes', () => {
    const v = downloadVerdict({
      lines: 4,
      text,
      crashes: [
        {
          rank: 0,
          held: 2,
          journal: new Map([
            [0, 'zero'],
            [2, 'two'],
          ]),
        },
      ],
      result: good,
      journalEntries: journal([0, 2, 1, 3]),
      served: 12,
    })
    assert.equal(v.lost, 0)
    assert.equal(v.duplicates, 0)
    assert.equal(v.delivered, v.expected)
    assert.ok(v.checks.every((c) => c.passed))
  })

  test('download: a successor that starts with fewer lines than its predecessor held is a loss', () => {
    const v = downloadVerdict({
      lines: 4,
      text,
      crashes: [{ rank: 0, held: 3 }],
      result: good,
      served: 12,
    })
    assert.equal(v.lost, 1)
    assert.match(v.lostKeys[0]!, /master 0 held 3 lines; master 1 started with 2/)
  })

  test('download: a line journaled twice, or submitted twice, is counted twice', () => {
    const v = downloadVerdict({
      lines: 4,
      text,
      crashes: [],
      result: { ...good, submitReply: 'SUBMIT SUCCESS: id - 127.0.0.1 - 4, 1, 5, 9, 1.0' },
      journalEntries: journal([0, 1, 1, 2, 3]),
      served: 12,
    })
    assert.equal(v.duplicates, 2)
    assert.equal(v.checks.find((c) => c.name.includes('SUBMIT SUCCESS'))!.passed, false)
  })

  test('download: a failed download or a wrong journaled line fails its check', () => {
    const failed = downloadVerdict({ lines: 4, text, crashes: [], error: 'every client has died', served: 3 })
    assert.equal(failed.checks[0]!.passed, false)
    assert.match(failed.checks[0]!.detail, /every client has died/)
    const wrong = downloadVerdict({
      lines: 4,
      text,
      crashes: [],
      result: good,
      journalEntries: [...journal([0, 1, 2]), { n: 3, text: 'THREE' }],
      served: 12,
    })
    assert.equal(wrong.checks.find((c) => c.name.includes('journaled line'))!.passed, false)
  })

  test('anycast: an answer its replica has no record of is lost; a connection served beyond the answers is a duplicate', () => {
    const clean = anycastVerdict({
      requests: 5,
      answered: { node1: 3, node2: 2 },
      served: { node1: [1, 2], node2: [2] },
    })
    assert.equal(clean.lost + clean.duplicates, 0)
    assert.equal(clean.acknowledged, 5)
    const lost = anycastVerdict({
      requests: 5,
      answered: { node1: 3, node2: 2 },
      served: { node1: [1], node2: [2] },
    })
    assert.equal(lost.lost, 2)
    assert.match(lost.lostKeys[0]!, /2 answer\(s\) from node1 it did not serve/)
    const twice = anycastVerdict({
      requests: 5,
      answered: { node1: 3, node2: 2 },
      served: { node1: [3], node2: [2, 1] },
    })
    assert.equal(twice.duplicates, 1)
    assert.equal(twice.lost, 0)
  })
})
