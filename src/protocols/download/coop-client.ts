// Cooperative download (seed 003): one cooperating client (CoopClient) and what it needs from whoever
// runs it (CoopContext). The client fetches lines over its own line-server connection, finds or
// becomes the master over its TCP channel (bully election by rank), and as master merges, journals,
// tells the members when the text is complete and submits it. Why this shape: see cooperative.ts.
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Logger } from '../../core/logger.js'
import { wrapSocketError } from '../../core/errors.js'
import { DownloadError } from './options.js'
import { guarded } from '../../core/guarded.js'
import { LineClient, type ServedLine } from './line-client.js'
import { JsonLineChannel, LINES_PER_BATCH } from './channel.js'
import type { ChannelMessage } from './wire.js'
import { DownloadJournal, readJournal } from './journal.js'
import { MASTER_RETRY_MS } from './constants.js'
import type { CooperativeDownloadOptions } from './options.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** What a CoopClient needs from whoever runs it: N in one process, or one alone. */
export interface CoopContext {
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
export class CoopClient {
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
