// Cooperative download (seed 003): one client alone (DownloadClient, `distlab download client`), for
// one client per process or container: the same CoopClient as CooperativeDownload runs N of, with a
// fixed channel port and its peers reached by name.
import { connect } from 'node:net'
import type { Logger } from '../../core/logger.js'
import { checkInteger, checkPort, checkString } from '../../core/options.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { CoopClient, type CoopContext } from './coop-client.js'
import { CoopRun } from './coop-run.js'
import { resolveCooperativeDownloadOptions } from './options.js'
import type { DownloadProgress } from './progress.js'
import { parseSubmitReply, type SubmitReply } from './wire.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

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
export class DownloadClient extends CoopRun<DownloadClientResult> implements CoopContext {
  readonly rank: number
  /** @internal */ readonly roster: ReadonlyArray<{ host: string; port: number }>
  private readonly listenHost: string
  private readonly serverWaitMs: number
  private readonly peersWaitMs: number
  private client: CoopClient | undefined
  private fromJournal = 0

  constructor(init: DownloadClientInit) {
    const { rank, peers, options } = resolveDownloadClient(init)
    super(options, init)
    this.rank = rank
    this.roster = Object.freeze(peers)
    this.listenHost = checkString('listenHost', init.listenHost ?? '0.0.0.0')
    this.serverWaitMs = checkInteger('serverWaitMs', init.serverWaitMs ?? 30_000, 0)
    this.peersWaitMs = checkInteger('peersWaitMs', init.peersWaitMs ?? 30_000, 0)
  }

  /**
   * Runs this client until the master submits: the master resolves with the SUBMIT reply, a member
   * once its master tells it the text was submitted. Releases every socket before it settles.
   */
  run(): Promise<DownloadClientResult> {
    return this.runToEnd(
      async () => {
        await this.startClient()
        await this.waitForPeers()
      },
      () => this.client!.run(),
      async () => {
        await this.client?.stop().catch(() => {})
      },
    )
  }

  /** Starts this client's CoopClient, waiting up to serverWaitMs for the line server to accept. */
  private async startClient(): Promise<void> {
    const own = this.roster[this.rank]!
    const deadline = Date.now() + this.serverWaitMs
    for (let attempt = 0; ; attempt++) {
      this.signal?.throwIfAborted()
      const c = new CoopClient(this, this.rank, this.options.localAddresses[this.rank], {
        host: this.listenHost,
        port: own.port,
      })
      try {
        await c.start()
        this.client = c
        return
      } catch (err) {
        // The line server (or the name it goes by) may not be up yet; a busy channel port is final.
        if ((err as { code?: string }).code === 'ERR_ADDRESS_IN_USE' || Date.now() > deadline) throw err
        this.log.debug({ attempt, err: (err as Error).message }, 'line server not reachable yet')
        await sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 4)))
      }
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

  /** @internal */
  masterChanged(rank: number, fromJournal: number): void {
    this.masterRank = rank
    this.fromJournal = fromJournal
  }

  /** @internal */
  joinedMaster(rank: number): void {
    this.masterRank = rank
  }

  protected requestsSent(): number {
    return this.client?.requests ?? 0
  }

  private result(
    role: 'master' | 'member',
    lines: number,
    reply: string | undefined,
    parsed: SubmitReply | undefined,
  ): DownloadClientResult {
    const c = this.client!
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
      mergeUsPerLine: this.mergeUsPerLine(),
    }
  }

  /** @internal This client, as master, has submitted. */
  finish(_rank: number, reply: string | undefined, merged: Map<number, string>): void {
    this.resolveOnce(() => {
      const parsed = this.submitted(reply)
      this.onProgress?.(this.snapshot())
      return this.result('master', merged.size, reply, parsed)
    })
  }

  /** @internal This client, as member, heard that its master submitted. */
  submittedByMaster(reply: string): void {
    this.resolveOnce(() => this.result('member', this.client?.own.size ?? 0, reply, parseSubmitReply(reply)))
  }
}

/** The peers, this client's rank among them and the runner's options, each field checked. */
function resolveDownloadClient(init: DownloadClientInit) {
  if (!init || !Array.isArray(init.peers) || init.peers.length === 0)
    throw new InvalidArgumentError('peers must list every client’s channel address, in rank order', 'peers')
  const peers = init.peers.map((p, i) => ({
    host: checkString(`peers[${i}].host`, p?.host),
    port: checkPort(`peers[${i}].port`, p?.port),
  }))
  const rank = checkInteger('rank', init.rank, 0, peers.length - 1)
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
  const options = Object.freeze({
    ...resolved,
    localAddresses: Object.freeze(peers.map((_, i) => (i === rank ? localAddress : undefined))),
  })
  return { rank, peers, options }
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
