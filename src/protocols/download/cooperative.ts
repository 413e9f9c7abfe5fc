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
// election, master merge and submit), coop-run.ts (what both runners share), journal.ts,
// progress.ts, wire.ts (the line protocol and the channel's messages) and download-client.ts (one client alone); index.ts
// exports their public names.
import { InvalidArgumentError } from '../../core/errors.js'
import { readJournal } from './journal.js'
import { CoopClient, type CoopContext } from './coop-client.js'
import { CoopRun } from './coop-run.js'
import { DownloadError, resolveCooperativeDownloadOptions, type CooperativeDownloadInit } from './options.js'

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

export class CooperativeDownload extends CoopRun<DownloadResult> implements CoopContext {
  /** @internal channel address of each rank */ readonly roster: Array<
    { host: string; port: number } | undefined
  >
  private clients: CoopClient[] = []
  private takeovers = -1
  private readonly masters: Array<{ rank: number; fromJournal: number; t: number }> = []
  private resumed = 0

  constructor(init: CooperativeDownloadInit) {
    super(resolveCooperativeDownloadOptions(init), init)
    this.roster = Array.from({ length: this.options.clients }, () => undefined)
  }

  /** Runs the download to the SUBMIT reply; always releases every socket before it settles. */
  async run(): Promise<DownloadResult> {
    const o = this.options
    this.signal?.throwIfAborted()
    if (o.journalPath) this.resumed = readJournal(o.journalPath, o.lines).size
    this.clients = Array.from({ length: o.clients }, (_, i) => new CoopClient(this, i, o.localAddresses[i]))
    return this.runToEnd(
      async () => {
        const started = await Promise.allSettled(this.clients.map((c) => c.start()))
        const bad = started.find((s) => s.status === 'rejected')
        if (bad) throw (bad as PromiseRejectedResult).reason
        started.forEach(
          (s, i) => (this.roster[i] = (s as PromiseFulfilledResult<{ host: string; port: number }>).value),
        )
      },
      () => {
        for (const c of this.clients) c.run()
      },
      async () => {
        await Promise.all(this.clients.map((c) => c.stop().catch(() => {})))
      },
    )
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

  protected requestsSent(): number {
    return this.clients.reduce((s, c) => s + c.requests, 0)
  }

  /** @internal Members stop with the run; nothing to do. */
  submittedByMaster(): void {}
  /** @internal The master is known from masterChanged. */
  joinedMaster(): void {}

  /** @internal */
  finish(rank: number, reply: string | undefined, merged: Map<number, string>): void {
    this.resolveOnce(() => this.result(rank, reply, merged))
  }

  private result(rank: number, reply: string | undefined, merged: Map<number, string>): DownloadResult {
    const seconds = this.tracker.elapsedMs() / 1000
    const parsed = this.submitted(reply)
    const o = this.options
    const served = this.clients.reduce((sum, c) => sum + c.served, 0)
    const requests = this.clients.reduce((sum, c) => sum + c.requests, 0)
    const text: string[] = []
    for (const [n, t] of merged) text[n] = t
    this.onProgress?.(this.snapshot())
    return {
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
      mergeUsPerLine: this.mergeUsPerLine(),
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
  }
}

export function cooperativeDownload(init: CooperativeDownloadInit): CooperativeDownload {
  return new CooperativeDownload(init)
}
