// The scenario workloads that are not one message per send: seed 003's cooperative download (a
// line server and N cooperating clients beside the cluster, faults: the download master crashing,
// the line server dropping every connection) and seed 001's anycast (requests from one client to
// the greeting servers of several nodes, faults: those nodes killed and restarted). Each keeps the
// evidence its checker needs, and the checkers are plain functions of that evidence.
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { ScenarioWorkloadError } from '../core/errors.js'
import {
  cooperativeDownload,
  lineServer,
  parseSubmitReply,
  readJournal,
  type CooperativeDownload,
  type DownloadResult,
  type LineServer,
} from '../protocols/download/index.js'
import { AnycastClient, type AnycastTarget } from '../protocols/anycast/index.js'
import type { Workload } from './spec.js'
import { NodeClient } from '../client/node-client.js'

export { ScenarioWorkloadError }

/** Time a crashClient step waits for a master to exist (one may be taking over), in ms. */
export const WAIT_FOR_MASTER_MS = 10_000
/** Time the line server stays down in a restartLineServer step, in ms. */
export const LINE_SERVER_DOWN_MS = 200

/** The delivery figures every workload reports, whoever counted them. */
export interface DeliveryCounts {
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
  /** The first few lost messages, as `<message key> -> <node>`. */
  lostKeys: string[]
}

/** What a checker found, in the shape every workload reports. */
export interface WorkloadVerdict extends DeliveryCounts {
  /** Checks of this workload besides the two every workload has (nothing lost, nothing twice). */
  checks: Array<{ name: string; passed: boolean; detail: string }>
  /** One line for a person: what happened. */
  detail: string
}

/** A send loop: one send per interval, paused (waiting for those in flight) around kills. */
export abstract class SendLoop {
  sent = 0
  private paused?: Promise<void>
  private resumeFn?: () => void
  private readonly inflight = new Set<Promise<unknown>>()
  done?: Promise<void>

  constructor(
    readonly w: Workload,
    readonly index: number,
    private readonly count: number,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.done = this.loop()
  }

  protected abstract sendOne(i: number, key: string): Promise<void>
  protected abstract keyOf(i: number): string

  private async loop(): Promise<void> {
    for (let i = 0; i < this.count; i++) {
      if (this.paused) await this.paused
      const p = this.sendOne(i, this.keyOf(i)).catch(() => {})
      this.inflight.add(p)
      void p.finally(() => this.inflight.delete(p))
      this.sent++
      await new Promise((r) => setTimeout(r, this.intervalMs))
    }
    await Promise.all(this.inflight)
  }

  /** Stops starting new sends and waits for those in flight. */
  async pause(): Promise<void> {
    if (!this.paused) this.paused = new Promise<void>((r) => (this.resumeFn = r))
    await Promise.all(this.inflight)
  }

  resume(): void {
    const r = this.resumeFn
    this.paused = undefined
    this.resumeFn = undefined
    r?.()
  }
}

// ---- download ------------------------------------------------------------------------------

/** A crash of the download's master: what it held, and (from the journal) which lines. */
export interface MasterCrash {
  rank: number
  /** Lines the master had merged (acknowledged) when it crashed. */
  held: number
  /** The journal at the crash: line number → text. Absent without a journal. */
  journal?: Map<number, string>
}

export interface DownloadEvidence {
  /** Lines of the text. */
  lines: number
  /** The text the line server serves. */
  text: readonly string[]
  crashes: MasterCrash[]
  /** The download's result; absent when it failed. */
  result?: Pick<DownloadResult, 'submitted' | 'submitReply' | 'masters' | 'lines' | 'requests' | 'text'>
  /** Why the download failed, when it did. */
  error?: string
  /** Line numbers of the journal at the end, in file order (with any repeats). */
  journalEntries?: Array<{ n: number; text: string }>
  /** Lines the line server served, over all its incarnations. */
  served: number
}

/**
 * The download's checker. Nothing acknowledged lost: every line a crashed master held is held by
 * its successor from the moment it takes over (read back from the journal), and is in the final
 * text with the same content. Nothing counted twice: no line number twice in the journal, and the
 * submission counts each line once. And the job got done: SUBMIT SUCCESS with every line correct.
 */
export function downloadVerdict(e: DownloadEvidence): WorkloadVerdict {
  const lostKeys: string[] = []
  let lost = 0
  let kept = 0
  const masters = e.result?.masters ?? []
  for (const c of e.crashes) {
    const at = masters.findIndex((m) => m.rank === c.rank)
    const successor = at >= 0 ? masters[at + 1] : undefined
    const startedWith = successor?.fromJournal ?? 0
    kept += Math.min(c.held, startedWith)
    if (startedWith < c.held) {
      lost += c.held - startedWith
      if (lostKeys.length < 10)
        lostKeys.push(
          `master ${c.rank} held ${c.held} lines; ${successor ? `master ${successor.rank} started with ${startedWith}` : 'no successor took over'}`,
        )
    }
    // Lines of the journal at the crash that the final text lacks or has different.
    if (c.journal && e.result)
      for (const [n, text] of c.journal)
        if (e.result.text[n] !== text) {
          lost++
          kept--
          if (lostKeys.length < 10) lostKeys.push(`line ${n} (journaled by master ${c.rank})`)
        }
  }
  let duplicates = 0
  const seen = new Set<number>()
  for (const j of e.journalEntries ?? []) {
    if (seen.has(j.n)) duplicates++
    seen.add(j.n)
  }
  const reply = e.result?.submitReply === undefined ? undefined : parseSubmitReply(e.result.submitReply)
  if (reply?.ok && reply.read !== undefined && reply.read > e.lines) duplicates += reply.read - e.lines
  const wrongInJournal = (e.journalEntries ?? []).filter((j) => e.text[j.n] !== j.text).length
  const allCorrect = reply?.ok === true && reply.correct === e.lines && reply.incorrect === 0
  const checks = [
    {
      name: 'download: SUBMIT SUCCESS with every line correct',
      passed: allCorrect,
      detail: e.error
        ? `the download failed: ${e.error}`
        : reply
          ? `${e.result?.submitReply ?? ''}`.trim()
          : `no SUBMIT reply (${JSON.stringify(e.result?.submitReply ?? null)})`,
    },
  ]
  if (e.journalEntries)
    checks.push({
      name: 'download: every journaled line is the server’s text',
      passed: wrongInJournal === 0,
      detail: `${wrongInJournal} of ${e.journalEntries.length} journal entries differ from the text`,
    })
  return {
    sent: e.result?.requests ?? 0,
    acknowledged: e.result?.lines ?? Math.max(0, ...e.crashes.map((c) => c.held)),
    // Every line of the text in the submission, and every line a crashed master held in its successor.
    expected: e.lines + e.crashes.reduce((a, c) => a + c.held, 0),
    delivered: Math.max(0, kept) + (reply?.ok ? (reply.correct ?? 0) : 0),
    lost,
    duplicates,
    lostKeys,
    checks,
    detail: `${e.crashes.length} master crash(es), masters in turn: ${
      masters.map((m) => `${m.rank} (from journal ${m.fromJournal})`).join(', ') || 'none'
    }; ${e.served} lines served`,
  }
}

/** Reads a journal file entry by entry (repeats kept, torn lines skipped). */
export function journalEntries(path: string): Array<{ n: number; text: string }> {
  if (!existsSync(path)) return []
  const out: Array<{ n: number; text: string }> = []
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue
    try {
      const v = JSON.parse(line) as unknown
      if (Array.isArray(v) && Number.isInteger(v[0]) && typeof v[1] === 'string')
        out.push({ n: v[0] as number, text: v[1] })
    } catch {
      // a torn write at a crash
    }
  }
  return out
}

type DownloadWorkload = Extract<Workload, { kind: 'download' }>

/**
 * A line server on 127.<block>.200.1 and the cooperating clients on 127.<block>.201.(rank+1), in
 * the runner's process: the download runs beside the cluster while its faults happen.
 */
export class DownloadRun {
  sent = 0
  done?: Promise<void>
  private server?: LineServer
  private readonly retired: LineServer[] = []
  private dl?: CooperativeDownload
  private result?: DownloadResult
  private error?: string
  private readonly crashes: MasterCrash[] = []
  readonly journalPath: string | undefined
  private readonly host: string
  private readonly abort = new AbortController()

  constructor(
    readonly w: DownloadWorkload,
    readonly index: number,
    private readonly ctx: { block: number; stateDir: string },
  ) {
    this.host = `127.${ctx.block}.200.${1 + index}`
    this.journalPath = w.journal ? join(ctx.stateDir, `download-${index}.journal`) : undefined
  }

  /** Starts the line server and the download (which then runs on its own). */
  async begin(): Promise<void> {
    this.server = lineServer({
      host: this.host,
      port: 0,
      lineCount: this.w.lines,
      ratePerSecond: this.w.rate,
    })
    await this.server.start()
    const { port } = this.server.address()
    this.dl = cooperativeDownload({
      server: { host: this.host, port },
      clients: this.w.clients,
      lines: this.w.lines,
      ratePerSecond: this.w.rate,
      id: `scenario-${this.index}`,
      localAddresses: Array.from(
        { length: this.w.clients },
        (_, r) => `127.${this.ctx.block}.${201 + this.index}.${1 + r}`,
      ),
      journalPath: this.journalPath,
      removeJournalOnSuccess: false,
      timeoutMs: this.w.timeout,
      signal: this.abort.signal,
    })
    this.done = this.dl.run().then(
      (r) => void (this.result = r),
      (err: Error) => void (this.error = err.message),
    )
  }

  start(): void {}
  async pause(): Promise<void> {}
  resume(): void {}

  /** Crashes the master (waiting for one if a takeover is under way) or the client of a rank. */
  async crashClient(which: 'master' | number): Promise<string> {
    const dl = this.dl
    if (!dl) throw new ScenarioWorkloadError('the download has not started')
    if (this.result || this.error) throw new ScenarioWorkloadError('the download has already ended')
    let rank = which === 'master' ? dl.master() : which
    const deadline = Date.now() + WAIT_FOR_MASTER_MS
    while (rank === undefined && Date.now() < deadline && !this.result && !this.error) {
      await new Promise((r) => setTimeout(r, 20))
      rank = dl.master()
    }
    if (rank === undefined) throw new ScenarioWorkloadError('the download has no master to crash')
    if (rank === dl.master()) {
      // Read what the master acknowledged and crash it in the same tick: nothing merges in between.
      // Without a journal only a count is known: the most lines a master has held so far.
      const journal = this.journalPath ? readJournal(this.journalPath, this.w.lines) : undefined
      this.crashes.push({ rank, held: journal ? journal.size : dl.collectedLines(), journal })
    }
    dl.crash(rank)
    return `client ${rank}`
  }

  /** Stops the line server (every client connection drops) and starts a new one on the same port. */
  async restartLineServer(): Promise<void> {
    const old = this.server
    if (!old) throw new ScenarioWorkloadError('the download has not started')
    const { port } = old.address()
    await old.stop()
    this.retired.push(old)
    await new Promise((r) => setTimeout(r, LINE_SERVER_DOWN_MS))
    const next = lineServer({ host: this.host, port, lineCount: this.w.lines, ratePerSecond: this.w.rate })
    await next.start()
    this.server = next
  }

  /** Waits for the download to end, then stops the line server. */
  async finish(): Promise<void> {
    await this.done
    await this.server?.stop()
  }

  /** Ends a download still running (the run ended early) and stops the line server. */
  async stop(): Promise<void> {
    this.abort.abort()
    await this.done
    await this.server?.stop()
  }

  verdict(): WorkloadVerdict {
    const text = this.server?.options.lines ?? []
    const served = [...this.retired, ...(this.server ? [this.server] : [])].reduce(
      (a, s) => a + s.stats().served,
      0,
    )
    const v = downloadVerdict({
      lines: this.w.lines,
      text,
      crashes: this.crashes,
      result: this.result,
      error: this.error,
      journalEntries: this.journalPath ? journalEntries(this.journalPath) : undefined,
      served,
    })
    this.sent = v.sent
    return v
  }
}

// ---- anycast -------------------------------------------------------------------------------

export interface AnycastEvidence {
  /** Requests made. */
  requests: number
  /** Replica name → requests whose answer came from it (the client's acknowledgements). */
  answered: Record<string, number>
  /** Replica name → connections it served, one number per incarnation (a restart starts a new one). */
  served: Record<string, number[]>
}

/**
 * The anycast checker. A request is one connection answered with the greeting and the replica's
 * name; a replica counts every connection it serves. So per replica: answers the client got that
 * the replica has no record of serving are acknowledged but lost; connections it served beyond the
 * answers the client took from it are requests served twice (a request that failed over after the
 * replica had answered it).
 */
export function anycastVerdict(e: AnycastEvidence): WorkloadVerdict {
  let lost = 0
  let duplicates = 0
  const lostKeys: string[] = []
  const names = new Set([...Object.keys(e.answered), ...Object.keys(e.served)])
  let acknowledged = 0
  for (const name of [...names].sort()) {
    const answered = e.answered[name] ?? 0
    const served = (e.served[name] ?? []).reduce((a, b) => a + b, 0)
    acknowledged += answered
    if (answered > served) {
      lost += answered - served
      if (lostKeys.length < 10) lostKeys.push(`${answered - served} answer(s) from ${name} it did not serve`)
    }
    if (served > answered) duplicates += served - answered
  }
  return {
    sent: e.requests,
    acknowledged,
    expected: acknowledged,
    delivered: acknowledged - lost,
    lost,
    duplicates,
    lostKeys,
    checks: [],
    detail: [...names]
      .sort()
      .map((n) => `${n} answered ${e.answered[n] ?? 0}, served ${(e.served[n] ?? []).join('+') || 0}`)
      .join('; '),
  }
}

type AnycastWorkload = Extract<Workload, { kind: 'anycast' }>

interface AnycastApi {
  url: (name: string) => string
  running: (name: string) => boolean
}

/** Requests through the anycast client to the replicas on `servers`; each replica's count polled per incarnation. */
export class AnycastRun extends SendLoop {
  private client?: AnycastClient
  // Keyed by the replica a server names in its answer: no prototype.
  private readonly answered = Object.create(null) as Record<string, number>
  /** server → incarnation id → served count last read. */
  private readonly served = new Map<string, Map<string, number>>()
  private readonly baseline = new Map<string, number>()

  constructor(
    override readonly w: AnycastWorkload,
    index: number,
    private readonly api: AnycastApi,
    private readonly runKey: string,
  ) {
    super(w, index, w.messages, w.interval)
  }

  protected keyOf(i: number): string {
    return `${this.runKey}-${this.index}-${i}`
  }

  /** Finds the replicas and takes each one's count before the first request. */
  async begin(): Promise<void> {
    await this.connectReplicas()
    for (const name of this.w.servers) {
      const r = await this.read(name)
      this.baseline.set(`${name}/${r.id}`, r.served)
    }
  }

  private async connectReplicas(): Promise<void> {
    const targets: AnycastTarget[] = []
    for (const name of this.w.servers) {
      if (!this.api.running(name)) continue
      const info = (await getJsonOf(this.api.url(name), name, '/anycast')) as {
        host: string
        port: number
        name: string
      }
      if (info.port > 0) targets.push({ host: info.host, port: info.port, name: info.name })
    }
    if (targets.length === 0) throw new ScenarioWorkloadError('no anycast replica is running')
    this.client = new AnycastClient({ targets, policy: this.w.policy, requestDeadlineMs: this.w.timeout })
  }

  private async read(name: string): Promise<{ id: string; served: number }> {
    const base = this.api.url(name)
    const h = (await getJsonOf(base, name, '/health')) as { id: string }
    const a = (await getJsonOf(base, name, '/anycast')) as { served: number }
    const per = this.served.get(name) ?? new Map<string, number>()
    this.served.set(name, per)
    per.set(h.id, a.served)
    return { id: h.id, served: a.served }
  }

  protected async sendOne(): Promise<void> {
    const answer = await this.client!.request()
    this.answered[answer.replica] = (this.answered[answer.replica] ?? 0) + 1
  }

  /** Reads a replica's count right before its node goes down (sends are paused). */
  async beforeDown(name: string): Promise<void> {
    if (this.w.servers.includes(name) && this.api.running(name)) await this.read(name).catch(() => {})
  }

  /** A restarted node's replica may have a new port: ask every replica again. */
  async afterRestart(name: string): Promise<void> {
    if (this.w.servers.includes(name)) await this.connectReplicas()
  }

  /** Reads every running replica's count once more, after the last request. */
  async finish(): Promise<void> {
    await this.done
    for (const name of this.w.servers) if (this.api.running(name)) await this.read(name).catch(() => {})
  }

  verdict(): WorkloadVerdict {
    const served = Object.create(null) as Record<string, number[]>
    for (const [name, per] of this.served)
      served[name] = [...per.entries()].map(([id, n]) => n - (this.baseline.get(`${name}/${id}`) ?? 0))
    return anycastVerdict({ requests: this.sent, answered: { ...this.answered }, served })
  }
}

function getJsonOf(url: string, name: string, path: string): Promise<unknown> {
  return new NodeClient({ url, name }).get(path)
}
