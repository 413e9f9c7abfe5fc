// `distlab maelstrom test`: a whole Maelstrom test on a distlab cluster. A local cluster (in-process
// or node processes) wraps one node program per node; the harness node beside the master hosts the
// clients and the services; the workload runs at the given rate for the time limit while the
// nemesis injects faults; then everything heals, the final reads run, the workload's checker judges
// the history, and results.json (Maelstrom's shape) is written next to the run's telemetry file.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalCluster } from '../cluster/local.js'
import { Node } from '../node/node.js'
import { loopbackHost } from '../core/ids.js'
import { ClusterError, TimeoutError } from '../core/errors.js'
import type { Protocol, ProtocolComponents, ProtocolFactory } from '../core/interfaces.js'
import type { Envelope } from '../core/envelope.js'
import { readDashboardRecord } from '../monitor/master-extras.js'
import { runsDir } from '../monitor/store.js'
import { HARNESS_NODE, INIT_TIMEOUT_MS, MAELSTROM_PROTO } from './constants.js'
import { maelstromNode, type MaelstromNodeStatus } from './node.js'
import { maelstromHarness, type MaelstromHarness } from './harness.js'
import { Client, HistoryRecorder } from './client.js'
import { createWorkload } from './workloads.js'
import { Nemesis, type NemesisEvent } from './nemesis.js'
import { checkerFor } from './verdict.js'
import type { CheckResult, Validity } from './history.js'
import { resolveTestOptions, type MaelstromTestInit } from './options.js'
import { MaelstromDocker } from './container.js'
import { latencies, netStats, opStats, recordInRun, summarize, type MaelstromResults } from './results.js'
import { NodeClient } from '../client/node-client.js'

export type { MaelstromMode, MaelstromTestInit } from './options.js'
export type { MaelstromResults, NetStats } from './results.js'

class InertProtocol implements Protocol {
  readonly name = MAELSTROM_PROTO
  constructor(private readonly c: ProtocolComponents) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  handle(env: Envelope): void {
    this.c.dropped(env, 'not_a_maelstrom_node')
  }
}

/** A test's id for its containers and network: short, unique on this machine for a while. */
const testIdFor = (t0: number) => `${process.pid.toString(36)}${(t0 % 1_000_000_000).toString(36)}`

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

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
  const nodeIds = Array.from({ length: cfg.nodeCount }, (_, i) => `n${i}`)
  const distlabNames = nodeIds.map((_, i) => `node${i + 1}`)
  const cwd = init.cwd ?? process.cwd()
  const runs = runsDir(init.runsDir)
  const containers =
    cfg.mode === 'docker'
      ? new MaelstromDocker({ testId: testIdFor(t0), bin: init.bin, cwd, image: init.image })
      : undefined
  const cluster = new LocalCluster({
    nodes: cfg.nodeCount,
    mode: cfg.mode === 'process' ? 'process' : 'inproc',
    stateDir: init.stateDir,
    block: cfg.block,
    dashboardPort: init.dashboardPort ?? 0,
    runsDir: runs,
    // Node processes load the whole CLI; on a busy machine that takes many seconds each.
    startTimeoutMs: 60_000 + 500 * cfg.nodeCount,
    protocols: (): ProtocolFactory[] => [
      (c) =>
        /^node[1-9][0-9]*$/.test(c.self.name)
          ? maelstromNode({
              bin: init.bin,
              nodeCount: cfg.nodeCount,
              transport: cfg.transport,
              cwd,
              container: containers?.spec,
            })(c)
          : new InertProtocol(c),
    ],
    nodeCommand: [
      'maelstrom',
      'node',
      '--bin',
      init.bin,
      '--node-count',
      String(cfg.nodeCount),
      '--transport',
      cfg.transport,
    ],
  })
  const recorder = new HistoryRecorder()
  const masterUrl = `http://${loopbackHost(0, cfg.block)}:5000`
  let harnessNode: Node | undefined
  let harness: MaelstromHarness | undefined
  const statuses = new Map<string, MaelstromNodeStatus>()
  const url = (name: string) => {
    const n = cluster.list().find((x) => x.name === name)
    if (!n) throw new ClusterError(`no node named ${name}`)
    return `http://${n.host}:${n.httpPort}`
  }
  const call = (name: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) =>
    new NodeClient({ url: url(name), name }).call(method, path, { body })
  const readStatus = async (name: string) => {
    try {
      const s = (await call(name, 'GET', '/maelstrom')) as MaelstromNodeStatus
      const prev = statuses.get(name)
      // A restarted node counts from zero again: keep the larger tallies seen.
      if (prev && prev.malformed > s.malformed) s.malformed += prev.malformed
      statuses.set(name, s)
      return s
    } catch {
      return undefined
    }
  }
  const waitReady = async (names: string[]) => {
    const deadline = Date.now() + INIT_TIMEOUT_MS + (containers ? 30_000 : 5000)
    for (const name of names) {
      for (;;) {
        const s = await readStatus(name)
        if (s?.ready) break
        if (s?.exit)
          throw new ClusterError(
            `${s.maelstromId}'s program exited before init_ok (${s.exit.signal ?? `code ${s.exit.code}`}); see its log`,
          )
        if (Date.now() > deadline)
          throw new TimeoutError(
            `${s?.maelstromId ?? name} did not answer init with init_ok within ${INIT_TIMEOUT_MS} ms`,
          )
        await sleep(50)
      }
    }
  }
  const setLatency = async (name: string) => {
    if (cfg.latencyMs > 0) await call(name, 'PUT', '/link', { peer: '*', delayMs: cfg.latencyMs })
  }
  const nemesisEvents: NemesisEvent[] = []
  let nemesis: Nemesis | undefined

  let runId: string | undefined
  let runFile: string | undefined
  say(`starting ${cfg.nodeCount} nodes running ${init.bin} (${cfg.mode} mode)`)
  try {
    await containers?.prepare(say)
    await cluster.start()
    harnessNode = new Node({
      name: HARNESS_NODE,
      host: loopbackHost(0, cfg.block),
      httpPort: 0,
      framePort: 0,
      masterUrl,
      membersRefreshMs: 1000,
      protocols: [maelstromHarness(cfg.transport)],
    })
    await harnessNode.start()
    harness = harnessNode.protocol<MaelstromHarness>(MAELSTROM_PROTO)!
    if (cfg.latencyMs > 0) harnessNode.links.setRule('*', { delayMs: cfg.latencyMs })
    await waitReady(distlabNames)
    for (const n of distlabNames) await setLatency(n)
    say(`all ${cfg.nodeCount} programs answered init`)

    // Setup (broadcast's topology): one request per node, from client c0's process -1 ... not in the history.
    if (workload.setup) {
      for (const { node, body } of workload.setup(nodeIds)) {
        const r = await harness.request('c0', node, body, cfg.timeoutMs)
        if (r.reply?.type !== `${body.type}_ok`)
          say(`${node} answered ${body.type} with ${r.reply ? r.reply.type : 'nothing'}`)
      }
    }

    const clients = Array.from(
      { length: cfg.concurrency },
      (_, i) =>
        new Client(
          {
            id: `c${i + 1}`,
            node: nodeIds[i % cfg.nodeCount]!,
            process: i,
            processStride: cfg.concurrency,
            timeoutMs: cfg.timeoutMs,
          },
          harness!,
          workload,
          recorder,
        ),
    )
    const target = {
      nodes: () => distlabNames,
      partition: async (groups: string[][]) => {
        for (const n of distlabNames) if (cluster.running(n)) await call(n, 'POST', '/partition', { groups })
      },
      heal: async () => {
        for (const n of distlabNames)
          if (cluster.running(n)) {
            await call(n, 'POST', '/heal', {})
            await setLatency(n)
          }
      },
      kill: async (n: string) => {
        const s = await readStatus(n)
        // Docker mode: SIGKILL to the program's container first (a crash of its machine).
        if (containers) await call(n, 'POST', '/maelstrom/crash', {})
        await cluster.kill(n, 'SIGKILL')
        // The program is the node process's child: kill -9 it too, as a crash of the machine would.
        if (cfg.mode === 'process' && s?.pid) {
          try {
            process.kill(s.pid, 'SIGKILL')
          } catch {
            // already gone with its parent
          }
        }
      },
      restart: async (n: string) => {
        await cluster.restart(n)
        await waitReady([n])
        await setLatency(n)
      },
      pause: async (n: string) => {
        await call(n, 'POST', '/maelstrom/pause', {})
      },
      resume: async (n: string) => {
        await call(n, 'POST', '/maelstrom/resume', {})
      },
    }
    nemesis = new Nemesis(target, init.nemesis ?? [], cfg.nemesisIntervalS * 1000, () => recorder.now())
    say(
      `running ${init.workload} for ${cfg.timeLimitS} s at ${cfg.rate} ops/s with ${cfg.concurrency} clients${init.nemesis?.length ? `, nemesis ${init.nemesis.join(',')}` : ''}`,
    )
    nemesis.start()
    const endAt = Date.now() + cfg.timeLimitS * 1000
    const perClientGapMs = (1000 * cfg.concurrency) / cfg.rate
    let done = 0
    const progress = setInterval(
      () => say(`${done} operations, ${Math.max(0, Math.round((endAt - Date.now()) / 1000))} s left`),
      5000,
    )
    progress.unref()
    try {
      await Promise.all(
        clients.map(async (c, i) => {
          // Clients start spread over one gap, so that they do not all fire at once.
          let next = Date.now() + (perClientGapMs * i) / cfg.concurrency
          for (;;) {
            const wait = next - Date.now()
            if (wait > 0) await sleep(wait)
            if (Date.now() >= endAt) return
            await c.invoke(workload.next(c.init.id))
            done++
            next += perClientGapMs * (0.5 + Math.random())
          }
        }),
      )
    } finally {
      clearInterval(progress)
    }
    say(`${done} operations done; healing`)
    await nemesis.stop()
    for (const e of nemesis.events) nemesisEvents.push(e)
    await target.heal().catch(() => {})
    for (const n of distlabNames) if (!cluster.running(n)) await target.restart(n).catch(() => {})

    if (workload.finalRead) {
      say(`waiting ${cfg.recoveryMs} ms for the nodes to converge, then a final read on every node`)
      await sleep(cfg.recoveryMs)
      await Promise.all(
        nodeIds.map(async (node, i) => {
          const c = new Client(
            {
              id: `c${cfg.concurrency + i + 1}`,
              node,
              process: cfg.concurrency * 1000 + i,
              processStride: cfg.nodeCount,
              timeoutMs: cfg.timeoutMs,
            },
            harness!,
            workload,
            recorder,
          )
          for (let attempt = 0; attempt < 3; attempt++)
            if ((await c.invoke(workload.finalRead!())) === 'ok') break
        }),
      )
    }
    for (const n of distlabNames) await readStatus(n)
  } finally {
    nemesis?.stop().catch(() => {})
    const dash = readDashboardRecord(init.stateDir)
    runId = dash?.runId
    runFile = dash?.runFile
    await harnessNode?.stop().catch(() => {})
    await cluster.stop().catch(() => {})
    await containers?.cleanup().catch(() => {})
  }

  // ---- verdict ----
  const history = recorder.history
  say(`checking ${history.length / 2} operations`)
  let workloadResult: CheckResult
  try {
    workloadResult = checkerFor(init.workload)(history, {
      timeBudgetMs: init.checkerBudgetMs ?? 30_000,
      ...(cfg.consistencyModels ? { consistencyModels: cfg.consistencyModels } : {}),
    })
  } catch (err) {
    workloadResult = {
      valid: 'unknown',
      anomalies: {},
      reason: `the checker failed: ${(err as Error).message}`,
    }
  }
  const stats = opStats(history)
  const okFraction = stats.count > 0 ? stats['ok-count'] / stats.count : null
  const required = cfg.availability
  const availabilityValid =
    required === undefined
      ? true
      : required === 'total'
        ? stats['ok-count'] === stats.count
        : (okFraction ?? 0) >= required
  const nodes = [...statuses.values()].map((s) => ({
    maelstromId: s.maelstromId,
    ready: s.ready,
    malformed: s.malformed,
    malformedExamples: s.malformedExamples,
    unroutable: s.unroutable,
  }))
  const malformed = nodes.reduce((a, n) => a + n.malformed, 0)
  const net = netStats(runFile, stats.count, harness)
  let valid: Validity = workloadResult.valid
  if (!availabilityValid && valid !== false) valid = false
  const summary = summarize(valid, workloadResult, {
    'ok-fraction': okFraction,
    required,
    valid: availabilityValid,
  })
  const outDir = join(runs, 'maelstrom', runId ?? `run-${t0}`)
  mkdirSync(outDir, { recursive: true })
  const opFrames: MaelstromResults['opFrames'] = {}
  for (const [i, f] of recorder.frames) opFrames[String(i)] = f
  const results: MaelstromResults = {
    valid,
    workload: init.workload,
    summary,
    opts: {
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
    },
    run: {
      id: runId,
      file: runFile,
      results: join(outDir, 'results.json'),
      history: join(outDir, 'history.json'),
      mode: cfg.mode,
    },
    workloadResult,
    stats,
    availability: { 'ok-fraction': okFraction, required, valid: availabilityValid },
    net,
    latencies: latencies(history),
    nodes,
    malformed,
    nemesis: nemesisEvents,
    opFrames,
    durationMs: Date.now() - t0,
  }
  writeFileSync(results.run.history, JSON.stringify(history))
  writeFileSync(results.run.results, JSON.stringify(results, null, 2))
  if (runFile) recordInRun(runFile, results)
  return results
}
