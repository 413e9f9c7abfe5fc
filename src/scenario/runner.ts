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
import { AnycastRun, DownloadRun, type DeliveryCounts, type WorkloadVerdict } from './workloads.js'
import { DeliveryTracker, POLL_INTERVAL_MS, WorkloadRun } from './deliveries.js'

export { POLL_INTERVAL_MS, receivedKeyOfLogLine } from './deliveries.js'
export { ScenarioRunError }

/** Keys of lost messages listed in a report. */
export const MAX_LISTED_LOST = 10
/** Compose project and network of a docker-mode run, apart from `distlab up --mode docker`'s. */
export const SCENARIO_PROJECT = 'distlabscenario'
export const SCENARIO_NETWORK = 'distlab-scenario-network'

export interface WorkloadReport extends DeliveryCounts {
  kind: Workload['kind']
  /** Deliveries again by a restarted node of a message its previous incarnation had (not a failure). */
  redeliveredAfterRestart: number
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
  const run = new ScenarioRun(s, init)
  await run.start()
  try {
    await run.prepare()
    run.startWorkloads()
    await run.runSteps()
    await run.settle()
  } finally {
    await run.close()
  }
  return run.verdict(Date.now() - t0)
}

function launcherFor(s: Scenario, init: ScenarioRunInit): Launcher {
  return createLauncher({
    mode: init.mode ?? s.cluster.mode,
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
}

/** One scenario's run: the cluster, the workloads running on it, the faults injected so far. */
class ScenarioRun {
  private readonly say: (line: string) => void
  private readonly runKey = `sc-${randomBytes(4).toString('hex')}`
  private readonly cluster: Launcher
  private readonly headers: Record<string, string>
  private readonly tracker: DeliveryTracker
  private readonly stepReports: ScenarioReport['steps'] = []
  /** Nodes killed and not restarted since. */
  private readonly down = new Set<string>()
  private runs: Run[] = []
  private downloads: DownloadRun[] = []
  private anycasts: AnycastRun[] = []

  constructor(
    private readonly s: Scenario,
    private readonly init: ScenarioRunInit,
  ) {
    this.say = init.onProgress ?? (() => {})
    this.cluster = init.launcher ?? launcherFor(s, init)
    this.headers = this.cluster.headers()
    const kinds = new Set(s.workloads.map((w) => w.kind))
    this.tracker = new DeliveryTracker(this.cluster, kinds, this.runKey, this.headers)
    this.cluster.onLine((name, line) => this.tracker.onLine(name, line))
  }

  private readonly url = (name: string): string => {
    const n = this.cluster.list().find((x) => x.name === name)
    if (!n) throw new ScenarioRunError(`no node named ${name}`)
    return n.url
  }

  private async post(node: string, path: string, body: unknown, method: HttpMethod = 'POST'): Promise<void> {
    const client = new NodeClient({
      url: this.url(node),
      name: node,
      headers: this.headers,
      timeoutMs: 10_000,
    })
    await client.call(method, path, { body })
  }

  /** Starts the cluster and makes the workloads' runs. */
  async start(): Promise<void> {
    const { s, init, cluster, url, headers, runKey } = this
    this.say(
      `starting ${s.cluster.nodes} nodes and the master (${cluster.mode} mode${s.cluster.key ? ', keyed' : ''})`,
    )
    await cluster.start()
    const block = init.block ?? s.cluster.block
    this.runs = s.workloads.map((w, i) =>
      w.kind === 'download'
        ? new DownloadRun(w, i, { block, stateDir: init.stateDir })
        : w.kind === 'anycast'
          ? new AnycastRun(w, i, { url, running: (n) => cluster.running(n) }, runKey)
          : new WorkloadRun(w, i, { url, headers, runKey }),
    )
    this.downloads = this.runs.filter((r): r is DownloadRun => r instanceof DownloadRun)
    this.anycasts = this.runs.filter((r): r is AnycastRun => r instanceof AnycastRun)
  }

  /** Every node must know every other before the faults begin; groups joined, runs begun. */
  async prepare(): Promise<void> {
    const { cluster } = this
    for (const n of cluster.list()) await waitMembers(this.url(n.name), cluster.list().length)
    for (const w of this.s.workloads)
      if (w.kind === 'multicast') {
        for (const m of w.members) await this.post(m, '/groups/join', { group: w.group })
        const late = await this.waitGroupViews(w.from, w.group, w.members)
        if (late.length > 0)
          throw new ScenarioRunError(
            `group ${w.group}: ${late.join('; ')} within ${GROUP_VIEW_WAIT_MS / 1000} s of the joins`,
          )
      }
    for (const r of this.anycasts) await r.begin()
    for (const r of this.downloads) await r.begin()
  }

  startWorkloads(): void {
    this.tracker.start()
    for (const r of this.runs) r.start()
    const what = this.s.workloads.map((w) =>
      w.kind === 'download'
        ? `download of ${w.lines} lines by ${w.clients} clients`
        : `${w.kind} x${w.messages}`,
    )
    this.say(`workloads running: ${what.join(', ')}`)
  }

  /** Each step in turn (a failed one is reported, not fatal), then the workloads to their end. */
  async runSteps(): Promise<void> {
    for (const step of this.s.steps) {
      const text = describeStep(step)
      this.say(`step: ${text}`)
      try {
        await this.runStep(step)
        this.stepReports.push({ step: text, ok: true })
      } catch (err) {
        this.stepReports.push({ step: text, ok: false, detail: (err as Error).message })
        this.say(`step failed: ${(err as Error).message}`)
      }
    }
    await Promise.all(this.runs.map((r) => r.finish()))
  }

  /** Heals everything, then gives retransmissions and repair time to finish. */
  async settle(): Promise<void> {
    await this.cluster.heal().catch(() => {})
    const settleMs = this.init.settleMs ?? this.s.settle
    this.say(`sends done; healed; waiting up to ${settleMs} ms for deliveries to settle`)
    const deadline = Date.now() + settleMs
    for (;;) {
      await this.tracker.pollAll()
      const messageRuns = this.runs.filter((r): r is WorkloadRun => r instanceof WorkloadRun)
      if (messageRuns.every((r) => this.report(r).lost === 0) || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
    }
  }

  async close(): Promise<void> {
    this.tracker.stop()
    for (const r of this.runs) r.resume()
    await Promise.all(this.downloads.map((r) => r.stop().catch(() => {})))
    await this.cluster.stop().catch(() => {})
  }

  private async runStep(step: Step): Promise<void> {
    if ('wait' in step) return void (await new Promise((r) => setTimeout(r, step.wait)))
    if ('kill' in step) return this.whilePaused(step.kill, () => this.kill(step.kill))
    if ('restart' in step) return this.whilePaused(step.restart, () => this.restart(step.restart))
    if ('crashClient' in step) {
      for (const r of this.downloads) await r.crashClient(step.crashClient)
      return
    }
    if ('restartLineServer' in step) {
      for (const r of this.downloads) await r.restartLineServer()
      return
    }
    const cluster = this.cluster
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

  /**
   * Runs `fault` on `node` with no send in flight, after reading what the node delivered (a node
   * about to go down is read first, so a crash does not hide its deliveries).
   */
  private async whilePaused(node: string, fault: () => Promise<void>): Promise<void> {
    await Promise.all(this.runs.map((r) => r.pause()))
    try {
      await this.tracker.pollNode(node).catch(() => {})
      for (const r of this.anycasts) await r.beforeDown(node)
      await fault()
    } finally {
      for (const r of this.runs) r.resume()
    }
  }

  private async kill(node: string): Promise<void> {
    await this.cluster.kill(node, 'SIGKILL')
    this.down.add(node)
  }

  private async restart(node: string): Promise<void> {
    await this.cluster.restart(node)
    this.down.delete(node)
    await waitMembers(this.url(node), this.cluster.list().length - this.down.size)
    for (const r of this.anycasts) await r.afterRestart(node)
    for (const w of this.s.workloads)
      if (w.kind === 'multicast' && w.members.includes(node)) {
        await this.post(node, '/groups/join', { group: w.group })
        // Bounded and not required: a partition may keep the news from a sender for now.
        await this.waitGroupViews(w.from, w.group, [node], REJOIN_VIEW_WAIT_MS)
      }
  }

  /**
   * Waits until every sender's view of `group` holds `members`: a join spreads by broadcast, so a
   * send right after the joins would otherwise be addressed to the members the sender has heard of
   * so far, and the others would count as lost. Returns what is still missing at the deadline.
   */
  private async waitGroupViews(
    senders: string[],
    group: string,
    members: string[],
    waitMs = GROUP_VIEW_WAIT_MS,
  ): Promise<string[]> {
    const deadline = Date.now() + waitMs
    for (;;) {
      const late: string[] = []
      for (const from of new Set(senders.filter((n) => !this.down.has(n)))) {
        const view = await new NodeClient({ url: this.url(from), name: from, headers: this.headers })
          .get<{ groups?: Record<string, string[]> }>('/groups')
          .then((r) => new Set(r.groups?.[group] ?? []))
          .catch(() => new Set<string>())
        const missing = members.filter((m) => !view.has(m))
        if (missing.length > 0) late.push(`${from} has not seen ${missing.join(', ')} join`)
      }
      if (late.length === 0 || Date.now() > deadline) return late
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** A workload's deliveries: expected, delivered, lost and duplicated, from what the nodes said. */
  private report(r: Run): WorkloadReport {
    if (!(r instanceof WorkloadRun)) return fromVerdict(r.w.kind, r.verdict())
    // Broadcasts must reach every node that is up at the end and has not been killed since it was
    // last polled alive: a node killed for good cannot be asked.
    const aliveAtEnd = this.cluster
      .list()
      .map((n) => n.name)
      .filter((n) => !this.down.has(n))
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
        const counts = this.tracker.counts(node, key)
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

  verdict(durationMs: number): ScenarioReport {
    const { s } = this
    const workloads = this.runs.map((r) => this.report(r))
    const checks = [
      ...deliveryChecks(workloads),
      ...this.runs.flatMap((r) => ('verdict' in r ? r.verdict().checks : [])),
      stepsCheck(this.stepReports),
    ]
    return {
      scenario: s.name,
      nodes: s.cluster.nodes,
      mode: this.cluster.mode,
      keyed: s.cluster.key !== undefined,
      faults: faultCount(s),
      steps: this.stepReports,
      workloads,
      checks,
      passed: checks.every((c) => c.passed),
      durationMs,
    }
  }
}

type Check = ScenarioReport['checks'][number]

/** The two promises of a reliable protocol, and that the workload got through at all. */
function deliveryChecks(workloads: readonly WorkloadReport[]): Check[] {
  const lost = workloads.reduce((a, w) => a + w.lost, 0)
  const dups = workloads.reduce((a, w) => a + w.duplicates, 0)
  const acked = workloads.reduce((a, w) => a + w.acknowledged, 0)
  return [
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
  ]
}

function stepsCheck(steps: ScenarioReport['steps']): Check {
  const failed = steps.filter((x) => !x.ok)
  return {
    name: 'every fault was injected',
    passed: failed.length === 0,
    detail: failed.length ? failed.map((f) => `${f.step}: ${f.detail}`).join('; ') : 'all steps ran',
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

/** How long a scenario waits for every sender of a multicast workload to see the group's members. */
const GROUP_VIEW_WAIT_MS = 15_000
/** The same after a member's restart, while the workloads are paused. */
const REJOIN_VIEW_WAIT_MS = 5_000

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
