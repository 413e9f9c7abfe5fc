// Cooperative download (seed 003): N clients fetch random lines from a rate-limited line server,
// each from its own address so the per-address limit applies to each, and one of them — the master —
// merges and deduplicates, tells the others when the text is complete, and submits it.
//
// Why this shape. The N clients run in one process (what `distlab download` starts) or one per
// process or container (DownloadClient, `distlab download client`), but each is a separate party on
// the wire: its own line-server connection bound to its own address, and its own
// TCP channel listener (newline-delimited JSON, channel.ts) on that address. They coordinate only
// over those sockets, never through shared memory, so one client crashing (crash(): its sockets drop
// with no goodbye) looks to the others exactly as a dead process would, and the same CoopClient runs
// alone, one client per process or container. The master is the lowest-ranked live client (a bully
// election with fixed ranks: a client scans ranks 0..N-1 and joins the first that answers as master,
// or becomes master itself when it reaches its own rank), so a successor is found without a vote.
// Nothing fetched is lost when the master dies: every client keeps the lines it fetched and hands
// them all to each new master, and the master appends every new line to a journal file (JSON lines)
// that the next master — or a restarted `distlab download` — reads back first. Running the clients
// as processes would add process management and nothing the survivability needs; the whole
// process dying is covered by the journal.
import { createServer, connect, type Server, type Socket } from 'node:net'
import { rmSync, unlinkSync } from 'node:fs'
import type { Logger } from '../../core/logger.js'
import { named, silentLogger } from '../../core/logger.js'
import { checkInteger, checkNumber, checkPort, checkString } from '../../core/options.js'
import { DistlabError, InvalidArgumentError, TimeoutError, wrapSocketError } from '../../core/errors.js'
import { LineClient, type ServedLine } from './line-client.js'
import { JsonLineChannel, LINES_PER_BATCH, type ChannelMessage } from './channel.js'
import { DownloadJournal, readJournal } from './journal.js'

export { readJournal, repairJournalTail } from './journal.js'
import {
  DEFAULT_CLIENT_BASE_ADDRESS,
  DEFAULT_LINE_COUNT,
  DEFAULT_RATE_LINES_PER_S,
  DOWNLOAD_TIMEOUT_MS,
  MASTER_RETRY_MS,
  PROGRESS_INTERVAL_MS,
} from './constants.js'
import { guarded } from '../../core/guarded.js'

export class DownloadError extends DistlabError {
  override readonly code = 'ERR_DOWNLOAD'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DownloadError'
  }
}

export interface CooperativeDownloadInit {
  /** The line server. */
  server: { host: string; port: number }
  /** How many clients cooperate. @default 1 */
  clients?: number
  /** The id sent with SUBMIT. @default 'distlab' */
  id?: string
  /** Distinct lines the text has (the download is complete when the master holds them all). @default 1000 */
  lines?: number
  /** Lines per second each client asks for: the server's per-address limit. @default 100 */
  ratePerSecond?: number
  /**
   * The local address of each client, in rank order. Default: 127.50.0.1, .2, ... when the server is
   * on loopback (so each client is a different address to the server); otherwise the OS's choice.
   */
  localAddresses?: readonly string[]
  /** Send SESSION RESET from each client's address before fetching. @default false */
  resetSession?: boolean
  /** Journal of collected lines (appended as they arrive; read back by a new master). @default none */
  journalPath?: string
  /** Remove the journal after a SUBMIT SUCCESS that got every line right. @default true */
  removeJournalOnSuccess?: boolean
  /** Send SUBMIT when complete. @default true */
  submit?: boolean
  /** Give up after this long. @default 30 minutes */
  timeoutMs?: number
  signal?: AbortSignal
  logger?: Logger
  /** Called at most every 100 ms while lines come in, and once at the end. */
  onProgress?: (p: DownloadProgress) => void
}

export interface CooperativeDownloadOptions {
  readonly host: string
  readonly port: number
  readonly clients: number
  readonly id: string
  readonly lines: number
  readonly ratePerSecond: number
  readonly localAddresses: ReadonlyArray<string | undefined>
  readonly resetSession: boolean
  readonly journalPath: string | undefined
  readonly removeJournalOnSuccess: boolean
  readonly submit: boolean
  readonly timeoutMs: number
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** The i-th (0-based) address counting up from `base` through the last two octets, skipping .0 and .255. */
export function clientAddress(i: number, base = DEFAULT_CLIENT_BASE_ADDRESS): string {
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number]
  const index = (c * 254 + (d - 1) + i) | 0
  return `${a}.${b}.${Math.floor(index / 254)}.${1 + (index % 254)}`
}

export function resolveCooperativeDownloadOptions(init: CooperativeDownloadInit): CooperativeDownloadOptions {
  if (!init || typeof init.server !== 'object')
    throw new InvalidArgumentError('server must be { host, port }', 'server')
  const host = checkString('server.host', init.server.host)
  const port = checkPort('server.port', init.server.port)
  const clients = checkInteger('clients', init.clients ?? 1, 1, 1000)
  const id = checkString('id', init.id ?? 'distlab', /^[^\n\r]{1,200}$/)
  const lines = checkInteger('lines', init.lines ?? DEFAULT_LINE_COUNT, 1)
  const ratePerSecond = checkNumber(
    'ratePerSecond',
    init.ratePerSecond ?? DEFAULT_RATE_LINES_PER_S,
    0.001,
    1e6,
  )
  let localAddresses: Array<string | undefined>
  if (init.localAddresses !== undefined) {
    if (init.localAddresses.length !== clients)
      throw new InvalidArgumentError(
        `localAddresses must list one address per client (${clients}), got ${init.localAddresses.length}`,
        'localAddresses',
      )
    localAddresses = init.localAddresses.map((a, i) => checkString(`localAddresses[${i}]`, a))
  } else {
    localAddresses = Array.from({ length: clients }, (_, i) =>
      isLoopbackHost(host) ? clientAddress(i) : undefined,
    )
  }
  const journalPath =
    init.journalPath === undefined ? undefined : checkString('journalPath', init.journalPath)
  const timeoutMs = checkInteger('timeoutMs', init.timeoutMs ?? DOWNLOAD_TIMEOUT_MS, 1)
  return Object.freeze({
    host,
    port,
    clients,
    id,
    lines,
    ratePerSecond,
    localAddresses: Object.freeze(localAddresses),
    resetSession: init.resetSession ?? false,
    journalPath,
    removeJournalOnSuccess: init.removeJournalOnSuccess ?? true,
    submit: init.submit ?? true,
    timeoutMs,
  })
}

export interface DownloadProgress {
  lines: number
  total: number
  elapsedMs: number
  requests: number
  masterRank: number | undefined
}

export interface DownloadClientReport {
  rank: number
  address: string | undefined
  requests: number
  rateLimited: number
  served: number
  alive: boolean
}

export interface DownloadResult {
  clients: number
  /** Distinct lines collected. */
  lines: number
  seconds: number
  /** SENDLINE requests sent by all clients (including those answered -1). */
  requests: number
  /** Requests answered -1 (over the rate). */
  rateLimited: number
  /** Lines served that were already collected. */
  duplicates: number
  /** True when the server answered SUBMIT SUCCESS. */
  submitted: boolean
  submitReply: string | undefined
  /** Lines read back from the journal of an earlier run. */
  resumed: number
  /** How many times a new master took over. */
  takeovers: number
  masterRank: number | undefined
  /** Each master in turn: its rank, the lines it read back from the journal, and when it took over. */
  masters: Array<{ rank: number; fromJournal: number; t: number }>
  /** Distinct lines collected against seconds since the start. */
  timeline: Array<{ t: number; lines: number }>
  /** Time the master spent merging (dedup + journal append), in microseconds per line handled. */
  mergeUsPerLine: number
  /** Lines handed to a master's merge (new or not). */
  mergeLines: number
  /** Mean SENDLINE round trip (request written to reply read), in microseconds. */
  meanRttUs: number
  /** The collected text, by line number. */
  text: string[]
  perClient: DownloadClientReport[]
}

/** SUBMIT SUCCESS/FAILED reply, taken apart. */
export interface SubmitReply {
  ok: boolean
  id: string
  address?: string
  correct?: number
  incorrect?: number
  read?: number
  reason?: string
}

export function parseSubmitReply(reply: string): SubmitReply | undefined {
  let m = /^SUBMIT SUCCESS: (.*) - (\S+) - (\d+), (\d+), (\d+)(?:,.*)?$/.exec(reply)
  if (m) return { ok: true, id: m[1]!, address: m[2]!, correct: +m[3]!, incorrect: +m[4]!, read: +m[5]! }
  m = /^SUBMIT FAILED: (.*?) - (.*)$/.exec(reply)
  if (m) return { ok: false, id: m[1]!, reason: m[2]! }
  return undefined
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Distinct lines collected against time since the start, and the owner's progress report at most
 * every PROGRESS_INTERVAL_MS (always on the last line). Both runners (N clients in one process, one
 * client alone) keep their progress in one.
 */
class ProgressTracker {
  private startedAt = 0
  collected = 0
  readonly timeline: Array<{ t: number; lines: number }> = []
  private lastReportAt = 0

  constructor(
    private readonly total: number,
    private readonly report: (() => void) | undefined,
  ) {}

  start(): void {
    this.startedAt = performance.now()
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt
  }

  update(lines: number): void {
    if (lines <= this.collected && this.timeline.length > 0) return
    this.collected = lines
    const now = performance.now()
    this.timeline.push({ t: (now - this.startedAt) / 1000, lines })
    if (this.report && (now - this.lastReportAt >= PROGRESS_INTERVAL_MS || lines === this.total)) {
      this.lastReportAt = now
      this.report()
    }
  }
}

/** What a CoopClient needs from whoever runs it: N in one process, or one alone. */
interface CoopContext {
  readonly options: CooperativeDownloadOptions
  readonly log: Logger
  /** Channel address of each rank (host may be a DNS name). */
  readonly roster: ReadonlyArray<{ host: string; port: number } | undefined>
  mergeMs: number
  mergeLines: number
  outOfRange: number
  badChannelMessages: number
  progress(lines: number): void
  masterChanged(rank: number, fromJournal: number): void
  fail(err: Error): void
  finish(rank: number, reply: string | undefined, merged: Map<number, string>): void
  /** A member heard from its master that the text was submitted. */
  submittedByMaster(reply: string): void
  /** A member joined the master of this rank. */
  joinedMaster(rank: number): void
}

/** One cooperating client. */
class CoopClient {
  alive = true
  role: 'member' | 'master' = 'member'
  readonly own = new Map<number, string>()
  served = 0
  finished = false
  private stopFetching = false
  private lc: LineClient
  private channelServer: Server | undefined
  private toMaster: JsonLineChannel | undefined
  private readonly inbound = new Set<JsonLineChannel>()
  private readonly members = new Set<JsonLineChannel>()
  private wake: (() => void) | undefined
  private finding = false
  private fetching = false
  // Master state.
  private merged: Map<number, string> | undefined
  private journal: DownloadJournal | undefined
  private completing = false
  private submitReply: string | undefined
  private requestsBefore = 0
  private rateLimitedBefore = 0
  private rttMsBefore = 0

  constructor(
    private readonly dl: CoopContext,
    readonly rank: number,
    readonly localAddress: string | undefined,
    /** Where the channel listener binds: default the local address (or 127.0.0.1), an OS-chosen port. */
    private readonly listenOn: { host?: string; port?: number } = {},
  ) {
    this.lc = this.newLineClient()
  }

  private newLineClient(): LineClient {
    const o = this.dl.options
    return new LineClient({ host: o.host, port: o.port, localAddress: this.localAddress })
  }

  get requests(): number {
    return this.requestsBefore + this.lc.requests
  }
  get rateLimited(): number {
    return this.rateLimitedBefore + this.lc.rateLimited
  }
  get rttMsTotal(): number {
    return this.rttMsBefore + this.lc.rttMsTotal
  }

  /** Counts of a line-server connection about to be replaced. */
  private retireLineClient(): void {
    this.requestsBefore += this.lc.requests
    this.rateLimitedBefore += this.lc.rateLimited
    this.rttMsBefore += this.lc.rttMsTotal
    this.lc.destroy()
    this.lc = this.newLineClient()
  }

  /** Connects to the line server and opens the channel listener. */
  async start(): Promise<{ host: string; port: number }> {
    await this.lc.connect()
    if (this.dl.options.resetSession) await this.lc.resetSession()
    const server = createServer(
      guarded(
        (s: Socket) => this.acceptChannel(s),
        (_e, s: Socket) => s.destroy(),
      ),
    )
    const host = this.listenOn.host ?? this.localAddress ?? '127.0.0.1'
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(wrapSocketError(err, `channel port on ${host}`)))
        server.listen(this.listenOn.port ?? 0, host, () => resolve())
      })
    } catch (err) {
      await this.lc.close()
      throw err
    }
    this.channelServer = server
    const a = server.address() as { port: number }
    return { host, port: a.port }
  }

  run(): void {
    void this.fetchLoop()
    void this.findMaster()
  }

  // ---- fetching ----------------------------------------------------------------------------

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined
        resolve()
      }, ms)
      this.wake = () => {
        clearTimeout(t)
        this.wake = undefined
        resolve()
      }
    })
  }

  // Pacing mirrors the server's limiter (a GCRA): `tat` is when the next line is due at the rate;
  // a request goes out up to half an interval before it, which makes up for a late timer at once
  // and stays within the server's tolerance of one interval.
  private async fetchLoop(): Promise<void> {
    if (this.fetching) return
    this.fetching = true
    try {
      await this.fetchLines()
    } finally {
      this.fetching = false
    }
  }

  /**
   * Fetch again after a `complete` from a master that then died before it submitted: the next
   * master may lack lines, and this client is the one to fetch them.
   */
  private resumeFetching(): void {
    if (!this.alive || this.finished || !this.stopFetching || this.completing) return
    this.stopFetching = false
    void this.fetchLoop()
  }

  private async fetchLines(): Promise<void> {
    const intervalMs = 1000 / this.dl.options.ratePerSecond
    let tat = Number.NEGATIVE_INFINITY
    while (this.alive && !this.stopFetching) {
      // A timer may fire up to a millisecond early (libuv keeps whole-millisecond loop time): check.
      for (
        let wait = tat - intervalMs / 2 - performance.now();
        wait > 0 && this.alive && !this.stopFetching;
      ) {
        await this.sleep(wait)
        wait = tat - intervalMs / 2 - performance.now()
      }
      if (!this.alive || this.stopFetching) break
      let line: ServedLine | undefined
      try {
        line = await this.lc.sendLine()
      } catch (err) {
        if (!this.alive || this.stopFetching) break
        this.dl.log.warn({ rank: this.rank, err: (err as Error).message }, 'line server request failed')
        await this.reconnectLineServer()
        tat = Number.NEGATIVE_INFINITY
        continue
      }
      if (!line) {
        // Over the limit after all: start the schedule again a full interval from now.
        tat = performance.now() + intervalMs
        continue
      }
      // The server saw the request somewhere between sending and the reply; counting from the reply
      // keeps this schedule never ahead of the server's, even when a request was held up on the way.
      tat = Math.max(tat, performance.now()) + intervalMs
      this.served++
      if (this.own.has(line.n)) continue
      this.own.set(line.n, line.text)
      this.deliver(line.n, line.text)
    }
  }

  private async reconnectLineServer(): Promise<void> {
    for (let attempt = 0; this.alive && !this.stopFetching && attempt < 1000; attempt++) {
      this.retireLineClient()
      try {
        await this.lc.connect()
        return
      } catch {
        await this.sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)))
      }
    }
  }

  private deliver(n: number, text: string): void {
    if (this.role === 'master') {
      this.merge(n, text)
      this.endBatch()
    } else this.toMaster?.send({ t: 'line', n, text })
    // With no master right now the line stays in `own` and goes to the next one.
  }

  // ---- finding the master ------------------------------------------------------------------

  private async findMaster(): Promise<void> {
    if (this.finding) return
    this.finding = true
    try {
      const n = this.dl.roster.length
      while (this.alive && !this.finished) {
        let retry = false
        for (let r = 0; r < n && this.alive; r++) {
          if (r === this.rank) {
            this.becomeMaster()
            return
          }
          const outcome = await this.tryJoin(r)
          if (outcome === 'joined') return
          if (outcome === 'not-master') {
            retry = true
            break
          }
        }
        if (retry) await this.sleep(MASTER_RETRY_MS)
      }
    } finally {
      this.finding = false
    }
  }

  private tryJoin(r: number): Promise<'joined' | 'refused' | 'not-master'> {
    const addr = this.dl.roster[r]
    if (!addr) return Promise.resolve('refused')
    return new Promise((resolve) => {
      let settled = false
      const done = (v: 'joined' | 'refused' | 'not-master') => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(v)
      }
      const socket: Socket = connect({ host: addr.host, port: addr.port, localAddress: this.localAddress })
      const timer = setTimeout(() => {
        socket.destroy()
        done('refused')
      }, 2000)
      socket.once('error', () => done('refused'))
      socket.once('connect', () => {
        const ch = new JsonLineChannel(
          socket,
          (m) => {
            if (!settled) {
              if (m.t === 'welcome') {
                if (!this.alive) {
                  ch.destroy()
                  return done('refused')
                }
                this.toMaster = ch
                this.dl.log.debug({ rank: this.rank, master: m.rank }, 'joined master')
                this.dl.joinedMaster(m.rank)
                this.handOver(ch)
                return done('joined')
              }
              ch.end()
              return done('not-master')
            }
            this.onMasterMessage(m)
          },
          () => {
            done('refused')
            if (this.toMaster === ch) {
              this.toMaster = undefined
              if (this.alive && !this.finished) {
                this.dl.log.info({ rank: this.rank }, 'lost the master; looking for the next')
                this.resumeFetching()
                void this.findMaster()
              }
            }
          },
        )
        ch.send({ t: 'hello', rank: this.rank })
      })
    })
  }

  /** Everything this client has, to a master it just joined. */
  private handOver(ch: JsonLineChannel): void {
    const all = [...this.own.entries()]
    for (let i = 0; i < all.length; i += LINES_PER_BATCH)
      ch.send({ t: 'lines', lines: all.slice(i, i + LINES_PER_BATCH) })
  }

  private onMasterMessage(m: ChannelMessage): void {
    if (m.t === 'complete') {
      this.stopFetching = true
      this.wake?.()
    } else if (m.t === 'submitted') {
      if (this.finished) return
      this.finished = true
      this.stopFetching = true
      this.wake?.()
      this.dl.submittedByMaster(m.reply)
    }
  }

  // ---- the master --------------------------------------------------------------------------

  private acceptChannel(socket: Socket): void {
    if (!this.alive) {
      socket.destroy()
      return
    }
    let ch: JsonLineChannel
    // eslint-disable-next-line prefer-const
    ch = new JsonLineChannel(
      socket,
      (m) => this.onMemberMessage(ch, m),
      () => {
        this.inbound.delete(ch)
        this.members.delete(ch)
      },
      () => this.dl.badChannelMessages++,
    )
    this.inbound.add(ch)
  }

  private onMemberMessage(ch: JsonLineChannel, m: ChannelMessage): void {
    if (m.t === 'hello') {
      if (this.role !== 'master' || !this.alive) {
        ch.send({ t: 'not-master' })
        ch.end()
        return
      }
      this.members.add(ch)
      ch.send({ t: 'welcome', rank: this.rank, have: this.merged!.size })
      if (this.completing) ch.send({ t: 'complete', lines: this.merged!.size })
      if (this.submitReply !== undefined) ch.send({ t: 'submitted', reply: this.submitReply })
      return
    }
    if (!this.members.has(ch)) return
    if (m.t === 'line' && Number.isInteger(m.n) && typeof m.text === 'string') this.merge(m.n, m.text)
    else if (m.t === 'lines' && Array.isArray(m.lines))
      for (const pair of m.lines)
        if (Array.isArray(pair) && Number.isInteger(pair[0]) && typeof pair[1] === 'string')
          this.merge(pair[0], pair[1])
    // One write and one fsync per inbound batch.
    this.endBatch()
  }

  private becomeMaster(): void {
    if (!this.alive || this.role === 'master') return
    const o = this.dl.options
    const merged = o.journalPath ? readJournal(o.journalPath, o.lines) : new Map<number, string>()
    const fromJournal = merged.size
    if (o.journalPath) this.journal = new DownloadJournal(o.journalPath)
    this.merged = merged
    this.role = 'master'
    this.dl.masterChanged(this.rank, fromJournal)
    this.dl.log.info({ rank: this.rank, fromJournal, own: this.own.size }, 'acting as master')
    this.dl.progress(merged.size)
    for (const [n, text] of this.own) this.merge(n, text)
    this.endBatch()
    if (merged.size >= o.lines) void this.complete()
  }

  private merge(n: number, text: string): void {
    const merged = this.merged
    if (!merged || !this.alive) return
    const t0 = performance.now()
    this.dl.mergeLines++
    if (n >= 0 && n < this.dl.options.lines && !merged.has(n)) {
      merged.set(n, text)
      // Queued here, written and fsynced once per batch by the caller (flushJournal).
      this.journal?.add(n, text)
      this.dl.mergeMs += performance.now() - t0
      if (merged.size === this.dl.options.lines) void this.complete()
    } else {
      if (n < 0 || n >= this.dl.options.lines) this.dl.outOfRange++
      this.dl.mergeMs += performance.now() - t0
    }
  }

  private async complete(): Promise<void> {
    if (this.completing || !this.alive) return
    this.completing = true
    this.stopFetching = true
    this.wake?.()
    const merged = this.merged!
    for (const m of this.members) m.send({ t: 'complete', lines: merged.size })
    this.dl.log.info({ rank: this.rank, lines: merged.size }, 'complete')
    // What is journaled is on the disk before the server is told anything.
    this.flushJournal()
    const lines = [...merged.entries()].sort((a, b) => a[0] - b[0]).map(([n, text]) => ({ n, text }))
    let reply: string | undefined
    if (this.dl.options.submit) {
      for (let attempt = 0; attempt < 5 && this.alive && reply === undefined; attempt++) {
        try {
          reply = await this.lc.submit(this.dl.options.id, lines)
        } catch (err) {
          this.dl.log.warn({ err: (err as Error).message }, 'SUBMIT failed; reconnecting')
          this.retireLineClient()
          await this.lc.connect().catch(() => sleep(200))
        }
      }
      if (!this.alive) return
      if (reply === undefined) {
        this.dl.fail(new DownloadError('could not SUBMIT: the line server did not answer'))
        return
      }
    }
    this.submitReply = reply ?? ''
    for (const m of this.members) m.send({ t: 'submitted', reply: this.submitReply })
    this.finished = true
    this.dl.finish(this.rank, reply, merged)
  }

  // ---- stopping ----------------------------------------------------------------------------

  /** Drops every socket at once, with no goodbye: what a crash looks like from outside. */
  crash(): void {
    if (!this.alive) return
    this.alive = false
    this.stopFetching = true
    this.wake?.()
    this.lc.destroy()
    this.toMaster?.destroy()
    for (const ch of this.inbound) ch.destroy()
    this.channelServer?.close()
    this.closeJournal()
  }

  private closeJournal(): void {
    this.journal?.close()
    this.journal = undefined
  }

  /** The end of a merge batch: its lines are journaled (written, fsynced), then reported as progress. */
  private endBatch(): void {
    this.flushJournal()
    if (this.merged && this.alive) this.dl.progress(this.merged.size)
  }

  /** Writes and fsyncs the lines merged since the last batch; a full disk fails the download. */
  private flushJournal(): void {
    try {
      this.journal?.flush()
    } catch (err) {
      this.dl.log.error({ err: (err as Error).message }, 'journal write failed')
      this.journal?.abandon()
      this.journal = undefined
      this.dl.fail(new DownloadError(`cannot write the journal: ${(err as Error).message}`))
    }
  }

  async stop(): Promise<void> {
    const wasAlive = this.alive
    this.alive = false
    this.stopFetching = true
    this.wake?.()
    this.closeJournal()
    this.toMaster?.end()
    for (const ch of this.inbound) ch.end()
    const server = this.channelServer
    this.channelServer = undefined
    if (wasAlive) await this.lc.close()
    if (server) {
      for (const ch of this.inbound) ch.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export class CooperativeDownload implements CoopContext {
  readonly options: CooperativeDownloadOptions
  /** @internal */ readonly log: Logger
  /** @internal channel address of each rank */ readonly roster: Array<
    { host: string; port: number } | undefined
  >
  /** @internal */ mergeMs = 0
  /** @internal */ mergeLines = 0
  /** @internal */ outOfRange = 0
  /** @internal */ badChannelMessages = 0
  private clients: CoopClient[] = []
  private readonly tracker: ProgressTracker
  private masterRank: number | undefined
  private takeovers = -1
  private readonly masters: Array<{ rank: number; fromJournal: number; t: number }> = []
  private resumed = 0
  private settle: { resolve: (r: DownloadResult) => void; reject: (e: Error) => void } | undefined
  private result: DownloadResult | undefined
  private readonly onProgress: ((p: DownloadProgress) => void) | undefined
  private readonly signal: AbortSignal | undefined

  constructor(init: CooperativeDownloadInit) {
    this.options = resolveCooperativeDownloadOptions(init)
    this.log = named(init.logger ?? silentLogger, 'distlab:download')
    this.roster = Array.from({ length: this.options.clients }, () => undefined)
    this.onProgress = init.onProgress
    this.tracker = new ProgressTracker(
      this.options.lines,
      this.onProgress && (() => this.onProgress!(this.snapshot())),
    )
    this.signal = init.signal
  }

  /** Runs the download to the SUBMIT reply; always releases every socket before it settles. */
  async run(): Promise<DownloadResult> {
    const o = this.options
    this.signal?.throwIfAborted()
    if (o.journalPath) this.resumed = readJournal(o.journalPath, o.lines).size
    this.clients = Array.from({ length: o.clients }, (_, i) => new CoopClient(this, i, o.localAddresses[i]))
    const done = new Promise<DownloadResult>((resolve, reject) => (this.settle = { resolve, reject }))
    done.catch(() => {})
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = () => this.fail(new DownloadError('download aborted', { cause: this.signal?.reason }))
    try {
      const started = await Promise.allSettled(this.clients.map((c) => c.start()))
      const bad = started.find((s) => s.status === 'rejected')
      if (bad) throw (bad as PromiseRejectedResult).reason
      started.forEach(
        (s, i) => (this.roster[i] = (s as PromiseFulfilledResult<{ host: string; port: number }>).value),
      )
      this.tracker.start()
      this.signal?.addEventListener('abort', onAbort, { once: true })
      timer = setTimeout(
        () => this.fail(new TimeoutError(`download not complete after ${o.timeoutMs} ms`)),
        o.timeoutMs,
      )
      for (const c of this.clients) c.run()
      return await done
    } finally {
      clearTimeout(timer)
      this.signal?.removeEventListener('abort', onAbort)
      await Promise.all(this.clients.map((c) => c.stop().catch(() => {})))
    }
  }

  /** Kills one client as a crash would (its sockets drop at once). For fault tests and demos. */
  crash(rank: number): void {
    const c = this.clients[rank]
    if (!c) throw new InvalidArgumentError(`no client of rank ${rank}`, 'rank')
    this.log.warn({ rank }, 'client crashed')
    c.crash()
    if (this.masterRank === rank) this.masterRank = undefined
    if (this.clients.every((x) => !x.alive)) this.fail(new DownloadError('every client has died'))
  }

  /** The rank of the current master, if any. */
  master(): number | undefined {
    return this.masterRank
  }

  /** Distinct lines the master holds now. */
  collectedLines(): number {
    return this.tracker.collected
  }

  /** @internal */
  masterChanged(rank: number, fromJournal: number): void {
    this.masterRank = rank
    this.takeovers++
    this.masters.push({ rank, fromJournal, t: this.tracker.elapsedMs() / 1000 })
  }

  /** @internal */
  progress(lines: number): void {
    this.tracker.update(lines)
  }

  private snapshot(): DownloadProgress {
    return {
      lines: this.tracker.collected,
      total: this.options.lines,
      elapsedMs: this.tracker.elapsedMs(),
      requests: this.clients.reduce((s, c) => s + c.requests, 0),
      masterRank: this.masterRank,
    }
  }

  /** @internal Members stop with the run; nothing to do. */
  submittedByMaster(): void {}
  /** @internal The master is known from masterChanged. */
  joinedMaster(): void {}

  /** @internal */
  fail(err: Error): void {
    const s = this.settle
    if (!s) return
    this.settle = undefined
    s.reject(err)
  }

  /** @internal */
  finish(rank: number, reply: string | undefined, merged: Map<number, string>): void {
    const s = this.settle
    if (!s) return
    this.settle = undefined
    const seconds = this.tracker.elapsedMs() / 1000
    const parsed = reply === undefined ? undefined : parseSubmitReply(reply)
    const o = this.options
    if (o.journalPath && o.removeJournalOnSuccess && parsed?.ok && parsed.correct === o.lines) {
      try {
        unlinkSync(o.journalPath)
      } catch {
        // already gone
      }
    }
    const served = this.clients.reduce((sum, c) => sum + c.served, 0)
    const requests = this.clients.reduce((sum, c) => sum + c.requests, 0)
    const text: string[] = []
    for (const [n, t] of merged) text[n] = t
    this.onProgress?.(this.snapshot())
    this.result = {
      clients: o.clients,
      lines: merged.size,
      seconds,
      requests,
      rateLimited: this.clients.reduce((sum, c) => sum + c.rateLimited, 0),
      duplicates: Math.max(0, served - (merged.size - this.resumed)),
      submitted: parsed?.ok ?? false,
      submitReply: reply,
      resumed: this.resumed,
      takeovers: Math.max(0, this.takeovers),
      masterRank: rank,
      masters: this.masters.slice(),
      timeline: this.tracker.timeline.slice(),
      mergeUsPerLine: this.mergeLines > 0 ? (this.mergeMs * 1000) / this.mergeLines : 0,
      mergeLines: this.mergeLines,
      meanRttUs:
        requests > 0 ? (this.clients.reduce((sum, c) => sum + c.rttMsTotal, 0) * 1000) / requests : 0,
      text,
      perClient: this.clients.map((c) => ({
        rank: c.rank,
        address: c.localAddress,
        requests: c.requests,
        rateLimited: c.rateLimited,
        served: c.served,
        alive: c.alive,
      })),
    }
    s.resolve(this.result)
  }
}

export function cooperativeDownload(init: CooperativeDownloadInit): CooperativeDownload {
  return new CooperativeDownload(init)
}

export interface DownloadClientInit {
  /** The line server (host may be a DNS name). */
  server: { host: string; port: number }
  /** This client's rank: its index in `peers`. Rank 0 is the first master. */
  rank: number
  /** The channel address of every client, in rank order (this one's included; hosts may be names). */
  peers: ReadonlyArray<{ host: string; port: number }>
  /** The id sent with SUBMIT. @default 'distlab' */
  id?: string
  /** Distinct lines the text has. @default 1000 */
  lines?: number
  /** Lines per second this client asks for: the server's per-address limit. @default 100 */
  ratePerSecond?: number
  /** Address the channel listener binds (its port is this rank's in `peers`). @default '0.0.0.0' */
  listenHost?: string
  /** Local address to connect from (line server and channel). @default the OS's choice */
  localAddress?: string
  /** Send SESSION RESET before fetching. @default false */
  resetSession?: boolean
  /** Journal of collected lines, written while this client is master (share it to resume). @default none */
  journalPath?: string
  /** Remove the journal after a SUBMIT SUCCESS that got every line right. @default true */
  removeJournalOnSuccess?: boolean
  /** Wait up to this long for the line server to accept a connection, in ms. @default 30000 */
  serverWaitMs?: number
  /** Wait up to this long for every peer's channel to accept before fetching, in ms (a common start). @default 30000 */
  peersWaitMs?: number
  /** Give up after this long. @default 30 minutes */
  timeoutMs?: number
  signal?: AbortSignal
  logger?: Logger
  /** While this client is master: called at most every 100 ms while lines come in, and at the end. */
  onProgress?: (p: DownloadProgress) => void
}

/** What one client alone knows at the end. */
export interface DownloadClientResult {
  rank: number
  role: 'master' | 'member'
  clients: number
  /** Master: distinct lines submitted. Member: distinct lines this client fetched. */
  lines: number
  seconds: number
  /** This client's SENDLINE requests, those answered -1, and lines served to it. */
  requests: number
  rateLimited: number
  served: number
  /** Lines served to this client that it already had. */
  ownDuplicates: number
  submitted: boolean
  submitReply: string | undefined
  /** Master: lines read back from the journal when it took over. */
  fromJournal: number
  masterRank: number | undefined
  mergeUsPerLine: number
}

/**
 * One cooperating client on its own, for one client per process or container: the same CoopClient
 * as in CooperativeDownload, with a fixed channel port and peers reached by name.
 */
export class DownloadClient implements CoopContext {
  readonly options: CooperativeDownloadOptions
  readonly rank: number
  /** @internal */ readonly log: Logger
  /** @internal */ readonly roster: ReadonlyArray<{ host: string; port: number }>
  /** @internal */ mergeMs = 0
  /** @internal */ mergeLines = 0
  /** @internal */ outOfRange = 0
  /** @internal */ badChannelMessages = 0
  private readonly listenHost: string
  private readonly serverWaitMs: number
  private readonly peersWaitMs: number
  private readonly onProgress: ((p: DownloadProgress) => void) | undefined
  private readonly signal: AbortSignal | undefined
  private client: CoopClient | undefined
  private readonly tracker: ProgressTracker
  private masterRank: number | undefined
  private fromJournal = 0
  private settle: { resolve: (r: DownloadClientResult) => void; reject: (e: Error) => void } | undefined

  constructor(init: DownloadClientInit) {
    if (!init || !Array.isArray(init.peers) || init.peers.length === 0)
      throw new InvalidArgumentError('peers must list every client’s channel address, in rank order', 'peers')
    const peers = init.peers.map((p, i) => ({
      host: checkString(`peers[${i}].host`, p?.host),
      port: checkPort(`peers[${i}].port`, p?.port),
    }))
    this.rank = checkInteger('rank', init.rank, 0, peers.length - 1)
    const localAddress =
      init.localAddress === undefined ? undefined : checkString('localAddress', init.localAddress)
    const resolved = resolveCooperativeDownloadOptions({
      server: init.server,
      clients: peers.length,
      id: init.id,
      lines: init.lines,
      ratePerSecond: init.ratePerSecond,
      resetSession: init.resetSession,
      journalPath: init.journalPath,
      removeJournalOnSuccess: init.removeJournalOnSuccess,
      timeoutMs: init.timeoutMs,
    })
    this.options = Object.freeze({
      ...resolved,
      localAddresses: Object.freeze(peers.map((_, i) => (i === this.rank ? localAddress : undefined))),
    })
    this.roster = Object.freeze(peers)
    this.listenHost = checkString('listenHost', init.listenHost ?? '0.0.0.0')
    this.serverWaitMs = checkInteger('serverWaitMs', init.serverWaitMs ?? 30_000, 0)
    this.peersWaitMs = checkInteger('peersWaitMs', init.peersWaitMs ?? 30_000, 0)
    this.log = named(init.logger ?? silentLogger, 'distlab:download')
    this.onProgress = init.onProgress
    this.tracker = new ProgressTracker(
      this.options.lines,
      this.onProgress && (() => this.onProgress!(this.snapshot())),
    )
    this.signal = init.signal
  }

  /**
   * Runs this client until the master submits: the master resolves with the SUBMIT reply, a member
   * once its master tells it the text was submitted. Releases every socket before it settles.
   */
  async run(): Promise<DownloadClientResult> {
    const o = this.options
    this.signal?.throwIfAborted()
    const done = new Promise<DownloadClientResult>((resolve, reject) => (this.settle = { resolve, reject }))
    done.catch(() => {})
    const onAbort = () => this.fail(new DownloadError('download aborted', { cause: this.signal?.reason }))
    this.signal?.addEventListener('abort', onAbort, { once: true })
    let timer: ReturnType<typeof setTimeout> | undefined
    const own = this.roster[this.rank]!
    try {
      const deadline = Date.now() + this.serverWaitMs
      for (let attempt = 0; ; attempt++) {
        this.signal?.throwIfAborted()
        const c = new CoopClient(this, this.rank, o.localAddresses[this.rank], {
          host: this.listenHost,
          port: own.port,
        })
        try {
          await c.start()
          this.client = c
          break
        } catch (err) {
          // The line server (or the name it goes by) may not be up yet; a busy channel port is final.
          if ((err as { code?: string }).code === 'ERR_ADDRESS_IN_USE' || Date.now() > deadline) throw err
          this.log.debug({ attempt, err: (err as Error).message }, 'line server not reachable yet')
          await sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 4)))
        }
      }
      await this.waitForPeers()
      this.tracker.start()
      timer = setTimeout(
        () => this.fail(new TimeoutError(`download not complete after ${o.timeoutMs} ms`)),
        o.timeoutMs,
      )
      this.client.run()
      return await done
    } finally {
      clearTimeout(timer)
      this.signal?.removeEventListener('abort', onAbort)
      await this.client?.stop().catch(() => {})
    }
  }

  /** Until every other client's channel accepts a connection, or peersWaitMs: a common start. */
  private async waitForPeers(): Promise<void> {
    const deadline = Date.now() + this.peersWaitMs
    const waiting = new Set(this.roster.map((_, i) => i).filter((i) => i !== this.rank))
    for (let round = 0; waiting.size > 0 && Date.now() < deadline && round < 10_000; round++) {
      this.signal?.throwIfAborted()
      await Promise.all(
        [...waiting].map(async (i) => {
          if (await probe(this.roster[i]!, 1000)) waiting.delete(i)
        }),
      )
      if (waiting.size > 0) await sleep(200)
    }
    if (waiting.size > 0)
      this.log.warn({ rank: this.rank, missing: [...waiting] }, 'starting without every peer')
  }

  /** The current master's rank as far as this client knows (its own when it is master). */
  master(): number | undefined {
    return this.masterRank
  }

  /** @internal */
  masterChanged(rank: number, fromJournal: number): void {
    this.masterRank = rank
    this.fromJournal = fromJournal
  }

  /** @internal */
  joinedMaster(rank: number): void {
    this.masterRank = rank
  }

  /** @internal */
  progress(lines: number): void {
    this.tracker.update(lines)
  }

  private snapshot(): DownloadProgress {
    return {
      lines: this.tracker.collected,
      total: this.options.lines,
      elapsedMs: this.tracker.elapsedMs(),
      requests: this.client?.requests ?? 0,
      masterRank: this.masterRank,
    }
  }

  /** @internal */
  fail(err: Error): void {
    const s = this.settle
    if (!s) return
    this.settle = undefined
    s.reject(err)
  }

  private result(role: 'master' | 'member', lines: number, reply: string | undefined): DownloadClientResult {
    const c = this.client!
    const parsed = reply === undefined ? undefined : parseSubmitReply(reply)
    return {
      rank: this.rank,
      role,
      clients: this.roster.length,
      lines,
      seconds: this.tracker.elapsedMs() / 1000,
      requests: c.requests,
      rateLimited: c.rateLimited,
      served: c.served,
      ownDuplicates: Math.max(0, c.served - c.own.size),
      submitted: parsed?.ok ?? false,
      submitReply: reply,
      fromJournal: role === 'master' ? this.fromJournal : 0,
      masterRank: role === 'master' ? this.rank : this.masterRank,
      mergeUsPerLine: this.mergeLines > 0 ? (this.mergeMs * 1000) / this.mergeLines : 0,
    }
  }

  /** @internal This client, as master, has submitted. */
  finish(_rank: number, reply: string | undefined, merged: Map<number, string>): void {
    const s = this.settle
    if (!s) return
    this.settle = undefined
    const o = this.options
    const parsed = reply === undefined ? undefined : parseSubmitReply(reply)
    if (o.journalPath && o.removeJournalOnSuccess && parsed?.ok && parsed.correct === o.lines)
      rmSync(o.journalPath, { force: true })
    this.onProgress?.(this.snapshot())
    s.resolve(this.result('master', merged.size, reply))
  }

  /** @internal This client, as member, heard that its master submitted. */
  submittedByMaster(reply: string): void {
    const s = this.settle
    if (!s) return
    this.settle = undefined
    s.resolve(this.result('member', this.client?.own.size ?? 0, reply))
  }
}

/** True when a TCP connection to `to` opens within `timeoutMs` (it is closed at once). */
function probe(to: { host: string; port: number }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: to.host, port: to.port })
    const timer = setTimeout(() => {
      s.destroy()
      resolve(false)
    }, timeoutMs)
    s.once('error', () => {
      clearTimeout(timer)
      resolve(false)
    })
    s.once('connect', () => {
      clearTimeout(timer)
      s.destroy()
      resolve(true)
    })
  })
}

export function downloadClient(init: DownloadClientInit): DownloadClient {
  return new DownloadClient(init)
}
