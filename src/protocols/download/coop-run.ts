// Cooperative download (seed 003): what both runners share — N clients in one process
// (CooperativeDownload) and one client alone (DownloadClient). Each is the CoopContext its clients
// report to: the merge counters, the progress tracker, the master's rank, a result settled once, and
// a run bounded by the caller's signal and the timeout that releases every socket before it settles.
import { unlinkSync } from 'node:fs'
import type { Logger } from '../../core/logger.js'
import { named, silentLogger } from '../../core/logger.js'
import { TimeoutError } from '../../core/errors.js'
import { DownloadError, type CooperativeDownloadOptions } from './options.js'
import { ProgressTracker, type DownloadProgress } from './progress.js'
import { parseSubmitReply, type SubmitReply } from './wire.js'

export interface CoopRunInit {
  signal?: AbortSignal
  logger?: Logger
  onProgress?: (p: DownloadProgress) => void
}

export abstract class CoopRun<R> {
  /** @internal */ readonly log: Logger
  /** @internal */ mergeMs = 0
  /** @internal */ mergeLines = 0
  /** @internal */ outOfRange = 0
  /** @internal */ badChannelMessages = 0
  protected readonly tracker: ProgressTracker
  protected masterRank: number | undefined
  protected readonly onProgress: ((p: DownloadProgress) => void) | undefined
  protected readonly signal: AbortSignal | undefined
  private settle: { resolve: (r: R) => void; reject: (e: Error) => void } | undefined

  constructor(
    readonly options: CooperativeDownloadOptions,
    init: CoopRunInit,
  ) {
    this.log = named(init.logger ?? silentLogger, 'distlab:download')
    this.onProgress = init.onProgress
    this.tracker = new ProgressTracker(
      this.options.lines,
      this.onProgress && (() => this.onProgress!(this.snapshot())),
    )
    this.signal = init.signal
  }

  /** SENDLINE requests sent so far, by every client this runner holds. */
  protected abstract requestsSent(): number

  /** The current master's rank as far as this runner knows. */
  master(): number | undefined {
    return this.masterRank
  }

  /** @internal */
  progress(lines: number): void {
    this.tracker.update(lines)
  }

  protected snapshot(): DownloadProgress {
    return {
      lines: this.tracker.collected,
      total: this.options.lines,
      elapsedMs: this.tracker.elapsedMs(),
      requests: this.requestsSent(),
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

  /** Settles the run with `result()` unless it has settled already; false when it had. */
  protected resolveOnce(result: () => R): boolean {
    const s = this.settle
    if (!s) return false
    this.settle = undefined
    s.resolve(result())
    return true
  }

  /** The server's reply to SUBMIT, parsed; removes the journal when every line was right (if asked to). */
  protected submitted(reply: string | undefined): SubmitReply | undefined {
    const parsed = reply === undefined ? undefined : parseSubmitReply(reply)
    const o = this.options
    if (o.journalPath && o.removeJournalOnSuccess && parsed?.ok && parsed.correct === o.lines) {
      try {
        unlinkSync(o.journalPath)
      } catch {
        // already gone
      }
    }
    return parsed
  }

  protected mergeUsPerLine(): number {
    return this.mergeLines > 0 ? (this.mergeMs * 1000) / this.mergeLines : 0
  }

  /**
   * Runs to the result: `prepare` starts the clients, `go` sets them fetching; the caller's abort
   * and the timeout fail the run, and `release` (every socket) runs before it settles.
   */
  protected async runToEnd(
    prepare: () => Promise<void>,
    go: () => void,
    release: () => Promise<void>,
  ): Promise<R> {
    const o = this.options
    this.signal?.throwIfAborted()
    const done = new Promise<R>((resolve, reject) => (this.settle = { resolve, reject }))
    done.catch(() => {})
    const onAbort = () => this.fail(new DownloadError('download aborted', { cause: this.signal?.reason }))
    this.signal?.addEventListener('abort', onAbort, { once: true })
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await prepare()
      if (this.settle) {
        // not failed (aborted) while the clients started
        this.tracker.start()
        timer = setTimeout(
          () => this.fail(new TimeoutError(`download not complete after ${o.timeoutMs} ms`)),
          o.timeoutMs,
        )
        go()
      }
      return await done
    } finally {
      clearTimeout(timer)
      this.signal?.removeEventListener('abort', onAbort)
      await release()
    }
  }
}
