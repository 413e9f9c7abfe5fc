// The local launcher: a master and N nodes on this machine, each on its own loopback address,
// either as child processes (the default, like containers) or as many Node objects in this one
// process (for scale). Whoever holds a LocalCluster is the supervisor: it streams every node's
// log, writes the cluster record, and stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { EventEmitter } from 'node:events'
import { createNode, type Node } from './node-assembly.js'
import { createRootLogger } from '../core/logger.js'
import { ClusterError, ClusterRunningError } from '../core/errors.js'
import { checkInteger } from '../core/options.js'
import { MAX_LOCAL_NODES, type AddressPlan } from '../core/ids.js'
import type { Startable, ProtocolFactory } from '../core/interfaces.js'
import { defaultProtocols, membershipFlags, type ProtocolContext } from '../protocols/defaults.js'
import { RegistryDirectory } from '../protocols/membership/index.js'
import { Keyring, KEY_ENV, removeKeyFile, writeKeyFile } from '../core/auth.js'
import { startMasterExtras } from '../monitor/master-extras.js'
import {
  checkAddressesFree,
  loopbackRangeWorks,
  planCluster,
  waitAddressesFree,
  type PlannedNode,
} from './plan.js'
import {
  CONTROL_TOKEN_ENV,
  isAlive,
  logDir,
  removeControlToken,
  nodeUrl,
  readCluster,
  removeCluster,
  writeCluster,
  type ClusterRecord,
} from './state.js'
import { NodeClient } from '../client/node-client.js'
import { ControlServer } from './control-server.js'
import { onLines } from './lines.js'
import { completeViews } from './views.js'
import { runConcurrently } from '../protocols/workload.js'
import { HOLD_PROTOCOLS_ENV, startHeldProtocols } from './hold.js'
import { BIN_PATH, LAUNCHED_V8_FLAGS, roleEntry, roleProcessEnv } from './role-process.js'

/**
 * Open files an in-process cluster of n nodes costs its supervisor: each node's sockets and log file,
 * and the pooled connections between nodes, which grow with n and level off. Measured at the peak:
 * 12 a node with 300 nodes, 9.4 with 1000; with 2000, 7.3-7.6 in bench/p2p.ts but 9.2-9.4 in
 * `distlab p2p` (18,800). The estimate adds a fifth to the first. A child process costs pipes and log.
 */
const inprocFiles = (nodes: number) => Math.ceil(1.2 * (3 * nodes + Math.min(9 * nodes, 7000)))
const FILES_PER_CHILD_NODE = 6

/** The soft limit on open files of this process, from /proc (Linux); undefined where unknown. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Fails early, with the remedy, when the cluster would run out of file descriptors halfway. */
export function checkOpenFileLimit(mode: 'process' | 'inproc', nodes: number, limit = openFileLimit()): void {
  if (limit === undefined) return
  const need = 100 + (mode === 'inproc' ? inprocFiles(nodes + 1) : (nodes + 1) * FILES_PER_CHILD_NODE)
  if (need <= limit) return
  const suggest = 2 ** Math.ceil(Math.log2(need))
  throw new ClusterError(
    `${nodes} nodes in ${mode} mode need about ${need} open files and this shell allows ${limit}: run \`ulimit -n ${suggest}\` first, or start fewer nodes`,
  )
}

export interface LocalClusterInit {
  /** Nodes besides the master. @default 4 */
  nodes?: number
  /** @default 'process' */
  mode?: 'process' | 'inproc'
  stateDir: string
  /** Second octet of every address, to keep two clusters apart. @default 0 */
  block?: number
  /** @default 'loopback' where 127/8 works, else 'shared' */
  plan?: AddressPlan
  /** Each log line of each node, as it comes. */
  onLine?: (name: string, line: string) => void
  /**
   * Time allowed for the master, and then each node from its spawn, to answer /health, in ms.
   * @default 60 s + 500 ms per member (localStartTimeoutMs)
   */
  startTimeoutMs?: number
  /**
   * Node processes started and not yet answering /health, at most: the next starts as soon as one
   * answers. @default NODE_START_CONCURRENCY (2)
   */
  startConcurrency?: number
  /** Extra protocols for in-process nodes, besides the defaults. */
  protocols?: () => ProtocolFactory[]
  /**
   * The subcommand (and its extra flags) node processes run instead of `node` (e.g. `maelstrom
   * node --bin ...`); it must take `node`'s --name, --host, --port, --frame-port and --bootstrap.
   * @default ['node']
   */
  nodeCommand?: string[]
  /** Folder of run files the master records into. @default $DISTLAB_RUNS_DIR or ./runs */
  runsDir?: string
  /** Dashboard port of the master. @default 8080 */
  dashboardPort?: number
  /**
   * Cluster key (`secret` or `id:secret,...`): frames authenticated, the APIs guarded. Handed to
   * node processes in their environment (never argv) and kept for the CLI in <stateDir>/cluster.key
   * (mode 0600). @default none: an open cluster
   */
  key?: string
  membership?: ProtocolContext['membership'] // every node's; processes get it as --membership-* flags
}

interface Member {
  plan: PlannedNode
  child?: ChildProcess
  node?: Node
  extras?: Startable
  log: WriteStream
  lastLines: string[]
  id?: string
  /** Ends the wait between two /health polls of this member early (its log said it is listening). */
  wake?: () => void
  /** Its process holds its protocols until told (cluster/hold.ts). */
  held?: boolean
}

/** What the first late node last logged, for a start-up timeout. */
const lastWords = ([m]: Member[]) =>
  m ? `; ${m.plan.name} last logged: ${m.lastLines.at(-1)?.slice(0, 300) ?? 'nothing yet'}` : ''

/**
 * Node processes started and not yet answering /health, at most (LocalClusterInit.startConcurrency).
 * Before held protocols (hold.ts), more in flight started a cluster sooner: the nodes already up ran
 * their protocols and took CPU from the boots still under way. Held, a node that is up costs almost
 * nothing until every node is (once V8's memory reducer is kept off it: LAUNCHED_V8_FLAGS), and
 * what decides is what each boot costs: 100 boots at once on two cores each take about 40% more CPU
 * than one alone (a bare Node.js HTTP server too: 103 against 70 CPU-ms), 2 at a time about 10%.
 * Side by side, 100 nodes, on a loaded machine: the node processes used 28-29 CPU-s with 2 at a time
 * against 31-33 with all 100 at once, and the last /health came 2-4 s sooner. The launcher's own
 * event loop also stays free (spawning 100 back to back held it for 16 s).
 */
export const NODE_START_CONCURRENCY = 2
/** Time between two GET /health of a starting member that has not logged that it listens, in ms. */
const HEALTH_POLL_MS = 250

/**
 * How long each node of a cluster of `members` (master included) has from its spawn to answer
 * /health: with up to NODE_START_CONCURRENCY starting at once, one takes as long as the batch.
 */
export const localStartTimeoutMs = (members: number): number => 60_000 + 500 * members

export class LocalCluster extends EventEmitter implements Startable {
  readonly nodes: number
  readonly mode: 'process' | 'inproc'
  private readonly block: number
  private readonly startConcurrency: number
  /** Each member's time from spawn to /health, and then to start its held protocols, in ms. */
  private readonly startTimeoutMs: number
  private plan: AddressPlan
  private members: Member[] = []
  private record?: ClusterRecord
  private stopping = false
  /** The control API through which the CLI and the dashboard kill and restart nodes. */
  private readonly control: ControlServer
  private readonly keyring?: Keyring
  /** In-process mode: the bootstrap's registry, which the peers register with by a call. */
  private readonly registries = new RegistryDirectory()

  constructor(private readonly init: LocalClusterInit) {
    super()
    this.nodes = checkInteger('nodes', init.nodes ?? 4, 1, MAX_LOCAL_NODES)
    this.mode = init.mode ?? 'process'
    if (this.mode !== 'process' && this.mode !== 'inproc')
      throw new ClusterError(`mode must be process or inproc, got ${String(this.mode)}`)
    this.block = checkInteger('block', init.block ?? 0, 0, 255)
    this.startTimeoutMs = init.startTimeoutMs ?? localStartTimeoutMs(this.nodes + 1)
    this.startConcurrency = checkInteger(
      'startConcurrency',
      init.startConcurrency ?? NODE_START_CONCURRENCY,
      1,
    )
    this.plan = init.plan ?? 'loopback'
    if (init.key !== undefined) this.keyring = new Keyring(init.key)
    this.control = new ControlServer(init.stateDir, {
      nodes: () =>
        this.members.map((x) => ({
          name: x.plan.name,
          pid: x.child?.pid ?? process.pid,
          running: this.running(x.plan.name),
        })),
      kill: (name, signal) => this.kill(name, signal),
      restart: (name) => this.restart(name),
      running: (name) => this.running(name),
    })
  }

  /** True when the cluster has a key. */
  get keyed(): boolean {
    return this.keyring !== undefined
  }

  /** The address plan in use: 'shared' means this system lacks 127/8 and everyone shares 127.0.0.1. */
  get addressPlan(): AddressPlan {
    return this.plan
  }

  async start(): Promise<void> {
    const existing = readCluster(this.init.stateDir)
    if (existing && isAlive(existing.supervisorPid) && existing.supervisorPid !== process.pid)
      throw new ClusterRunningError(
        `a cluster is already running (${existing.nodes.length} nodes, supervisor pid ${existing.supervisorPid}); stop it with \`distlab down\` first`,
      )
    if (!this.init.plan && !(await loopbackRangeWorks())) this.plan = 'shared'
    const planned = planCluster(this.nodes, this.plan, this.block)
    checkOpenFileLimit(this.mode, this.nodes)
    await checkAddressesFree(planned)

    mkdirSync(logDir(this.init.stateDir), { recursive: true })
    if (this.init.key !== undefined) writeKeyFile(this.init.stateDir, this.init.key)
    else removeKeyFile(this.init.stateDir)
    await this.control.start()
    this.members = planned.map((p) => ({
      plan: p,
      log: createWriteStream(join(logDir(this.init.stateDir), `${p.name}.log`)),
      lastLines: [],
    }))
    this.record = {
      version: 1,
      mode: this.mode,
      plan: this.plan,
      block: this.block,
      startedAt: Date.now(),
      supervisorPid: process.pid,
      state: 'starting',
      controlUrl: this.control.url,
      nodes: planned.map((p) => ({
        name: p.name,
        host: p.host,
        httpPort: p.httpPort,
        framePort: p.framePort,
        pid: process.pid,
      })),
    }
    writeCluster(this.init.stateDir, this.record)

    try {
      const master = this.members[0]!
      await this.launch(master, true)
      await this.waitHealthy([master])
      const rest = this.members.slice(1)
      if (this.mode === 'process') await this.startProcesses(rest)
      else
        for (let i = 0; i < rest.length; i += 50)
          await Promise.all(rest.slice(i, i + 50).map((m) => this.launch(m)))
      await this.waitHealthy(this.members)
      // Every node knows every other when the start returns (cluster/views.ts).
      await completeViews(
        this.members.map((m) => ({ name: m.plan.name, url: nodeUrl(m.plan) })),
        { headers: this.keyring ? { authorization: this.keyring.bearer() } : undefined },
      )
      const held = this.members.filter((m) => m.held) // and then their protocols (hold.ts)
      await Promise.all(held.map((m) => startHeldProtocols(m.child!, m.plan.name, this.startTimeoutMs)))
    } catch (err) {
      await this.stop()
      throw err
    }
    this.record.state = 'running'
    this.record.nodes = this.members.map((m) => ({
      ...this.record!.nodes.find((n) => n.name === m.plan.name)!,
      pid: m.child?.pid ?? process.pid,
      id: m.id,
    }))
    writeCluster(this.init.stateDir, this.record)
  }

  /**
   * Node processes start continuously: at most `startConcurrency` started and not yet healthy, and
   * the next one spawned as soon as one answers /health, so that one slow node holds up no others
   * (waves of 16 waited for their slowest before the next wave). Emits 'spawn' and 'healthy' with
   * the node's name.
   */
  private async startProcesses(nodes: Member[]): Promise<void> {
    await runConcurrently(nodes.length, this.startConcurrency, async (i) => {
      if (this.stopping) return
      const m = nodes[i]!
      this.launchProcess(m, true)
      this.emit('spawn', m.plan.name)
      await this.waitHealthy([m])
      this.emit('healthy', m.plan.name)
    })
  }

  private line(m: Member, text: string): void {
    // A node says it is listening once it has joined: its /health is asked at once, not at the next poll.
    if (m.wake && text.includes(' listening: ')) m.wake()
    m.log.write(text + '\n')
    m.lastLines.push(text)
    if (m.lastLines.length > 20) m.lastLines.shift()
    this.init.onLine?.(m.plan.name, text)
  }

  private launch(m: Member, hold = false): Promise<void> {
    return this.mode === 'inproc' ? this.launchInproc(m) : Promise.resolve(this.launchProcess(m, hold))
  }

  /** A Node object in this process; the master gets its extras (collector, dashboard) here. */
  private async launchInproc(m: Member): Promise<void> {
    const p = m.plan
    const masterUrl = nodeUrl(this.members[0]!.plan)
    const logger = createRootLogger({ write: (l) => this.line(m, l.replace(/\n$/, '')) })
    m.node = createNode({
      name: p.name,
      host: p.host,
      httpPort: p.httpPort,
      framePort: p.framePort,
      masterUrl: p.index === 0 ? undefined : masterUrl,
      registry: p.index === 0 ? undefined : this.members[0]!.node,
      key: this.keyring,
      logger,
      protocols: [
        ...defaultProtocols({
          role: p.index === 0 ? 'master' : 'node',
          name: p.name,
          masterUrl: p.index === 0 ? undefined : masterUrl,
          membership: this.init.membership,
          registries: this.registries,
        }),
        ...(this.init.protocols?.() ?? []),
      ],
    })
    await m.node.start()
    m.id = m.node.id
    // In one process, telemetry goes straight to the master's collector instead of over HTTP.
    const collector = this.members[0]!.node?.collector
    if (p.index !== 0 && collector) m.node.telemetry.setSink(async (batch) => collector.ingest(batch))
    if (p.index === 0)
      m.extras = await startMasterExtras(m.node, {
        stateDir: this.init.stateDir,
        dashboardPort: this.init.dashboardPort,
        controlUrl: this.control.url,
        runsDir: this.init.runsDir,
        controlToken: this.control.token,
      })
  }

  /** `distlab master` or `node` as a child process, its output into the node's log; `hold`: see hold.ts. */
  private launchProcess(m: Member, hold = false): void {
    const p = m.plan
    m.held = hold && !(this.init.nodeCommand && p.index !== 0)
    const masterUrl = nodeUrl(this.members[0]!.plan)
    const args = [
      this.init.nodeCommand && p.index !== 0 ? BIN_PATH : roleEntry(),
      '--state-dir',
      this.init.stateDir,
      ...(p.index === 0 ? ['master'] : (this.init.nodeCommand ?? ['node'])),
      '--name',
      p.name,
      '--host',
      p.host,
      '--port',
      String(p.httpPort),
      '--frame-port',
      String(p.framePort),
    ]
    if (p.index !== 0) args.push('--bootstrap', masterUrl)
    else args.push('--dashboard-port', String(this.init.dashboardPort ?? 8080))
    const argv = [...LAUNCHED_V8_FLAGS, ...args, ...membershipFlags(this.init.membership ?? {})]
    const child = spawn(process.execPath, argv, {
      // The master's dashboard kills and restarts nodes through the supervisor.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: this.childEnv(p.index === 0, m.held),
    })
    m.child = child
    for (const stream of [child.stdout!, child.stderr!])
      onLines(stream, (line) => this.line(m, line), { flushAtEnd: true })
    child.on('exit', (code, signal) => {
      if (!this.stopping) {
        this.line(
          m,
          `${new Date().toISOString()} WARN  distlab:launcher ${p.name} exited (${signal ?? `code ${code}`})`,
        )
        this.emit('exit', p.name, code, signal)
      }
    })
  }

  /**
   * A node process's environment: the key travels here, not in argv where `ps` shows it. Only the
   * master (its dashboard) gets the control API and its token; a held one, HOLD_PROTOCOLS_ENV.
   */
  private childEnv(master: boolean, held: boolean): NodeJS.ProcessEnv {
    const env = roleProcessEnv(process.env)
    delete env[CONTROL_TOKEN_ENV]
    env.DISTLAB_CONTROL_URL = master ? (this.control.url ?? '') : ''
    if (master && this.control.token) env[CONTROL_TOKEN_ENV] = this.control.token
    if (this.init.runsDir !== undefined) env.DISTLAB_RUNS_DIR = this.init.runsDir
    if (this.init.key !== undefined) env[KEY_ENV] = this.init.key
    else delete env[KEY_ENV]
    env[HOLD_PROTOCOLS_ENV] = held ? '1' : undefined // spawn() leaves an undefined out
    return env
  }

  /**
   * Resolves when each of `members` has answered GET /health once (nodes already seen are only
   * checked to be still running). Up to 32 probes go out at once, each allowed 5 s: a master busy
   * admitting hundreds of nodes, or a busy machine, answers late, not never.
   */
  private async waitHealthy(members: Member[]): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs
    const failed = (m: Member) => {
      if (!m.child || m.child.exitCode === null) return
      const why =
        m.lastLines.filter((l) => l.startsWith('distlab:')).pop() ??
        m.lastLines.at(-1) ??
        `exit code ${m.child.exitCode}`
      throw new ClusterError(`${m.plan.name} failed to start: ${why.replace(/^distlab: /, '')}`)
    }
    for (const m of members) if (m.id) failed(m)
    const pending = new Set(members.filter((m) => !m.id))
    const probe = async (m: Member) => {
      failed(m)
      try {
        m.id = (await new NodeClient({ url: nodeUrl(m.plan), name: m.plan.name }).health()).id
        pending.delete(m)
      } catch {
        // not up yet
      }
    }
    while (pending.size > 0) {
      const round = [...pending]
      for (let i = 0; i < round.length; i += 32) await Promise.all(round.slice(i, i + 32).map(probe))
      for (const m of round) failed(m)
      if (pending.size === 0) break
      if (Date.now() > deadline)
        throw new ClusterError(
          `${[...pending].map((m) => m.plan.name).join(', ')} did not answer /health within ${this.startTimeoutMs} ms` +
            lastWords([...pending]),
        )
      await this.nap([...pending], HEALTH_POLL_MS)
    }
  }

  /** Waits `ms`, or less when one of `members` logs that it is listening. */
  private nap(members: Member[], ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        for (const m of members) if (m.wake === done) m.wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      for (const m of members) m.wake = done
    })
  }

  /** Name, id, addresses and pid of every node. */
  list(): Array<{
    name: string
    id?: string
    host: string
    httpPort: number
    framePort: number
    pid?: number
  }> {
    return this.members.map((m) => ({
      name: m.plan.name,
      id: m.id,
      host: m.plan.host,
      httpPort: m.plan.httpPort,
      framePort: m.plan.framePort,
      pid: m.child?.pid ?? process.pid,
    }))
  }

  /** In-process mode only: the Node objects. */
  nodeObjects(): Node[] {
    return this.members.flatMap((m) => (m.node ? [m.node] : []))
  }

  private member(name: string): Member {
    const m = this.members.find((x) => x.plan.name === name)
    if (!m) throw new ClusterError(`no node named ${name} in the cluster`)
    return m
  }

  /** True while the node's process (or in-process Node) runs. */
  running(name: string): boolean {
    const m = this.member(name)
    if (m.node) return m.node.status().state === 'running'
    return !!m.child && m.child.exitCode === null && m.child.signalCode === null
  }

  /**
   * Stops one node abruptly: SIGKILL (kill -9) by default, no goodbye to the master. In-process
   * nodes cannot be signalled; they are stopped at once instead.
   */
  async kill(name: string, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const m = this.member(name)
    if (!this.running(name)) return
    if (m.node) {
      await m.extras?.stop().catch(() => {})
      await m.node.stop()
      return
    }
    const child = m.child!
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    await exited
  }

  /** Starts a node again (killed or not) under the same name and address, with a new id. */
  async restart(name: string): Promise<void> {
    const m = this.member(name)
    if (this.running(name)) await this.kill(name, 'SIGTERM')
    await waitAddressesFree([m.plan], 5000)
    m.id = undefined
    m.node = undefined
    m.child = undefined
    m.log.write(`${new Date().toISOString()} INFO  distlab:launcher restarting ${name}\n`)
    await this.launch(m)
    await this.waitHealthy([m])
    if (this.record) {
      this.record.nodes = this.record.nodes.map((n) =>
        n.name === name ? { ...n, pid: m.child?.pid ?? process.pid, id: m.id } : n,
      )
      writeCluster(this.init.stateDir, this.record)
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    if (this.record) {
      this.record.state = 'stopping'
      writeCluster(this.init.stateDir, this.record)
    }
    // Nodes first, then the master, so that nodes can say goodbye.
    const order = [...this.members.slice(1), ...this.members.slice(0, 1)]
    await Promise.all(order.filter((m) => m.plan.index !== 0).map((m) => this.stopMember(m)))
    if (this.members[0]) await this.stopMember(this.members[0])
    for (const m of this.members) m.log.end()
    await this.control.stop()
    await waitAddressesFree(
      this.members.map((m) => m.plan),
      5000,
    )
    removeCluster(this.init.stateDir)
    removeControlToken(this.init.stateDir)
    if (this.init.key !== undefined) removeKeyFile(this.init.stateDir)
  }

  private async stopMember(m: Member): Promise<void> {
    await m.extras?.stop().catch(() => {})
    if (m.node) await m.node.stop()
    const child = m.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}
