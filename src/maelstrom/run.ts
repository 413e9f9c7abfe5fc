// `distlab maelstrom test`: a whole Maelstrom test on a distlab cluster. A local cluster (in-process
// or node processes) wraps one node program per node; the harness node beside the master hosts the
// clients and the services; the workload runs at the given rate for the time limit while the
// nemesis injects faults; then everything heals, the final reads run, the workload's checker judges
// the history, and results.json (Maelstrom's shape) is written next to the run's telemetry file.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { LocalCluster } from '../cluster/local.js'
import { Node } from '../node/node.js'
import { loopbackHost } from '../core/ids.js'
import { ClusterError, InvalidArgumentError, TimeoutError } from '../core/errors.js'
import { checkInteger, checkNumber } from '../core/options.js'
import type { Protocol, ProtocolComponents, ProtocolFactory } from '../core/interfaces.js'
import type { Envelope } from '../core/envelope.js'
import { readDashboardRecord } from '../monitor/master-extras.js'
import { runsDir } from '../monitor/store.js'
import { quantile } from '../monitor/analyzer.js'
import {
  CLIENT_TIMEOUT_MS,
  DEFAULT_NEMESIS_INTERVAL_S,
  DEFAULT_NODE_COUNT,
  DEFAULT_RATE,
  DEFAULT_RECOVERY_MS,
  DEFAULT_TIME_LIMIT_S,
  HARNESS_NODE,
  INIT_TIMEOUT_MS,
  MAELSTROM_PROTO,
} from './constants.js'
import { maelstromNode, type MaelstromNodeStatus } from './node.js'
import { maelstromHarness, type MaelstromHarness } from './harness.js'
import { Client, HistoryRecorder } from './client.js'
import { createWorkload, isWorkloadName, type Topology, type WorkloadName } from './workloads.js'
import { Nemesis, type NemesisEvent, type NemesisFault } from './nemesis.js'
import { checkerFor } from './verdict.js'
import { offendingOps } from './explain.js'
import type { CheckResult, History, Validity } from './history.js'

export type MaelstromMode = 'inproc' | 'process'

export interface MaelstromTestInit {
  workload: WorkloadName
  /** The node program: an executable or a command line. */
  bin: string
  /** @default 5 */
  nodeCount?: number
  /** Seconds the clients run. @default 10 */
  timeLimitS?: number
  /** Operations per second, all clients together. @default 5 */
  rate?: number
  /** Extra delay on every message, in ms (Maelstrom's --latency). @default 0 */
  latencyMs?: number
  /** Clients. @default nodeCount */
  concurrency?: number
  /** @default 'grid' */
  topology?: Topology
  nemesis?: NemesisFault[]
  /** Seconds between nemesis actions. @default 10 */
  nemesisIntervalS?: number
  /** 'total': every operation must succeed; a number: the share of ok operations required. @default none */
  availability?: 'total' | number
  /** @default 'inproc' */
  mode?: MaelstromMode
  /** Keys for lin-kv, kafka and the txn workloads. @default 3 */
  keyCount?: number
  maxTxnLength?: number
  /** Client request timeout in ms. @default 5000 */
  timeoutMs?: number
  /** Wait after healing before the final reads, in ms. @default 3000 */
  recoveryMs?: number
  /** @default 'tcp' */
  transport?: 'udp' | 'tcp'
  /** The local cluster's state dir (its record and logs). */
  stateDir: string
  /** Second octet of every address. @default 0 */
  block?: number
  /** @default 0 (the OS picks) */
  dashboardPort?: number
  /** The node programs' working directory. @default process.cwd() */
  cwd?: string
  /** Where run files and results go. @default runsDir() */
  runsDir?: string
  /** Time budget for the checker, in ms. @default 30000 */
  checkerBudgetMs?: number
  onProgress?: (line: string) => void
}

export interface NetStats {
  'send-count': number
  'msg-count': number
  'msgs-per-op': number | null
}

export interface MaelstromResults {
  valid: Validity
  workload: WorkloadName
  /** Why the run is invalid or unknown, for a person. */
  summary: string
  opts: Record<string, unknown>
  run: { id?: string; file?: string; results: string; history: string; mode: MaelstromMode }
  /** The workload checker's verdict. */
  workloadResult: CheckResult
  stats: {
    count: number
    'ok-count': number
    'fail-count': number
    'info-count': number
    'by-f': Record<string, { count: number; 'ok-count': number; 'fail-count': number; 'info-count': number }>
  }
  availability: { 'ok-fraction': number | null; required?: 'total' | number; valid: boolean }
  net: { all: NetStats; servers: NetStats; clients: NetStats; 'lost-events': number }
  /** Latencies of ok operations in ms, by f, at quantiles 0, 0.5, 0.95, 0.99, 1. */
  latencies: Record<string, Record<string, number | null>>
  nodes: Array<
    Pick<MaelstromNodeStatus, 'maelstromId' | 'ready' | 'malformed' | 'malformedExamples' | 'unroutable'>
  >
  malformed: number
  nemesis: NemesisEvent[]
  /** Client operations whose request or reply frames the dashboard and analyze can show: invoke index → frame ids. */
  opFrames: Record<string, { request: string; reply?: string }>
  durationMs: number
}

class InertProtocol implements Protocol {
  readonly name = MAELSTROM_PROTO
  constructor(private readonly c: ProtocolComponents) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  handle(env: Envelope): void {
    this.c.dropped(env, 'not_a_maelstrom_node')
  }
}

function resolveInit(i: MaelstromTestInit) {
  if (!isWorkloadName(i.workload))
    throw new InvalidArgumentError(`unknown workload ${i.workload}`, 'workload')
  if (typeof i.bin !== 'string' || i.bin.trim() === '')
    throw new InvalidArgumentError('--bin is required', 'bin')
  const nodeCount = checkInteger('nodeCount', i.nodeCount ?? DEFAULT_NODE_COUNT, 1, 1000)
  const mode = i.mode ?? 'inproc'
  if (mode !== 'inproc' && mode !== 'process')
    throw new InvalidArgumentError(`mode must be inproc or process, got ${String(mode)}`, 'mode')
  const availability = i.availability
  if (availability !== undefined && availability !== 'total') checkNumber('availability', availability, 0, 1)
  return {
    nodeCount,
    mode,
    timeLimitS: checkNumber('timeLimitS', i.timeLimitS ?? DEFAULT_TIME_LIMIT_S, 0, 86_400),
    rate: checkNumber('rate', i.rate ?? DEFAULT_RATE, 0.001, 100_000),
    latencyMs: checkNumber('latencyMs', i.latencyMs ?? 0, 0, 60_000),
    concurrency: checkInteger('concurrency', i.concurrency ?? nodeCount, 1, 10_000),
    nemesisIntervalS: checkNumber(
      'nemesisIntervalS',
      i.nemesisIntervalS ?? DEFAULT_NEMESIS_INTERVAL_S,
      0.1,
      86_400,
    ),
    timeoutMs: checkInteger('timeoutMs', i.timeoutMs ?? CLIENT_TIMEOUT_MS, 1, 600_000),
    recoveryMs: checkInteger('recoveryMs', i.recoveryMs ?? DEFAULT_RECOVERY_MS, 0, 600_000),
    transport: i.transport ?? 'tcp',
    block: checkInteger('block', i.block ?? 0, 0, 255),
    availability,
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Runs one Maelstrom test and returns (and writes) its results. */
export async function runMaelstromTest(init: MaelstromTestInit): Promise<MaelstromResults> {
  const cfg = resolveInit(init)
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
  const cluster = new LocalCluster({
    nodes: cfg.nodeCount,
    mode: cfg.mode,
    stateDir: init.stateDir,
    block: cfg.block,
    dashboardPort: init.dashboardPort ?? 0,
    runsDir: runs,
    // Node processes load the whole CLI; on a busy machine that takes many seconds each.
    startTimeoutMs: 60_000 + 500 * cfg.nodeCount,
    protocols: (): ProtocolFactory[] => [
      (c) =>
        /^node[1-9][0-9]*$/.test(c.self.name)
          ? maelstromNode({ bin: init.bin, nodeCount: cfg.nodeCount, transport: cfg.transport, cwd })(c)
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
  const call = async (name: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => {
    const res = await fetch(url(name) + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    })
    const text = await res.text()
    if (!res.ok)
      throw new ClusterError(`${name} ${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`)
    return JSON.parse(text) as unknown
  }
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
    const deadline = Date.now() + INIT_TIMEOUT_MS + 5000
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
  await cluster.start()
  try {
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
  }

  // ---- verdict ----
  const history = recorder.history
  say(`checking ${history.length / 2} operations`)
  let workloadResult: CheckResult
  try {
    workloadResult = checkerFor(init.workload)(history, {
      timeBudgetMs: init.checkerBudgetMs ?? 30_000,
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
  const summary =
    valid === true
      ? 'valid'
      : valid === false
        ? [
            ...Object.entries(workloadResult.anomalies).map(
              ([k, v]) => `${k} (${Array.isArray(v) ? v.length : 1})`,
            ),
            ...(availabilityValid
              ? []
              : [
                  `availability ${okFraction === null ? 'n/a' : okFraction.toFixed(3)} below ${String(required)}`,
                ]),
          ].join(', ') || 'invalid'
        : (workloadResult.reason ?? 'unknown')
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

function opStats(history: History): MaelstromResults['stats'] {
  const out: MaelstromResults['stats'] = {
    count: 0,
    'ok-count': 0,
    'fail-count': 0,
    'info-count': 0,
    'by-f': {},
  }
  for (const op of history) {
    if (op.type === 'invoke') continue
    const f = (out['by-f'][op.f] ??= { count: 0, 'ok-count': 0, 'fail-count': 0, 'info-count': 0 })
    out.count++
    f.count++
    const k = `${op.type}-count` as 'ok-count' | 'fail-count' | 'info-count'
    out[k]++
    f[k]++
  }
  return out
}

function latencies(history: History): MaelstromResults['latencies'] {
  const open = new Map<number, number>()
  const per = new Map<string, number[]>()
  for (const op of history) {
    if (op.type === 'invoke') {
      open.set(op.process, op.time)
      continue
    }
    const t = open.get(op.process)
    open.delete(op.process)
    if (t === undefined || op.type !== 'ok') continue
    const list = per.get(op.f) ?? []
    per.set(op.f, list)
    list.push((op.time - t) / 1e6)
  }
  const out: MaelstromResults['latencies'] = {}
  for (const [f, list] of per) {
    list.sort((a, b) => a - b)
    const q: Record<string, number | null> = {}
    for (const at of [0, 0.5, 0.95, 0.99, 1]) {
      const v = at === 0 ? (list[0] ?? null) : quantile(list, at)
      q[String(at)] = v === null ? null : Math.round(v * 1000) / 1000
    }
    out[f] = q
  }
  return out
}

/** Messages per operation from the run's telemetry (every send of a Maelstrom frame). */
function netStats(
  file: string | undefined,
  ops: number,
  harness: MaelstromHarness | undefined,
): MaelstromResults['net'] {
  const empty = (n: number): NetStats => ({
    'send-count': n,
    'msg-count': n,
    'msgs-per-op': ops > 0 ? n / ops : null,
  })
  let all = 0
  let servers = 0
  let lost = 0
  if (file && existsSync(file)) {
    const db = new Database(file, { readonly: true })
    try {
      const rows = db
        .prepare(
          `SELECT (src LIKE 'node%') AND (dst LIKE 'node%') AS srv, count(*) AS n FROM events WHERE proto = ? AND kind = 'send' GROUP BY srv`,
        )
        .all(MAELSTROM_PROTO) as Array<{ srv: number; n: number }>
      for (const r of rows) {
        all += r.n
        if (r.srv) servers += r.n
      }
      const m = db.prepare(`SELECT value FROM meta WHERE key = 'lostEvents'`).get() as
        { value: string } | undefined
      lost = m ? Number(JSON.parse(m.value)) || 0 : 0
    } finally {
      db.close()
    }
  }
  const clients = harness ? harness.counters.clientSent + harness.counters.clientReceived : 0
  return { all: empty(all), servers: empty(servers), clients: empty(clients), 'lost-events': lost }
}

/** Puts the verdict into the run file, so `distlab analyze` and the dashboard can show it. */
function recordInRun(file: string, r: MaelstromResults): void {
  try {
    const db = new Database(file)
    try {
      const anomalies: Record<string, unknown[]> = {}
      for (const [k, v] of Object.entries(r.workloadResult.anomalies))
        anomalies[k] = Array.isArray(v) ? v.slice(0, 20) : [v]
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
        'maelstrom',
        JSON.stringify({
          valid: r.valid,
          workload: r.workload,
          summary: r.summary,
          anomalies,
          reason: r.workloadResult.reason,
          results: r.run.results,
          stats: r.stats,
          net: r.net,
          malformed: r.malformed,
          opFrames: Object.fromEntries(
            offendingOps(r.workloadResult.anomalies).flatMap((i) =>
              r.opFrames[String(i)] ? [[String(i), r.opFrames[String(i)]!]] : [],
            ),
          ),
        }),
      )
    } finally {
      db.close()
    }
  } catch {
    // results.json has everything; the run file's copy is for the viewers
  }
}
