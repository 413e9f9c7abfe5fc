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
//
// This file holds the runner of N clients in one process (CooperativeDownload) and its result; the
// pieces live next to it: options.ts (options, DownloadError), coop-client.ts (one client: fetch,
// election, master merge and submit), journal.ts, progress.ts, submit.ts (the SUBMIT reply) and
// download-client.ts (one client alone). Their public names are re-exported from here.
import { unlinkSync } from 'node:fs'
import type { Logger } from '../../core/logger.js'
import { named, silentLogger } from '../../core/logger.js'
import { InvalidArgumentError, TimeoutError } from '../../core/errors.js'
import { readJournal } from './journal.js'
import { CoopClient, type CoopContext } from './coop-client.js'
import {
  DownloadError,
  resolveCooperativeDownloadOptions,
  type CooperativeDownloadInit,
  type CooperativeDownloadOptions,
} from './options.js'
import { ProgressTracker, type DownloadProgress } from './progress.js'
import { parseSubmitReply } from './submit.js'

export { readJournal, repairJournalTail } from './journal.js'
export {
  DownloadError,
  clientAddress,
  isLoopbackHost,
  resolveCooperativeDownloadOptions,
  type CooperativeDownloadInit,
  type CooperativeDownloadOptions,
} from './options.js'
export type { DownloadProgress } from './progress.js'
export { parseSubmitReply, type SubmitReply } from './submit.js'
export {
  DownloadClient,
  downloadClient,
  type DownloadClientInit,
  type DownloadClientResult,
} from './download-client.js'

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
