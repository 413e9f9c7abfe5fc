// One Maelstrom test's live part (see run.ts): the local cluster wrapping a program per node, the
// harness node that hosts the clients, and the controls the nemesis drives. The session is the
// nemesis's target: partition, heal, kill, restart, pause and resume act on the cluster's nodes.
import { LocalCluster } from '../cluster/local.js'
import type { Node } from '../node/node.js'
import { createNode } from '../cluster/node-assembly.js'
import { loopbackHost } from '../core/ids.js'
import { ClusterError, TimeoutError } from '../core/errors.js'
import type { Protocol, ProtocolComponents, ProtocolFactory } from '../core/interfaces.js'
import type { Envelope } from '../core/envelope.js'
import { readDashboardRecord } from '../monitor/dashboard-record.js'
import { NodeClient } from '../client/node-client.js'
import { HARNESS_NODE, INIT_TIMEOUT_MS, MAELSTROM_PROTO } from './constants.js'
import { maelstromNode, type MaelstromNodeStatus } from './node.js'
import { maelstromHarness, type MaelstromHarness } from './harness.js'
import { Client, HistoryRecorder } from './client.js'
import type { WorkloadGenerator } from './workloads.js'
import { Nemesis, type NemesisEvent, type NemesisTarget } from './nemesis.js'
import type { MaelstromTestInit, resolveTestOptions } from './options.js'
import { MaelstromDocker } from './container.js'

export type TestConfig = ReturnType<typeof resolveTestOptions>

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

export class MaelstromSession implements NemesisTarget {
  /** Maelstrom ids (n0, n1, ...) and the distlab names of the nodes that wrap them. */
  readonly nodeIds: string[]
  private readonly distlabNames: string[]
  readonly recorder = new HistoryRecorder()
  readonly statuses = new Map<string, MaelstromNodeStatus>()
  readonly nemesisEvents: NemesisEvent[] = []
  harness: MaelstromHarness | undefined
  private readonly containers: MaelstromDocker | undefined
  private readonly cluster: LocalCluster
  private harnessNode: Node | undefined
  private nemesis: Nemesis | undefined

  constructor(
    private readonly init: MaelstromTestInit,
    private readonly cfg: TestConfig,
    private readonly workload: WorkloadGenerator,
    runs: string,
    t0: number,
    private readonly say: (line: string) => void,
  ) {
    this.nodeIds = Array.from({ length: cfg.nodeCount }, (_, i) => `n${i}`)
    this.distlabNames = this.nodeIds.map((_, i) => `node${i + 1}`)
    const cwd = init.cwd ?? process.cwd()
    this.containers =
      cfg.mode === 'docker'
        ? new MaelstromDocker({ testId: testIdFor(t0), bin: init.bin, cwd, image: init.image })
        : undefined
    this.cluster = this.makeCluster(cwd, runs)
  }

  private makeCluster(cwd: string, runs: string): LocalCluster {
    const { init, cfg } = this
    const spec = this.containers?.spec
    return new LocalCluster({
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
                container: spec,
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
  }

  private call(name: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown> {
    const n = this.cluster.list().find((x) => x.name === name)
    if (!n) throw new ClusterError(`no node named ${name}`)
    return new NodeClient({ url: `http://${n.host}:${n.httpPort}`, name }).call(method, path, { body })
  }

  /** A node's /maelstrom status (kept in `statuses`), or undefined if it did not answer. */
  async readStatus(name: string): Promise<MaelstromNodeStatus | undefined> {
    try {
      const s = (await this.call(name, 'GET', '/maelstrom')) as MaelstromNodeStatus
      const prev = this.statuses.get(name)
      // A restarted node counts from zero again: keep the larger tallies seen.
      if (prev && prev.malformed > s.malformed) s.malformed += prev.malformed
      this.statuses.set(name, s)
      return s
    } catch {
      return undefined
    }
  }

  private async waitReady(names: string[]): Promise<void> {
    const deadline = Date.now() + INIT_TIMEOUT_MS + (this.containers ? 30_000 : 5000)
    for (const name of names) {
      for (;;) {
        const s = await this.readStatus(name)
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

  private async setLatency(name: string): Promise<void> {
    if (this.cfg.latencyMs > 0)
      await this.call(name, 'PUT', '/link', { peer: '*', delayMs: this.cfg.latencyMs })
  }

  /** Starts the cluster and the harness, and waits until every program answered init. */
  async start(): Promise<void> {
    const { cfg } = this
    await this.containers?.prepare(this.say)
    await this.cluster.start()
    this.harnessNode = createNode({
      name: HARNESS_NODE,
      host: loopbackHost(0, cfg.block),
      httpPort: 0,
      framePort: 0,
      masterUrl: `http://${loopbackHost(0, cfg.block)}:5000`,
      membersRefreshMs: 1000,
      protocols: [maelstromHarness(cfg.transport)],
    })
    await this.harnessNode.start()
    this.harness = this.harnessNode.protocol<MaelstromHarness>(MAELSTROM_PROTO)!
    if (cfg.latencyMs > 0) this.harnessNode.links.setRule('*', { delayMs: cfg.latencyMs })
    await this.waitReady(this.distlabNames)
    for (const n of this.distlabNames) await this.setLatency(n)
    this.say(`all ${cfg.nodeCount} programs answered init`)
  }

  /** The workload's setup (broadcast's topology): one request per node, from client c0, not in the history. */
  async setup(): Promise<void> {
    if (!this.workload.setup) return
    for (const { node, body } of this.workload.setup(this.nodeIds)) {
      const r = await this.harness!.request('c0', node, body, this.cfg.timeoutMs)
      if (r.reply?.type !== `${body.type}_ok`)
        this.say(`${node} answered ${body.type} with ${r.reply ? r.reply.type : 'nothing'}`)
    }
  }

  client(id: string, node: string, process: number, processStride: number): Client {
    const init = { id, node, process, processStride, timeoutMs: this.cfg.timeoutMs }
    return new Client(init, this.harness!, this.workload, this.recorder)
  }

  /** Starts the nemesis on this session's nodes. */
  startNemesis(): void {
    const { cfg } = this
    this.nemesis = new Nemesis(this, this.init.nemesis ?? [], cfg.nemesisIntervalS * 1000, () =>
      this.recorder.now(),
    )
    this.nemesis.start()
  }

  /** Stops the nemesis, heals every fault, and brings back the nodes it killed. */
  async calm(): Promise<void> {
    if (this.nemesis) {
      await this.nemesis.stop()
      for (const e of this.nemesis.events) this.nemesisEvents.push(e)
    }
    await this.heal().catch(() => {})
    for (const n of this.distlabNames) if (!this.cluster.running(n)) await this.restart(n).catch(() => {})
  }

  /** The clients invoke the workload's operations at the rate, until the time limit; how many ran. */
  async runClients(): Promise<number> {
    const { cfg, workload, say } = this
    const clients = Array.from({ length: cfg.concurrency }, (_, i) =>
      this.client(`c${i + 1}`, this.nodeIds[i % cfg.nodeCount]!, i, cfg.concurrency),
    )
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
    return done
  }

  /**
   * When the workload has a final read: after the recovery time, a final read on every node (up to
   * three tries each), by fresh clients.
   */
  async finalReads(): Promise<void> {
    const { cfg, workload, say } = this
    if (!workload.finalRead) return
    say(`waiting ${cfg.recoveryMs} ms for the nodes to converge, then a final read on every node`)
    await sleep(cfg.recoveryMs)
    await Promise.all(
      this.nodeIds.map(async (node, i) => {
        const c = this.client(`c${cfg.concurrency + i + 1}`, node, cfg.concurrency * 1000 + i, cfg.nodeCount)
        for (let attempt = 0; attempt < 3; attempt++)
          if ((await c.invoke(workload.finalRead!())) === 'ok') break
      }),
    )
  }

  async readAllStatuses(): Promise<void> {
    for (const n of this.distlabNames) await this.readStatus(n)
  }

  /** Stops everything, whatever state it is in; the run's id and telemetry file. */
  async close(): Promise<{ runId: string | undefined; runFile: string | undefined }> {
    this.nemesis?.stop().catch(() => {})
    const dash = readDashboardRecord(this.init.stateDir)
    await this.harnessNode?.stop().catch(() => {})
    await this.cluster.stop().catch(() => {})
    await this.containers?.cleanup().catch(() => {})
    return { runId: dash?.runId, runFile: dash?.runFile }
  }

  // ---- the nemesis's target ----

  nodes(): string[] {
    return this.distlabNames
  }
  async partition(groups: string[][]): Promise<void> {
    for (const n of this.distlabNames)
      if (this.cluster.running(n)) await this.call(n, 'POST', '/partition', { groups })
  }
  async heal(): Promise<void> {
    for (const n of this.distlabNames)
      if (this.cluster.running(n)) {
        await this.call(n, 'POST', '/heal', {})
        await this.setLatency(n)
      }
  }
  async kill(n: string): Promise<void> {
    const s = await this.readStatus(n)
    // Docker mode: SIGKILL to the program's container first (a crash of its machine).
    if (this.containers) await this.call(n, 'POST', '/maelstrom/crash', {})
    await this.cluster.kill(n, 'SIGKILL')
    // The program is the node process's child: kill -9 it too, as a crash of the machine would.
    if (this.cfg.mode === 'process' && s?.pid) {
      try {
        process.kill(s.pid, 'SIGKILL')
      } catch {
        // already gone with its parent
      }
    }
  }
  async restart(n: string): Promise<void> {
    await this.cluster.restart(n)
    await this.waitReady([n])
    await this.setLatency(n)
  }
  async pause(n: string): Promise<void> {
    await this.call(n, 'POST', '/maelstrom/pause', {})
  }
  async resume(n: string): Promise<void> {
    await this.call(n, 'POST', '/maelstrom/resume', {})
  }
}
