// Fault scenarios as users run them: `distlab scenario run <file> --json` on the shipped files, the
// library on another, a keyed cluster, and the verdicts for a bad file and a fault that cannot be
// injected. Clusters run in process, each test's on a block of its own (127.90.x.y and 127.171-174),
// three tests at a time: a scenario mostly waits (sends at intervals, steps' waits, settling).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { loadScenario, parseScenario, runScenario, type ScenarioReport } from '../../src/scenario/index.js'
import { runCli, scratchDir } from '../helpers.js'
import { assertClean, shipped } from './shared.js'

describe('fault scenarios', { timeout: 300_000, concurrency: 3 }, () => {
  test('distlab scenario run on the shipped unicast scenario: kill -9, partition, lossy links; PASS', async () => {
    const r = await runCli(
      [
        '--state-dir',
        scratchDir(),
        'scenario',
        'run',
        shipped('unicast-crash-loss.yaml'),
        '--block',
        '90',
        '--json',
      ],
      { timeoutMs: 120_000 },
    )
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const report = JSON.parse(r.stdout) as ScenarioReport
    assert.equal(report.faults, 6)
    assert.ok(report.steps.some((s) => s.step === 'kill -9 node4' && s.ok))
    assertClean(report)
  })

  test('the shipped broadcast scenario through the library: every acked broadcast reaches every node once', async () => {
    const report = await runScenario(loadScenario(shipped('broadcast-partition.yaml')), {
      stateDir: scratchDir(),
      block: 171,
    })
    assert.equal(report.faults, 5)
    assertClean(report)
    // Every node up at the end (five with the master) must have every acknowledged broadcast.
    assert.equal(report.workloads[0]!.expected, report.workloads[0]!.acknowledged * 5)
  })

  test('the shipped multicast scenario: every member has every acknowledged message once, the first one too', async () => {
    // The members join just before the first send; the runner waits until the sender has heard of
    // every join (group state spreads by broadcast), or message 0 went to the first member only.
    const report = await runScenario(loadScenario(shipped('multicast-loss.yaml')), {
      stateDir: scratchDir(),
      block: 172,
    })
    assert.equal(report.faults, 3)
    assertClean(report)
    assert.equal(report.workloads[0]!.expected, report.workloads[0]!.acknowledged * 3)
  })

  test('a keyed cluster runs the same way: frames authenticated, API calls with the token', async () => {
    // Settling ends as soon as nothing is lost; its bound allows for a loaded machine: a receiver
    // acknowledges messages behind a lost one and delivers them once that one arrives, and its
    // retransmission timer, stretched by late round trips and doubled per loss (up to 4 s), failed
    // the 8 s bound once at load 13 (15 acknowledged messages still waiting behind one).
    const s = parseScenario(`
name: keyed unicast and p2p
cluster: { nodes: 3, key: "scenario test key" }
workloads:
  - { kind: unicast, pairs: [[node1, node2]], messages: 20, interval: 20ms }
  - { kind: p2p, pairs: [[node3, node1]], messages: 10, interval: 30ms }
steps:
  - link: { from: node1, to: node2, loss: 0.3, duplicate: 0.3 }
  - wait: 500ms
settle: 20s
`)
    const report = await runScenario(s, { stateDir: scratchDir(), block: 173 })
    assert.equal(report.keyed, true)
    assertClean(report)
  })

  test('a bad file exits 2 naming the field; a fault that cannot be injected fails the run (exit 1)', async () => {
    const dir = scratchDir()
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'name: x\nworkloads:\n  - { kind: unicast, pairs: [[node1, node9]] }\n')
    const r = await runCli(['--state-dir', dir, 'scenario', 'run', bad], { timeoutMs: 30_000 })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /workloads\.0\.pairs: no node named node9/)
    const broken = join(dir, 'broken.yaml')
    writeFileSync(
      broken,
      [
        'name: a link rule on a dead node',
        'cluster: { nodes: 2 }',
        'workloads: [{ kind: unicast, pairs: [[node1, node2]], messages: 5, interval: 20ms }]',
        'steps: [{ kill: node2 }, { link: { from: node2, loss: 0.5 } }]',
        'settle: 1s',
      ].join('\n'),
    )
    const f = await runCli(['--state-dir', dir, 'scenario', 'run', broken, '--block', '174'], {
      timeoutMs: 90_000,
    })
    assert.equal(f.code, 1, f.stderr + f.stdout)
    assert.match(f.stdout, /FAIL {2}every fault was injected/)
    assert.match(f.stdout, /verdict: FAIL/)
  })
})
