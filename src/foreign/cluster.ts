// A cluster of foreign programs: the student's own bootstrap, master and nodes, each started as a
// process (in a network namespace of its own where the machine allows) on distlab's address plan.
// Whoever holds a ForeignCluster is the supervisor: it streams every instance's output into
// <stateDir>/logs/<name>.log, writes the cluster record so that `status`, `logs`, `kill`,
// `restart`, `down` and the link commands find it, serves those commands on a control API
// (control.ts), and when it stops leaves no process, namespace, rule or container behind. The
// instances' addresses, commands and environments come from plan.ts.
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:net'
import type { Server } from 'node:http'
import { ClusterError, ClusterRunningError, InvalidArgumentError } from '../core/errors.js'
import {
  removeControlToken,
  isAlive,
  logDir,
  readCluster,
  removeCluster,
  writeCluster,
  type ClusterRecord,
  type ForeignRecordInfo,
} from '../cluster/state.js'
import { onLines } from '../cluster/lines.js'
import { resolveForeignSpec, type ForeignRole, type ForeignSpec, type ResolvedForeignSpec } from './spec.js'
import {
  bridgeAddress,
  bridgeName,
  createBridge,
  createNamespace,
  isolationAvailable,
  NETNS_PREFIX,
  removeIsolation,
} from './netns.js'
import { ForeignLinks } from './links.js'
import { addSourceAlias, ALIAS_PREFIX } from './source.js'
import { tapAvailable, WireTap } from './wiretap.js'
import { RelayHub } from './relay.js'
import { conntrackAvailable } from './conntrack.js'
import { boundedWait } from './bounded.js'
import { DockerInstances } from './docker.js'
import { ForeignObserver } from './observer.js'
import { startControl } from './control.js'
import { planMembers, type Member } from './plan.js'
import type { LinkRule, LinkRuleInit } from '../link/emulator.js'
import { runConcurrently } from '../protocols/workload.js'

export interface ForeignInstance {
  name: string
  role: ForeignRole
  /** 0 for the bootstrap and the master, i for node i. */
  index: number
  /** The address this machine reaches the instance at. */
  host: string
  /** The name or address the instance's placeholders ({host}, {peers}...) gave it. */
  hostname: string
  port: number
  /** `http://host:port`. */
  url: string
  /** The process (process mode) or the container's main process (docker mode), while it runs. */
  pid?: number
  /** Docker mode: the container's name. */
  container?: string
  /** Process mode with isolation: the network namespace. */
  netns?: string
  running: boolean
  paused: boolean
}

const MAX_KEPT_LINES = 5000
/** How long stop() waits for one part (an instance's exit, the relays, the observer) before going on. */
const STOP_PART_MS = 10_000
/** Nodes launched and not yet listening at a time, while a cluster starts. */
const START_CONCURRENCY = 16

export class ForeignCluster {
  readonly spec: ResolvedForeignSpec
  /** Set once start() decided: true when every instance has a namespace (or container) of its own. */
  isolated = false
  /** Why link faults are not available, when they are not (said once at start-up). */
  note?: string
  private members: Member[] = []
  private record?: ClusterRecord
  private control?: Server
  private controlUrl?: string
  private stopping?: Promise<void>
  private relays?: RelayHub
  private observer?: ForeignObserver
  private docker?: DockerInstances
  /** The capture of what goes around the relays (multicast, broadcast, unrelayed unicast). */
  tap?: WireTap
  readonly links: ForeignLinks

  constructor(
    spec: ForeignSpec,
    private readonly onLine?: (name: string, line: string) => void,
  ) {
    this.spec = resolveForeignSpec(spec)
    this.links = new ForeignLinks()
  }

  /** The run's id in the run store (telemetry of the relays), when faults are on. */
  get runId(): string | undefined {
    return this.observer?.runId
  }

  get runFile(): string | undefined {
    return this.observer?.runFile
  }

  /** The dashboard showing this cluster's traffic live, when faults (and so relays) are on. */
  get dashboardUrl(): string | undefined {
    return this.observer?.dashboardUrl
  }

  get instances(): ForeignInstance[] {
    return this.members.map((m) => ({
      name: m.name,
      role: m.role,
      index: m.index,
      host: m.ip,
      hostname: m.host,
      port: this.spec.port,
      url: `http://${m.ip}:${this.spec.port}`,
      pid: m.pid,
      container: m.container,
      netns: m.netns,
      running: this.running(m.name),
      paused: m.paused,
    }))
  }

  async start(): Promise<void> {
    const s = this.spec
    const existing = readCluster(s.stateDir)
    if (existing && isAlive(existing.supervisorPid) && existing.supervisorPid !== process.pid)
      throw new ClusterRunningError(
        `a cluster is already running (${existing.nodes.length} nodes, supervisor pid ${existing.supervisorPid}); stop it with \`distlab down\` first`,
      )
    if (s.mode === 'process') {
      const can =
        s.isolate === false ? { ok: false as const, why: 'isolation turned off' } : await isolationAvailable()
      if (can.ok) this.isolated = true
      else if (s.isolate === true) throw new ClusterError(`cannot isolate the instances: ${can.why}`)
      else this.note = `link faults are off (${can.why}); kill, restart, pause and resume still work`
    } else this.isolated = true
    if (!s.faults && !this.note) this.note = 'link faults are off (--no-faults)'
    this.members = planMembers(s, this.isolated)
    mkdirSync(logDir(s.stateDir), { recursive: true })
    for (const m of this.members) m.log = createWriteStream(join(logDir(s.stateDir), `${m.name}.log`))
    const control = await startControl(s.stateDir, this)
    this.control = control.server
    this.controlUrl = control.url
    this.record = {
      version: 1,
      mode: 'foreign',
      plan: 'loopback',
      block: s.block,
      startedAt: Date.now(),
      supervisorPid: process.pid,
      state: 'starting',
      controlUrl: this.controlUrl,
      nodes: [],
      foreign: this.recordInfo(),
    }
    this.syncRecord()
    try {
      if (s.mode === 'docker') {
        this.docker = new DockerInstances(s, (name, line) => this.lineOf(name, line))
        await this.docker.prepare()
      } else if (this.isolated) {
        await removeIsolation(s.block) // what a crashed run of this block left behind
        await createBridge(s.block)
        for (const m of this.members) {
          m.netns = await createNamespace(s.block, m.name, m.slot)
          m.alias = await addSourceAlias(s.block, m.slot, m.netns)
        }
      }
      if (this.isolated && s.faults) {
        this.observer = new ForeignObserver({
          stateDir: s.stateDir,
          runsDir: s.runsDir,
          dashboardPort: s.dashboardPort,
          instances: () => this.instances,
        })
        await this.observer.start()
        const ct = await conntrackAvailable()
        if (!ct.ok)
          this.addNote(
            `a UDP flow that started before the relay for its destination keeps going around it (${ct.why})`,
          )
        this.relays = new RelayHub({
          relayHost: s.mode === 'docker' ? await this.docker!.gatewayAddress() : bridgeAddress(s.block),
          links: this.links,
          sink: (events) => this.observer?.ingest(events),
          conntrack: ct.ok,
        })
        await this.startTap()
      }
      // The bootstrap and the master first, then the nodes.
      const first = this.members.filter((m) => m.role !== 'node')
      for (const m of first) await this.launch(m)
      await this.waitReady(first)
      await this.startNodes(this.members.filter((m) => m.role === 'node'))
    } catch (err) {
      await this.stop()
      throw err
    }
    this.record.state = 'running'
    this.syncRecord()
  }

  /**
   * Launches `nodes` continuously: at most START_CONCURRENCY launched and not yet listening at a
   * time, the next launched as soon as one listens, so that one slow program holds up no others
   * (waves of 16 waited for their slowest). After a failure no new one is launched, and the error
   * comes once no launch is still under way, so that stop() finds every process started.
   */
  private async startNodes(nodes: Member[]): Promise<void> {
    const launching = new Set<Promise<void>>()
    try {
      await runConcurrently(nodes.length, START_CONCURRENCY, async (i) => {
        const launched = this.launch(nodes[i]!)
        launching.add(launched)
        try {
          await launched
        } finally {
          launching.delete(launched)
        }
        await this.waitReady([nodes[i]!])
      })
    } catch (err) {
      await Promise.allSettled([...launching])
      throw err
    }
  }

  /**
   * Captures on the instances' bridge what the relays do not carry, into the same run; where the
   * machine cannot (no root, no tcpdump or dumpcap), says so in the note and goes on without it.
   */
  private async startTap(): Promise<void> {
    const s = this.spec
    const can = tapAvailable()
    const off = (why: string) =>
      this.addNote(`multicast, broadcast and traffic around the relays are not recorded (${why})`)
    if (!can.ok) return off(can.why)
    let tap: WireTap | undefined
    try {
      const where =
        s.mode === 'docker'
          ? { ...(await this.docker!.bridge()), relayHosts: [await this.docker!.gatewayAddress()] }
          : {
              iface: bridgeName(s.block),
              subnet: `${NETNS_PREFIX}.${s.block}.0/24`,
              relayHosts: [bridgeAddress(s.block)],
              relayNets: [`${ALIAS_PREFIX}.${s.block}.0/24`],
            }
      tap = new WireTap({
        ...where,
        instanceNet: where.subnet,
        instances: () => this.instances,
        sink: (events) => this.observer?.ingest(events),
      })
      await tap.start(can.tool, can.path)
      this.tap = tap
    } catch (err) {
      await tap?.stop()
      off((err as Error).message)
    }
  }

  /** Adds an isolation limit to what start-up says (one line, limits joined by `; `). */
  private addNote(line: string): void {
    this.note = this.note ? `${this.note}; ${line}` : line
  }

  private recordInfo(): ForeignRecordInfo {
    return {
      kind: this.spec.mode,
      isolated: this.isolated,
      faults: this.isolated && this.spec.faults,
      runId: this.runId,
      runFile: this.runFile,
      dashboardUrl: this.dashboardUrl,
      network: this.spec.mode === 'docker' ? this.spec.network : undefined,
      containers: this.members.flatMap((m) => (m.container ? [m.container] : [])),
      note: this.note,
      instances: this.members.map((m) => ({
        name: m.name,
        role: m.role,
        host: m.ip,
        port: this.spec.port,
        pid: m.pid,
        container: m.container,
      })),
    }
  }

  private syncRecord(): void {
    if (!this.record) return
    this.record.foreign = this.recordInfo()
    this.record.nodes = this.members.map((m) => ({
      name: m.name,
      host: m.ip,
      httpPort: this.spec.port,
      framePort: 0,
      pid: m.pid ?? 0,
    }))
    writeCluster(this.spec.stateDir, this.record)
  }

  private lineOf(name: string, text: string): void {
    const m = this.members.find((x) => x.name === name)
    if (!m) return
    m.log?.write(`${new Date().toISOString()} ${text}\n`)
    m.lines.push(text)
    if (m.lines.length > MAX_KEPT_LINES) m.lines.splice(0, m.lines.length - MAX_KEPT_LINES)
    this.onLine?.(name, text)
  }

  private async launch(m: Member): Promise<void> {
    m.exited = false
    m.paused = false
    if (this.docker) {
      const r = await this.docker.run(m)
      m.container = r.container
      m.pid = r.pid
      m.ip = r.ip
    } else {
      const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' }
      for (const [k, v] of m.env) env[k] = v
      const shell = ['sh', '-c', `exec ${m.command}`]
      // Its namespace's relay rules first, so that its first datagrams already take the relays.
      if (m.netns) await this.relays?.prepare({ name: m.name, ip: m.ip, netns: m.netns, alias: m.alias })
      // detached: the instance leads a process group, so kill and pause reach what its shell started.
      const child = m.netns
        ? spawn('nsenter', [`--net=/run/netns/${m.netns}`, '--', ...shell], {
            cwd: this.spec.cwd,
            env,
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe'],
          })
        : spawn(shell[0]!, shell.slice(1), {
            cwd: this.spec.cwd,
            env,
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe'],
          })
      m.child = child
      m.pid = child.pid
      child.on('error', (err) => this.lineOf(m.name, `distlab: could not start: ${err.message}`))
      for (const stream of [child.stdout!, child.stderr!])
        onLines(stream, (line) => this.lineOf(m.name, line), {
          stripCr: true,
          maxPendingChars: 64 * 1024,
          overflow: 'emit',
          flushAtEnd: true,
        })
      child.on('exit', (code, signal) => {
        m.exited = true
        if (!this.stopping) this.lineOf(m.name, `distlab: ${m.name} exited (${signal ?? `code ${code}`})`)
      })
    }
    this.relays?.addInstance({ name: m.name, ip: m.ip, pid: m.pid, netns: m.netns, alias: m.alias })
    this.syncRecord()
  }

  /** Waits until each instance accepts TCP on its port, or has exited with code 0 (a client that finished). */
  private async waitReady(members: Member[]): Promise<void> {
    const timeoutMs = this.spec.readyTimeoutMs
    if (timeoutMs === 0) return
    const deadline = Date.now() + timeoutMs
    const pending = new Set(members)
    while (pending.size > 0) {
      for (const m of [...pending]) {
        if (!this.running(m.name)) {
          const code = m.child?.exitCode
          if (code === 0) {
            pending.delete(m)
            continue
          }
          const last = m.lines.at(-2) ?? m.lines.at(-1) ?? ''
          throw new ClusterError(
            `${m.name} exited while starting${last ? `: ${last}` : ''} (see distlab logs ${m.name})`,
          )
        }
        if (await tcpOpen(m.ip, this.spec.port)) pending.delete(m)
      }
      if (pending.size === 0) return
      if (Date.now() > deadline)
        throw new ClusterError(
          `${[...pending].map((m) => m.name).join(', ')} did not listen on port ${this.spec.port} within ${timeoutMs} ms (see distlab logs)`,
        )
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  private member(name: string): Member {
    const m = this.members.find((x) => x.name === name)
    if (!m)
      throw new InvalidArgumentError(
        `no instance named ${name} (have: ${this.members.map((x) => x.name).join(', ')})`,
        'name',
      )
    return m
  }

  /** The instance's output so far (the last 5000 lines), without distlab's timestamps. */
  logs(name: string): string[] {
    return [...this.member(name).lines]
  }

  running(name: string): boolean {
    const m = this.member(name)
    if (m.container) return !m.exited
    return !!m.child && m.child.exitCode === null && m.child.signalCode === null
  }

  private signal(m: Member, sig: NodeJS.Signals): void {
    if (m.container) return
    if (!m.child?.pid) return
    try {
      process.kill(-m.child.pid, sig)
    } catch {
      try {
        m.child.kill(sig)
      } catch {
        // already gone
      }
    }
  }

  /** Stops one instance abruptly (SIGKILL by default); it stays down until restart(). */
  async kill(name: string, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const m = this.member(name)
    if (m.container) {
      await this.docker!.kill(m.container, signal)
      m.exited = true
      return
    }
    if (!this.running(name)) return
    const child = m.child!
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    if (m.paused) this.signal(m, 'SIGCONT')
    this.signal(m, signal)
    const t = setTimeout(() => this.signal(m, 'SIGKILL'), 5000)
    await exited
    clearTimeout(t)
    m.paused = false
  }

  /** Starts an instance again under the same name, address and command. */
  async restart(name: string): Promise<void> {
    const m = this.member(name)
    if (m.container) {
      const r = await this.docker!.restart(m)
      m.paused = false
      m.pid = r.pid
      m.ip = r.ip
      this.relays?.addInstance({ name: m.name, ip: m.ip, pid: m.pid })
      this.syncRecord()
      await this.waitReady([m])
      return
    }
    if (this.running(name)) await this.kill(name, 'SIGTERM')
    this.lineOf(name, `distlab: restarting ${name}`)
    await this.launch(m)
    await this.waitReady([m])
  }

  /** Freezes an instance (SIGSTOP, or `docker pause`): its sockets stay open, it answers nothing. */
  async pause(name: string): Promise<void> {
    const m = this.member(name)
    if (!this.running(name)) throw new ClusterError(`${name} is not running`)
    if (m.container) await this.docker!.pause(m.container)
    else this.signal(m, 'SIGSTOP')
    m.paused = true
  }

  async resume(name: string): Promise<void> {
    const m = this.member(name)
    if (!m.paused) return
    if (m.container) await this.docker!.unpause(m.container)
    else this.signal(m, 'SIGCONT')
    m.paused = false
  }

  private requireFaults(): void {
    if (!this.relays)
      throw new ClusterError(
        this.note ?? 'link faults need instances in namespaces of their own (run as root)',
      )
  }

  /**
   * Sets the rule for what `from` sends to `to` (`*` for every instance on either side). Fields left
   * out keep their value. Returns the rules that changed, as `{from, to, rule}`.
   */
  setLink(from: string, to: string, init: LinkRuleInit): Array<{ from: string; to: string; rule: LinkRule }> {
    this.requireFaults()
    if (from !== '*') this.member(from)
    if (to !== '*') this.member(to)
    const sources = from === '*' ? this.members.map((m) => m.name) : [from]
    return sources.map((a) => ({ from: a, to, rule: this.links.set(a, to, init) }))
  }

  /** Instances in different groups cannot reach each other; instances in no group reach everyone. */
  partition(groups: string[][]): void {
    this.requireFaults()
    for (const g of groups) for (const n of g) this.member(n)
    this.links.partition(groups)
    this.relays!.applyPartition()
  }

  heal(): void {
    this.requireFaults()
    this.links.heal()
    this.relays!.applyPartition()
  }

  linkState(): { rules: Array<{ from: string; to: string; rule: LinkRule }>; partition: string[][] } {
    return this.links.state()
  }

  /** Relay counters: what crossed each path, what the emulator dropped. */
  traffic(): ReturnType<RelayHub['stats']> {
    return this.relays?.stats() ?? []
  }

  /** Stops every instance and removes what start() made; harmless twice. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll()
    return this.stopping
  }

  private async stopAll(): Promise<void> {
    if (this.record) {
      this.record.state = 'stopping'
      writeCluster(this.spec.stateDir, this.record)
    }
    await Promise.all(
      this.members.map(async (m) => {
        if (m.container || !m.child || !this.running(m.name)) return
        const child = m.child
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        if (m.paused) this.signal(m, 'SIGCONT')
        this.signal(m, 'SIGTERM')
        const t = setTimeout(() => this.signal(m, 'SIGKILL'), 3000)
        await boundedWait(exited, STOP_PART_MS)
        clearTimeout(t)
        this.signal(m, 'SIGKILL') // anything else its shell left in the group
      }),
    )
    // Every part gets a bounded wait, so one stuck part never keeps the rest (namespaces, rules) behind.
    await boundedWait(this.tap?.stop() ?? Promise.resolve(), STOP_PART_MS)
    await boundedWait(this.relays?.stop() ?? Promise.resolve(), STOP_PART_MS)
    await this.docker?.stop()
    if (this.isolated && this.spec.mode === 'process') await removeIsolation(this.spec.block)
    await boundedWait(this.observer?.stop() ?? Promise.resolve(), STOP_PART_MS)
    for (const m of this.members) m.log?.end()
    this.control?.closeAllConnections()
    await boundedWait(
      new Promise<void>((resolve) => (this.control ? this.control.close(() => resolve()) : resolve())),
      STOP_PART_MS,
    )
    const rec = readCluster(this.spec.stateDir)
    if (!rec || rec.supervisorPid === process.pid) {
      removeCluster(this.spec.stateDir)
      if (this.control) removeControlToken(this.spec.stateDir)
    }
  }
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port })
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(1000, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

/** Starts a foreign cluster and resolves once every instance listens on its port. */
export async function startForeignCluster(spec: ForeignSpec): Promise<ForeignCluster> {
  const c = new ForeignCluster(spec, spec.onLine)
  await c.start()
  return c
}
