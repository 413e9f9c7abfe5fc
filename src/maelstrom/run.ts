// `distlab maelstrom test`: a whole Maelstrom test on a distlab cluster. A local cluster (in-process
// or node processes) wraps one node program per node; the harness node beside the master hosts the
// clients and the services; the workload runs at the given rate for the time limit while the
// nemesis injects faults; then everything heals, the final reads run, the workload's checker judges
// the history, and results.json (Maelstrom's shape) is written next to the run's telemetry file.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runsDir } from '../monitor/store.js'
import { createWorkload } from './workloads.js'
import { checkerFor } from './verdict.js'
import type { CheckResult, History, Validity } from './history.js'
import { resolveTestOptions, type MaelstromTestInit } from './options.js'
import { latencies, netStats, opStats, recordInRun, summarize, type MaelstromResults } from './results.js'
import { MaelstromSession, type TestConfig } from './session.js'

export type { MaelstromMode, MaelstromTestInit } from './options.js'
export type { MaelstromResults, NetStats } from './results.js'

/** Runs one Maelstrom test and returns (and writes) its results. */
export async function runMaelstromTest(init: MaelstromTestInit): Promise<MaelstromResults> {
  const cfg = resolveTestOptions(init)
  const t0 = Date.now()
  const say = init.onProgress ?? (() => {})
  const workload = createWorkload(init.workload, {
    keyCount: init.keyCount,
    maxTxnLength: init.maxTxnLength,
    topology: init.topology,
  })
  const runs = runsDir(init.runsDir)
  const session = new MaelstromSession(init, cfg, workload, runs, t0, say)
  let run: { runId: string | undefined; runFile: string | undefined }
  say(`starting ${cfg.nodeCount} nodes running ${init.bin} (${cfg.mode} mode)`)
  try {
    await session.start()
    await session.setup()
    say(
      `running ${init.workload} for ${cfg.timeLimitS} s at ${cfg.rate} ops/s with ${cfg.concurrency} clients${init.nemesis?.length ? `, nemesis ${init.nemesis.join(',')}` : ''}`,
    )
    session.startNemesis()
    const done = await session.runClients()
    say(`${done} operations done; healing`)
    await session.calm()
    await session.finalReads()
    await session.readAllStatuses()
  } finally {
    run = await session.close()
  }
  const history = session.recorder.history
  say(`checking ${history.length / 2} operations`)
  const workloadResult = judge(init, cfg, history)
  const outDir = join(runs, 'maelstrom', run.runId ?? `run-${t0}`)
  const results = report(init, cfg, session, workloadResult, { ...run, outDir, t0 })
  mkdirSync(outDir, { recursive: true })
  writeFileSync(results.run.history, JSON.stringify(history))
  writeFileSync(results.run.results, JSON.stringify(results, null, 2))
  if (run.runFile) recordInRun(run.runFile, results)
  return results
}

/** The workload's checker on the history; a checker that throws gives unknown with the reason. */
function judge(init: MaelstromTestInit, cfg: TestConfig, history: History): CheckResult {
  try {
    return checkerFor(init.workload)(history, {
      timeBudgetMs: init.checkerBudgetMs ?? 30_000,
      ...(cfg.consistencyModels ? { consistencyModels: cfg.consistencyModels } : {}),
    })
  } catch (err) {
    return { valid: 'unknown', anomalies: {}, reason: `the checker failed: ${(err as Error).message}` }
  }
}

/** results.json: the verdict (the checker's and availability's), the options, stats and the run. */
function report(
  init: MaelstromTestInit,
  cfg: TestConfig,
  session: MaelstromSession,
  workloadResult: CheckResult,
  run: { runId: string | undefined; runFile: string | undefined; outDir: string; t0: number },
): MaelstromResults {
  const history = session.recorder.history
  const stats = opStats(history)
  const okFraction = stats.count > 0 ? stats['ok-count'] / stats.count : null
  const required = cfg.availability
  const availabilityValid =
    required === undefined
      ? true
      : required === 'total'
        ? stats['ok-count'] === stats.count
        : (okFraction ?? 0) >= required
  const availability = { 'ok-fraction': okFraction, required, valid: availabilityValid }
  const nodes = [...session.statuses.values()].map((s) => ({
    maelstromId: s.maelstromId,
    ready: s.ready,
    malformed: s.malformed,
    malformedExamples: s.malformedExamples,
    unroutable: s.unroutable,
  }))
  let valid: Validity = workloadResult.valid
  if (!availabilityValid && valid !== false) valid = false
  const opFrames: MaelstromResults['opFrames'] = {}
  for (const [i, f] of session.recorder.frames) opFrames[String(i)] = f
  return {
    valid,
    workload: init.workload,
    summary: summarize(valid, workloadResult, availability),
    opts: testOpts(init, cfg),
    run: {
      id: run.runId,
      file: run.runFile,
      results: join(run.outDir, 'results.json'),
      history: join(run.outDir, 'history.json'),
      mode: cfg.mode,
    },
    workloadResult,
    stats,
    availability,
    net: netStats(run.runFile, stats.count, session.harness),
    latencies: latencies(history),
    nodes,
    malformed: nodes.reduce((a, n) => a + n.malformed, 0),
    nemesis: session.nemesisEvents,
    opFrames,
    durationMs: Date.now() - run.t0,
  }
}

function testOpts(init: MaelstromTestInit, cfg: TestConfig): MaelstromResults['opts'] {
  return {
    nodeCount: cfg.nodeCount,
    timeLimitS: cfg.timeLimitS,
    rate: cfg.rate,
    latencyMs: cfg.latencyMs,
    concurrency: cfg.concurrency,
    topology: init.topology ?? 'grid',
    nemesis: init.nemesis ?? [],
    nemesisIntervalS: cfg.nemesisIntervalS,
    availability: cfg.availability ?? null,
    transport: cfg.transport,
    consistencyModels: cfg.consistencyModels,
    bin: init.bin,
  }
}
