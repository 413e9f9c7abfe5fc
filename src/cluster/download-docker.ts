// Seed 003's cooperative download with every party in its own container: a line server and N
// clients (`distlab download client`) on a bridge network of their own, so the server sees N source
// addresses and its per-address limit applies to each. The clients find each other by container
// name; a named volume holds the master's journal, so a client that takes over from a killed master
// reads back every line the old one had merged. Everything created here carries the label
// dev.distlab.download=<project> and is removed at the end, also on failure or abort.
import { onLines } from './lines.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { checkInteger, checkNumber, checkString } from '../core/options.js'
import type { Logger } from '../core/logger.js'
import { named, silentLogger } from '../core/logger.js'
import { InvalidArgumentError, TimeoutError } from '../core/errors.js'
import { DEFAULT_CHANNEL_PORT, DEFAULT_LINE_SERVER_PORT } from '../protocols/download/constants.js'
import {
  DEFAULT_IMAGE,
  DockerError,
  docker,
  imageExists,
  inspectContainers,
  requireDocker,
} from './docker.js'

/** Label on every container, network and volume of a containerised download; its value is the project. */
export const DOWNLOAD_LABEL = 'dev.distlab.download'
/** Default project name: the network's name and the prefix of every container's. */
export const DEFAULT_DOWNLOAD_PROJECT = 'distlab-download'
/** The clients' channel port (each client is its own container, so all use the same one). */
export const DOWNLOAD_CHANNEL_PORT = DEFAULT_CHANNEL_PORT
/** The line server's port in its container (the course's). */
export const DOWNLOAD_SERVER_PORT = DEFAULT_LINE_SERVER_PORT
/** The line server's name on the network. */
export const DOWNLOAD_SERVER_ALIAS = 'lineserver'
/** How long to wait for the line server container to listen. */
export const SERVER_START_TIMEOUT_MS = 60_000
/** After the master's result, how long the other live clients get to report and exit. */
export const MEMBERS_GRACE_MS = 15_000

export interface DockerDownloadInit {
  /** Client containers. */
  clients: number
  /** @default distlab:latest */
  image?: string
  /** Network name and container-name prefix. @default distlab-download */
  project?: string
  /** Lines of the text (the server serves the first `lines` of its default text). @default 1000 */
  lines?: number
  /** The server's per-address limit and each client's pace, in lines per second. @default 100 */
  ratePerSecond?: number
  /** The id sent with SUBMIT. @default 'distlab' */
  id?: string
  /** Seed of the line server's random line choice (the same draws every run). @default unseeded */
  seed?: number
  /** Share the master's journal between the clients through a volume. @default true */
  sharedJournal?: boolean
  /** Give up after this long. @default 30 minutes */
  timeoutMs?: number
  /** `docker kill` the master's container once it holds this many lines. */
  killMasterAt?: number
  /** `docker kill` the highest-ranked live client that is not the master once the master holds this many lines. */
  killClientAt?: number
  signal?: AbortSignal
  logger?: Logger
  onProgress?: (p: DockerDownloadProgress) => void
  /** A kill, a container that stopped: one line for a person. */
  onEvent?: (text: string) => void
}

export interface DockerDownloadProgress {
  lines: number
  total: number
  masterRank: number | undefined
}

/** One client's own report (`distlab download client --json`). */
export interface ClientReport {
  rank: number
  role: 'master' | 'member'
  lines: number
  seconds: number
  requests: number
  rateLimited: number
  served: number
  submitted: boolean
  submitReply: string | null
  fromJournal: number
  masterRank: number | null
}

export interface DockerDownloadResult {
  clients: number
  lines: number
  seconds: number
  /** SENDLINE requests of every client, as the server counted them (killed clients included). */
  requests: number
  duplicates: number
  submitted: boolean
  submitReply: string | undefined
  rateLimited: number
  masterRank: number
  /** Lines the final master read back from the shared journal when it took over. */
  fromJournal: number
  killed: Array<{ rank: number; atLines: number; wasMaster: boolean }>
  perClient: Array<{
    rank: number
    container: string
    address: string
    alive: boolean
    report: ClientReport | undefined
  }>
  /** The line server's sessions: one per source address. */
  serverAddresses: Array<{ address: string; served: number; rateLimited: number }>
}

interface ResolvedInit {
  clients: number
  image: string
  project: string
  lines: number
  ratePerSecond: number
  id: string
  seed: number | undefined
  sharedJournal: boolean
  timeoutMs: number
  killMasterAt: number | undefined
  killClientAt: number | undefined
}

function resolveDockerDownloadOptions(init: DockerDownloadInit): ResolvedInit {
  return {
    clients: checkInteger('clients', init.clients, 1, 250),
    image: checkString('image', init.image ?? DEFAULT_IMAGE),
    project: checkString('project', init.project ?? DEFAULT_DOWNLOAD_PROJECT, /^[a-z0-9][a-z0-9_.-]{0,40}$/),
    lines: checkInteger('lines', init.lines ?? 1000, 1),
    ratePerSecond: checkNumber('ratePerSecond', init.ratePerSecond ?? 100, 0.001, 1e6),
    id: checkString('id', init.id ?? 'distlab', /^[^\n\r]{1,200}$/),
    seed: init.seed === undefined ? undefined : checkInteger('seed', init.seed, 0, 2 ** 32 - 1),
    sharedJournal: init.sharedJournal ?? true,
    timeoutMs: checkInteger('timeoutMs', init.timeoutMs ?? 30 * 60_000, 1),
    killMasterAt:
      init.killMasterAt === undefined ? undefined : checkInteger('killMasterAt', init.killMasterAt, 0),
    killClientAt:
      init.killClientAt === undefined ? undefined : checkInteger('killClientAt', init.killClientAt, 0),
  }
}

interface ClientState {
  rank: number
  name: string
  address: string
  follower: ChildProcess | undefined
  /** The container stopped (its log stream ended). */
  exited: boolean
  killed: boolean
  report: ClientReport | undefined
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Names of what a project creates. */
export function downloadNames(project: string, clients: number) {
  return {
    network: project,
    volume: `${project}-journal`,
    server: `${project}-server`,
    clients: Array.from({ length: clients }, (_, i) => `${project}-client-${i}`),
  }
}

/** Removes every container, network and volume labelled with this project. */
export async function removeDownloadProject(project: string): Promise<void> {
  const filter = `label=${DOWNLOAD_LABEL}=${project}`
  const ids = (await docker(['ps', '-aq', '--filter', filter], { allowFailure: true })).stdout
    .split('\n')
    .filter(Boolean)
  if (ids.length) await docker(['rm', '-f', '-v', ...ids], { allowFailure: true, timeoutMs: 120_000 })
  const nets = (await docker(['network', 'ls', '-q', '--filter', filter], { allowFailure: true })).stdout
    .split('\n')
    .filter(Boolean)
  if (nets.length) await docker(['network', 'rm', ...nets], { allowFailure: true })
  const vols = (await docker(['volume', 'ls', '-q', '--filter', filter], { allowFailure: true })).stdout
    .split('\n')
    .filter(Boolean)
  if (vols.length) await docker(['volume', 'rm', '-f', ...vols], { allowFailure: true })
}

/** What is left of a project: container, network and volume names. */
export async function downloadLeftovers(project: string): Promise<string[]> {
  const filter = `label=${DOWNLOAD_LABEL}=${project}`
  const out: string[] = []
  for (const args of [
    ['ps', '-a', '--format', '{{.Names}}', '--filter', filter],
    ['network', 'ls', '--format', '{{.Name}}', '--filter', filter],
    ['volume', 'ls', '--format', '{{.Name}}', '--filter', filter],
  ])
    out.push(...(await docker(args, { allowFailure: true })).stdout.split('\n').filter(Boolean))
  return out
}

export class DockerDownload {
  readonly options: ResolvedInit
  private readonly log: Logger
  private readonly names: ReturnType<typeof downloadNames>
  private readonly clients: ClientState[] = []
  private readonly killed: DockerDownloadResult['killed'] = []
  private lines = 0
  private masterRank: number | undefined
  private wakeUp: (() => void) | undefined
  private closing = false

  constructor(private readonly init: DockerDownloadInit) {
    this.options = resolveDockerDownloadOptions(init)
    if (
      this.options.killClientAt !== undefined &&
      this.options.clients < 2 &&
      this.options.killMasterAt === undefined
    )
      throw new InvalidArgumentError('killClientAt needs at least 2 clients', 'killClientAt')
    this.log = named(init.logger ?? silentLogger, 'distlab:download-docker')
    this.names = downloadNames(this.options.project, this.options.clients)
  }

  /** Runs the download to the master's SUBMIT reply; removes everything it created before it settles. */
  async run(): Promise<DockerDownloadResult> {
    const o = this.options
    const signal = this.init.signal
    signal?.throwIfAborted()
    await requireDocker()
    if (!(await imageExists(o.image)))
      throw new DockerError(
        `no image ${o.image}; build it with \`distlab deploy image\` (offline: \`bash scripts/docker-build-image.sh\`), or pass --build`,
      )
    const filter = `label=${DOWNLOAD_LABEL}=${o.project}`
    const running = (await docker(['ps', '-q', '--filter', filter])).stdout.trim()
    if (running)
      throw new DockerError(
        `a containerised download named ${o.project} is running; wait for it, or give another --project`,
      )
    await removeDownloadProject(o.project) // leftovers of a run that was killed
    const onAbort = () => this.wakeUp?.()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await this.runInside()
    } finally {
      this.closing = true
      signal?.removeEventListener('abort', onAbort)
      for (const c of this.clients) c.follower?.kill('SIGKILL')
      await removeDownloadProject(o.project)
    }
  }

  private async runInside(): Promise<DockerDownloadResult> {
    const o = this.options
    const n = this.names
    const label = ['--label', `${DOWNLOAD_LABEL}=${o.project}`]
    await docker(['network', 'create', '--driver', 'bridge', ...label, n.network])
    if (o.sharedJournal) await docker(['volume', 'create', ...label, n.volume])
    const common = ['run', '-d', '--init', '--no-healthcheck', '--network', n.network, ...label]
    await this.startServer(common)
    await this.waitForServer()
    await this.startClients(common)
    await this.trackClients()
    const master = await this.waitForMaster()
    // The others hear "submitted" from the master and exit; a short grace for their reports.
    const graceEnd = Date.now() + MEMBERS_GRACE_MS
    while (this.clients.some((c) => !c.exited && !c.report) && Date.now() < graceEnd) await sleep(200)
    return this.result(master)
  }

  /** The rate-limited line server, reachable as DOWNLOAD_SERVER_ALIAS on the project's network. */
  private async startServer(common: string[]): Promise<void> {
    const o = this.options
    const n = this.names
    await docker([
      ...common,
      '--name',
      n.server,
      '--network-alias',
      DOWNLOAD_SERVER_ALIAS,
      o.image,
      'lineserver',
      '--host',
      '0.0.0.0',
      '--port',
      String(DOWNLOAD_SERVER_PORT),
      '--lines',
      String(o.lines),
      '--rate',
      String(o.ratePerSecond),
      '--json-log',
      ...(o.seed === undefined ? [] : ['--seed', String(o.seed)]),
    ])
  }

  /** One container per client, each told every client's channel address. */
  private async startClients(common: string[]): Promise<void> {
    const o = this.options
    const n = this.names
    const peers = n.clients.map((c) => `${c}:${DOWNLOAD_CHANNEL_PORT}`).join(',')
    await Promise.all(
      n.clients.map((name, rank) =>
        docker([
          ...common,
          '--name',
          name,
          '--hostname',
          name,
          ...(o.sharedJournal ? ['-v', `${n.volume}:/data`] : []),
          o.image,
          'download',
          'client',
          '--rank',
          String(rank),
          '--peers',
          peers,
          '--server',
          `${DOWNLOAD_SERVER_ALIAS}:${DOWNLOAD_SERVER_PORT}`,
          '--lines',
          String(o.lines),
          '--rate',
          String(o.ratePerSecond),
          '--id',
          o.id,
          ...(o.sharedJournal ? ['--journal', '/data/download.jsonl'] : []),
          '--report-progress',
          '--json',
        ]),
      ),
    )
  }

  /** Each client's address, and a follower on its log for progress and its report. */
  private async trackClients(): Promise<void> {
    const n = this.names
    const infos = await inspectContainers(n.clients, n.network)
    for (const [rank, name] of n.clients.entries()) {
      const c: ClientState = {
        rank,
        name,
        address: infos.find((i) => i.name === name)?.ip ?? '',
        follower: undefined,
        exited: false,
        killed: false,
        report: undefined,
      }
      this.clients.push(c)
      this.follow(c)
    }
  }

  private async result(master: ClientReport): Promise<DockerDownloadResult> {
    const o = this.options
    const serverAddresses = await this.serverSessions()
    const clientAddresses = new Set(this.clients.map((c) => c.address))
    const fromClients = serverAddresses.filter((a) => clientAddresses.has(a.address))
    const served = fromClients.reduce((s, a) => s + a.served, 0)
    const rateLimited = fromClients.reduce((s, a) => s + a.rateLimited, 0)
    return {
      clients: o.clients,
      lines: master.lines,
      seconds: master.seconds,
      requests: served + rateLimited,
      // Every line was fetched in this run (the journal lives and dies with it).
      duplicates: Math.max(0, served - master.lines),
      submitted: master.submitted,
      submitReply: master.submitReply ?? undefined,
      rateLimited,
      masterRank: master.rank,
      fromJournal: master.fromJournal,
      killed: this.killed.slice(),
      perClient: this.clients.map((c) => ({
        rank: c.rank,
        container: c.name,
        address: c.address,
        alive: !c.killed,
        report: c.report,
      })),
      serverAddresses,
    }
  }

  private async waitForServer(): Promise<void> {
    const deadline = Date.now() + SERVER_START_TIMEOUT_MS
    for (let i = 0; i < 10_000; i++) {
      this.init.signal?.throwIfAborted()
      const r = await docker(['logs', this.names.server], { allowFailure: true })
      if (r.stdout.includes('line server listening')) return
      const state = await docker(['inspect', '-f', '{{.State.Running}}', this.names.server], {
        allowFailure: true,
      })
      if (state.stdout.trim() === 'false')
        throw new DockerError(
          `the line server container exited: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ')}`,
        )
      if (Date.now() > deadline)
        throw new TimeoutError(
          `the line server container did not listen within ${SERVER_START_TIMEOUT_MS} ms`,
        )
      await sleep(250)
    }
  }

  /** Follows a client's output: progress lines on stderr, its report on stdout; the end = it stopped. */
  private follow(c: ClientState): void {
    const child = spawn('docker', ['logs', '-f', c.name], { stdio: ['ignore', 'pipe', 'pipe'] })
    c.follower = child
    child.on('error', () => {})
    // stdout holds nothing but the client's report (one JSON object, printed when it ends).
    let stdout = ''
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      let r: ClientReport
      try {
        r = JSON.parse(stdout) as ClientReport
      } catch {
        return // not whole yet
      }
      if (typeof r.rank === 'number' && (r.role === 'master' || r.role === 'member')) {
        c.report = r
        this.wakeUp?.()
      }
    })
    onLines(child.stderr!, (l) => {
      if (!l.startsWith('{')) return
      try {
        const p = (JSON.parse(l) as { progress?: { lines: number; total: number; rank: number } }).progress
        if (p && typeof p.lines === 'number') this.onProgress(p.lines, p.rank)
      } catch {
        // a log line
      }
    })
    child.on('close', () => {
      c.exited = true
      if (!c.killed && !c.report && !this.closing)
        this.init.onEvent?.(`client ${c.rank} (${c.name}) stopped without a report`)
      this.wakeUp?.()
    })
  }

  private onProgress(lines: number, rank: number): void {
    if (this.clients[rank]?.killed) return // a late line from a killed master
    if (rank !== this.masterRank) this.lines = lines // a new master: its count, even if lower
    this.masterRank = rank
    this.lines = Math.max(this.lines, lines)
    this.init.onProgress?.({ lines: this.lines, total: this.options.lines, masterRank: rank })
    const o = this.options
    if (o.killClientAt !== undefined && lines >= o.killClientAt && !this.killed.some((k) => !k.wasMaster)) {
      const victim = [...this.clients].reverse().find((c) => !c.killed && c.rank !== rank)
      if (victim) this.kill(victim, lines, false)
      else this.killed.push({ rank: -1, atLines: lines, wasMaster: false }) // nobody to kill: once only
    }
    if (o.killMasterAt !== undefined && lines >= o.killMasterAt && !this.killed.some((k) => k.wasMaster)) {
      const victim = this.clients[rank]
      if (victim && !victim.killed) this.kill(victim, lines, true)
    }
  }

  private kill(c: ClientState, atLines: number, wasMaster: boolean): void {
    c.killed = true
    this.killed.push({ rank: c.rank, atLines, wasMaster })
    if (wasMaster) this.masterRank = undefined
    this.init.onEvent?.(
      `docker kill ${c.name} (client ${c.rank}${wasMaster ? ', the master' : ''}) at ${atLines} lines`,
    )
    this.log.info({ rank: c.rank, atLines, wasMaster }, 'killing a client container')
    void docker(['kill', c.name], { allowFailure: true }).catch(() => {})
  }

  private async waitForMaster(): Promise<ClientReport> {
    const deadline = Date.now() + this.options.timeoutMs
    for (;;) {
      const master = this.clients.find((c) => c.report?.role === 'master')?.report
      if (master) return master
      if (this.init.signal?.aborted)
        throw new DockerError('download aborted', { cause: this.init.signal.reason })
      if (this.clients.every((c) => c.exited))
        throw new DockerError('every client container stopped and none submitted')
      if (Date.now() > deadline)
        throw new TimeoutError(`download not complete after ${this.options.timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000)
        this.wakeUp = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.wakeUp = undefined
    }
  }

  /** Stops the line server (it logs its sessions as it goes) and reads them from its log. */
  private async serverSessions(): Promise<DockerDownloadResult['serverAddresses']> {
    await docker(['stop', '-t', '10', this.names.server], { allowFailure: true, timeoutMs: 60_000 })
    const r = await docker(['logs', this.names.server], { allowFailure: true })
    for (const line of r.stdout.split('\n').reverse()) {
      if (!line.startsWith('{')) continue
      try {
        const rec = JSON.parse(line) as {
          msg?: string
          addresses?: Array<{ address: string; served: number; rateLimited: number }>
        }
        if (rec.msg === 'line server stopping' && Array.isArray(rec.addresses))
          return rec.addresses.map((a) => ({
            address: a.address,
            served: a.served,
            rateLimited: a.rateLimited,
          }))
      } catch {
        // not JSON
      }
    }
    this.log.warn('the line server did not log its sessions')
    return []
  }
}

export function dockerDownload(init: DockerDownloadInit): DockerDownload {
  return new DockerDownload(init)
}
