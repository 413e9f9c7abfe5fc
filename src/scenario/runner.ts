// The scenario runner: starts a cluster, runs the workloads, injects the faults of the steps while
// they run, then heals everything, lets deliveries settle and checks the two promises a reliable
// protocol makes: nothing it acknowledged was lost, nothing was delivered twice. Every delivery is
// read from the nodes' own HTTP APIs (and, for seed 002's messages, their log lines), polled while
// the run goes on and once more right before a node is killed, so a crash does not hide them.
// The cluster is any Launcher (local processes, in-process, Docker): the runner starts it, and
// injects every fault through it.
import { randomBytes } from 'node:crypto'
import type { Launcher, LauncherMode } from '../cluster/launcher.js'
import { createLauncher, type ContainerLauncherOptions } from '../cluster/create-launcher.js'
import { ScenarioRunError } from '../core/errors.js'
import { NodeClient, type HttpMethod } from '../client/node-client.js'
import type { FaultOutcome } from '../core/cluster-controls.js'
import { faultCount, type Scenario, type Step, type Workload } from './spec.js'
import { AnycastRun, DownloadRun, SendLoop, type WorkloadVerdict } from './workloads.js'

export { ScenarioRunError }

/** Time between two polls of every node's deliveries, in ms. */
export const POLL_INTERVAL_MS = 250
/** Keys of lost messages listed in a report. */
export const MAX_LISTED_LOST = 10
/** Compose project and network of a docker-mode run, apart from `distlab up --mode docker`'s. */
export const SCENARIO_PROJECT = 'distlabscenario'
export const SCENARIO_NETWORK = 'distlab-scenario-network'

export interface WorkloadReport {
  kind: Workload['kind']
  /** Sends attempted. */
  sent: number
  /** Sends the protocol acknowledged (the HTTP call succeeded). */
  acknowledged: number
  /** Deliveries expected from the acknowledged sends (one per receiver that must have it). */
  expected: number
  /** Expected deliveries that happened. */
  delivered: number
  /** Expected deliveries that never happened: must be 0. */
  lost: number
  /** Deliveries of one message more than once by one node incarnation: must be 0. */
  duplicates: number
  /** Deliveries again by a restarted node of a message its previous incarnation had (not a failure). */
  redeliveredAfterRestart: number
  /** The first few lost messages, as `<message key> -> <node>`. */
  lostKeys: string[]
  /** What happened, for a person (download: the masters in turn; anycast: per replica). */
  detail?: string
}

export interface ScenarioReport {
  scenario: string
  nodes: number
  mode: LauncherMode
  keyed: boolean
  /** Fault steps injected (everything but wait). */
  faults: number
  steps: Array<{ step: string; ok: boolean; detail?: string }>
  workloads: WorkloadReport[]
  checks: Array<{ name: string; passed: boolean; detail: string }>
  passed: boolean
  durationMs: number
}

export interface ScenarioRunInit {
  /** State dir of the cluster the run starts (its logs stay there). */
  stateDir: string
  /** Overrides the file's cluster block. */
  block?: number
  /** Overrides the file's cluster mode. */
  mode?: LauncherMode
  /**
   * docker mode: the image, compose project and network names, the runs folder.
   * @default distlab:latest, project `distlabscenario` on network `distlab-scenario-network` (so a
   * run never collides with a cluster of `distlab up --mode docker`)
   */
  containers?: ContainerLauncherOptions
  /**
   * The cluster to run on, not started yet (the runner starts and stops it); its node count and
   * key must be the file's. @default one made from the file's cluster block and `mode`
   */
  launcher?: Launcher
  /** Overrides the file's settle time, in ms. */
  settleMs?: number
  /** Progress, one line per event, for a person. */
  onProgress?: (line: string) => void
}

/**
 * The whole log line of one POST /message (the node's logger escapes control characters in what
 * it logs, so a `msg` carrying `\n<a forged line>` stays inside this line): anchored at both
 * ends, so text that only looks like such a line, inside another line's message, is not counted.
 */
const RECEIVED_LINE =
  /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO +distlab:http Received message from [^:]*: (sc-[0-9a-f]+-\d+-\d+)$/

/** The scenario message key a node's log line records as received, if it is such a line. */
export function receivedKeyOfLogLine(line: string): string | undefined {
  return RECEIVED_LINE.exec(line)?.[1]
}

interface Incarnation {
  id: string
  since: Record<string, number>
  seen: Map<string, number>
}

/** Reads deliveries from every node, per incarnation (a restarted node has a new id). */
class DeliveryTracker {
  /** node → incarnations in order. */
  readonly incarnations = new Map<string, Incarnation[]>()
  /** node → message key → count, from log lines (seed 002's POST /message). */
  readonly logged = new Map<string, Map<string, number>>()
  private timer?: ReturnType<typeof setInterval>
  private polling?: Promise<void>

  constructor(
    private readonly cluster: Launcher,
    private readonly kinds: Set<string>,
    private readonly runKey: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  onLine(node: string, line: string): void {
    const key = receivedKeyOfLogLine(line)
    if (!key || !key.startsWith(this.runKey)) return
    const per = this.logged.get(node) ?? new Map<string, number>()
    this.logged.set(node, per)
    per.set(key, (per.get(key) ?? 0) + 1)
  }

  start(): void {
    this.timer = setInterval(() => void this.pollAll(), POLL_INTERVAL_MS)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  async pollAll(): Promise<void> {
    if (this.polling) return this.polling
    this.polling = (async () => {
      await Promise.all(this.cluster.list().map((n) => this.pollNode(n.name).catch(() => {})))
    })().finally(() => (this.polling = undefined))
    return this.polling
  }

  async pollNode(name: string): Promise<void> {
    if (!this.cluster.running(name)) return
    const node = new NodeClient({
      url: this.cluster.list().find((x) => x.name === name)!.url,
      name,
      headers: this.headers,
    })
    const health = await node.health()
    const list = this.incarnations.get(name) ?? []
    this.incarnations.set(name, list)
    let inc = list.at(-1)
    if (!inc || inc.id !== health.id) {
      inc = { id: health.id, since: {}, seen: new Map() }
      list.push(inc)
    }
    for (const kind of this.kinds) {
      const path = {
        unicast: '/unicast/delivered',
        broadcast: '/broadcast/delivered',
        multicast: '/multicast/delivered',
      }[kind]
      if (!path) continue
      const since = inc.since[kind] ?? 0
      const r = await node.get<{ messages: Array<{ index: number; msg?: unknown; value?: unknown }> }>(
        `${path}?since=${since}`,
      )
      for (const d of r.messages ?? []) {
        if (d.index < since) continue
        inc.since[kind] = Math.max(inc.since[kind] ?? 0, d.index + 1)
        const key = messageKey(d.msg ?? d.value)
        if (key?.startsWith(this.runKey)) inc.seen.set(key, (inc.seen.get(key) ?? 0) + 1)
      }
    }
  }

  /** How node `name` delivered `key`: per incarnation counts (log lines count as one incarnation). */
  counts(name: string, key: string): number[] {
    const fromApi = (this.incarnations.get(name) ?? []).map((i) => i.seen.get(key) ?? 0)
    const logged = this.logged.get(name)?.get(key)
    return logged === undefined ? fromApi : [...fromApi, logged]
  }
}

function messageKey(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof (v as { key?: unknown }).key === 'string')
    return (v as { key: string }).key
  return undefined
}

type MessageWorkload = Exclude<Workload, { kind: 'download' | 'anycast' }>

/** One running message workload: sends in a loop; pause() waits for the sends in flight. */
class WorkloadRun extends SendLoop {
  /** Message key → the receivers that must deliver it (undefined: every node alive at the end). */
  readonly acked = new Map<string, string[] | undefined>()

  constructor(
    override readonly w: MessageWorkload,
    index: number,
    private readonly ctx: { url: (n: string) => string; headers: Record<string, string>; runKey: string },
  ) {
    super(w, index, w.messages, w.interval)
  }

  protected keyOf(i: number): string {
    return `${this.ctx.runKey}-${this.index}-${i}`
  }

  async finish(): Promise<void> {
    await this.done
  }

  protected async sendOne(i: number, key: string): Promise<void> {
    const w = this.w
    const post = (node: string, path: string, body: unknown) =>
      new NodeClient({ url: this.ctx.url(node), name: node, headers: this.ctx.headers }).post<
        Record<string, unknown>
      >(path, body, { timeoutMs: w.timeout + 2000 })
    if (w.kind === 'unicast') {
      const [from, to] = w.pairs[i % w.pairs.length]!
      await post(from, '/unicast', { to, msg: { key }, transport: w.transport, timeoutMs: w.timeout })
      this.acked.set(key, [to])
    } else if (w.kind === 'broadcast') {
      const from = w.from[i % w.from.length]!
      const r = await post(from, '/broadcast', { msg: { key }, strategy: w.strategy, durable: w.durable })
      if (r.acknowledged === true) this.acked.set(key, undefined)
    } else if (w.kind === 'multicast') {
      const from = w.from[i % w.from.length]!
      await post(from, '/multicast', { group: w.group, msg: { key }, timeoutMs: w.timeout })
      this.acked.set(key, [...w.members])
    } else {
      const [from, to] = w.pairs[i % w.pairs.length]!
      const r = await post(from, '/p2p/send', { to, msg: key })
      if ((r.reply as { status?: string } | undefined)?.status === 'received') this.acked.set(key, [to])
    }
  }
}

type Run = WorkloadRun | DownloadRun | AnycastRun

function describeStep(s: Step): string {
  if ('wait' in s) return `wait ${s.wait} ms`
  if ('kill' in s) return `kill -9 ${s.kill}`
  if ('restart' in s) return `restart ${s.restart}`
  if ('partition' in s) return `partition ${s.partition.map((g) => g.join(',')).join(' | ')}`
  if ('heal' in s) return 'heal'
  if ('link' in s) {
    const { from, to, both, ...rule } = s.link
    return `link ${from}${both ? ' <-> ' : ' -> '}${to ?? 'all'} ${JSON.stringify(rule)}`
  }
  if ('slow' in s) return `slow ${s.slow.node} by ${s.slow.delayMs} ms`
  if ('crashClient' in s)
    return s.crashClient === 'master' ? 'crash the download master' : `crash download client ${s.crashClient}`
  return 'restart the line server'
}

/** Runs one scenario from start to verdict; the cluster it starts is stopped whatever happens. */
export async function runScenario(s: Scenario, init: ScenarioRunInit): Promise<ScenarioReport> {
  const t0 = Date.now()
  const say = init.onProgress ?? (() => {})
  const runKey = `sc-${randomBytes(4).toString('hex')}`
  const mode = init.mode ?? s.cluster.mode
  const kinds = new Set(s.workloads.map((w) => w.kind))
  const cluster =
    init.launcher ??
    createLauncher({
      mode,
      nodes: s.cluster.nodes,
      stateDir: init.stateDir,
      block: init.block ?? s.cluster.block,
      dashboardPort: 0,
      key: s.cluster.key,
      image: init.containers?.image,
      project: init.containers?.project ?? SCENARIO_PROJECT,
      network: init.containers?.network ?? SCENARIO_NETWORK,
      runsDir: init.containers?.runsDir,
    })
  const headers = cluster.headers()
  const tracker = new DeliveryTracker(cluster, kinds, runKey, headers)
  cluster.onLine((name, line) => tracker.onLine(name, line))
  const url = (name: string) => {
    const n = cluster.list().find((x) => x.name === name)
    if (!n) throw new ScenarioRunError(`no node named ${name}`)
    return n.url
  }
  const post = async (node: string, path: string, body: unknown, method: HttpMethod = 'POST') => {
    await new NodeClient({ url: url(node), name: node, headers, timeoutMs: 10_000 }).call(method, path, {
      body,
    })
  }
  const stepReports: ScenarioReport['steps'] = []
  const everKilled = new Set<string>()
  const down = new Set<string>()
  say(
    `starting ${s.cluster.nodes} nodes and the master (${cluster.mode} mode${s.cluster.key ? ', keyed' : ''})`,
  )
  await cluster.start()
  const block = init.block ?? s.cluster.block
  const runs: Run[] = s.workloads.map((w, i) =>
    w.kind === 'download'
      ? new DownloadRun(w, i, { block, stateDir: init.stateDir })
      : w.kind === 'anycast'
        ? new AnycastRun(w, i, { url, running: (n) => cluster.running(n) }, runKey)
        : new WorkloadRun(w, i, { url, headers, runKey }),
  )
  const downloads = runs.filter((r): r is DownloadRun => r instanceof DownloadRun)
  const anycasts = runs.filter((r): r is AnycastRun => r instanceof AnycastRun)
  try {
    // Every node must know every other before the faults begin.
    for (const n of cluster.list()) await waitMembers(url(n.name), cluster.list().length)
    for (const w of s.workloads)
      if (w.kind === 'multicast') for (const m of w.members) await post(m, '/groups/join', { group: w.group })
    for (const r of anycasts) await r.begin()
    for (const r of downloads) await r.begin()
    tracker.start()
    for (const r of runs) r.start()
    say(
      `workloads running: ${s.workloads
        .map((w) =>
          w.kind === 'download'
            ? `download of ${w.lines} lines by ${w.clients} clients`
            : `${w.kind} x${w.messages}`,
        )
        .join(', ')}`,
    )

    for (const step of s.steps) {
      const text = describeStep(step)
      say(`step: ${text}`)
      try {
        await runStep(step)
        stepReports.push({ step: text, ok: true })
      } catch (err) {
        stepReports.push({ step: text, ok: false, detail: (err as Error).message })
        say(`step failed: ${(err as Error).message}`)
      }
    }
    await Promise.all(runs.map((r) => r.finish()))
    // Heal everything, then give retransmissions and repair time to finish.
    await cluster.heal().catch(() => {})
    const settleMs = init.settleMs ?? s.settle
    say(`sends done; healed; waiting up to ${settleMs} ms for deliveries to settle`)
    const deadline = Date.now() + settleMs
    for (;;) {
      await tracker.pollAll()
      const reports = messageRuns().map((r) => report(r))
      if (reports.every((w) => w.lost === 0) || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
    }
  } finally {
    tracker.stop()
    for (const r of runs) r.resume()
    await Promise.all(downloads.map((r) => r.stop().catch(() => {})))
    await cluster.stop().catch(() => {})
  }

  const workloads = runs.map((r) => report(r))
  const lost = workloads.reduce((a, w) => a + w.lost, 0)
  const dups = workloads.reduce((a, w) => a + w.duplicates, 0)
  const acked = workloads.reduce((a, w) => a + w.acknowledged, 0)
  const failedSteps = stepReports.filter((x) => !x.ok)
  const checks = [
    {
      name: 'nothing acknowledged was lost',
      passed: lost === 0,
      detail: `${lost} of ${workloads.reduce((a, w) => a + w.expected, 0)} expected deliveries missing`,
    },
    { name: 'nothing delivered twice', passed: dups === 0, detail: `${dups} duplicate deliveries` },
    {
      name: 'the workload got through',
      passed: acked > 0,
      detail: `${acked} of ${workloads.reduce((a, w) => a + w.sent, 0)} sends acknowledged`,
    },
    ...runs.flatMap((r) => ('verdict' in r ? r.verdict().checks : [])),
    {
      name: 'every fault was injected',
      passed: failedSteps.length === 0,
      detail: failedSteps.length
        ? failedSteps.map((f) => `${f.step}: ${f.detail}`).join('; ')
        : 'all steps ran',
    },
  ]
  return {
    scenario: s.name,
    nodes: s.cluster.nodes,
    mode: cluster.mode,
    keyed: s.cluster.key !== undefined,
    faults: faultCount(s),
    steps: stepReports,
    workloads,
    checks,
    passed: checks.every((c) => c.passed),
    durationMs: Date.now() - t0,
  }

  function messageRuns(): WorkloadRun[] {
    return runs.filter((r): r is WorkloadRun => r instanceof WorkloadRun)
  }

  function report(r: Run): WorkloadReport {
    if (!(r instanceof WorkloadRun)) return fromVerdict(r.w.kind, r.verdict())
    const t = tracker
    // Broadcasts must reach every node that is up at the end and has not been killed since it was
    // last polled alive: a node killed for good cannot be asked.
    const aliveAtEnd = cluster
      .list()
      .map((n) => n.name)
      .filter((n) => !down.has(n))
    const out: WorkloadReport = {
      kind: r.w.kind,
      sent: r.sent,
      acknowledged: r.acked.size,
      expected: 0,
      delivered: 0,
      lost: 0,
      duplicates: 0,
      redeliveredAfterRestart: 0,
      lostKeys: [],
    }
    for (const [key, receivers] of r.acked) {
      for (const node of receivers ?? aliveAtEnd) {
        out.expected++
        const counts = t.counts(node, key)
        if (counts.some((c) => c > 0)) out.delivered++
        else {
          out.lost++
          if (out.lostKeys.length < MAX_LISTED_LOST) out.lostKeys.push(`${key} -> ${node}`)
        }
        out.duplicates += counts.reduce((a, c) => a + Math.max(0, c - 1), 0)
        out.redeliveredAfterRestart += Math.max(0, counts.filter((c) => c > 0).length - 1)
      }
    }
    return out
  }

  async function runStep(step: Step): Promise<void> {
    if ('wait' in step) return void (await new Promise((r) => setTimeout(r, step.wait)))
    if ('kill' in step) {
      // Read what the node delivered right before it dies, with no send in flight.
      await Promise.all(runs.map((r) => r.pause()))
      try {
        await tracker.pollNode(step.kill).catch(() => {})
        for (const r of anycasts) await r.beforeDown(step.kill)
        await cluster.kill(step.kill, 'SIGKILL')
        everKilled.add(step.kill)
        down.add(step.kill)
      } finally {
        for (const r of runs) r.resume()
      }
      return
    }
    if ('restart' in step) {
      await Promise.all(runs.map((r) => r.pause()))
      try {
        await tracker.pollNode(step.restart).catch(() => {})
        for (const r of anycasts) await r.beforeDown(step.restart)
        await cluster.restart(step.restart)
        down.delete(step.restart)
        await waitMembers(url(step.restart), cluster.list().length - down.size)
        for (const r of anycasts) await r.afterRestart(step.restart)
        for (const w of s.workloads)
          if (w.kind === 'multicast' && w.members.includes(step.restart))
            await post(step.restart, '/groups/join', { group: w.group })
      } finally {
        for (const r of runs) r.resume()
      }
      return
    }
    if ('crashClient' in step) {
      for (const r of downloads) await r.crashClient(step.crashClient)
      return
    }
    if ('restartLineServer' in step) {
      for (const r of downloads) await r.restartLineServer()
      return
    }
    if ('partition' in step) return everyNode(await cluster.partition(step.partition))
    if ('heal' in step) return everyNode(await cluster.heal())
    if ('link' in step) {
      const { from, to, both, ...rule } = step.link
      await cluster.setLink(from, to ?? '*', rule)
      if (both && to) await cluster.setLink(to, from, rule)
      return
    }
    await cluster.setLink(step.slow.node, '*', { delayMs: step.slow.delayMs })
  }
}

/** A fault every running node must take: one that some did not fails the step. */
function everyNode(r: FaultOutcome): void {
  if (r.failed.length > 0) throw new ScenarioRunError(r.failed.map((f) => `${f.name}: ${f.error}`).join('; '))
}

function fromVerdict(kind: Workload['kind'], v: WorkloadVerdict): WorkloadReport {
  return {
    kind,
    sent: v.sent,
    acknowledged: v.acknowledged,
    expected: v.expected,
    delivered: v.delivered,
    lost: v.lost,
    duplicates: v.duplicates,
    redeliveredAfterRestart: 0,
    lostKeys: v.lostKeys,
    detail: v.detail,
  }
}

/** Waits until a node's member list (from the master) holds `count` members. */
async function waitMembers(base: string, count: number): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      const h = await new NodeClient({ url: base }).health()
      if (h.members >= count) return
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) return
    await new Promise((r) => setTimeout(r, 100))
  }
}
