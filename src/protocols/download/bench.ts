// The speedup experiment of seed 003: download the same text with 1, 2, 3, ... cooperating clients,
// each size against a fresh server session, and compare the times with the ideal T(1)/N.
//
// With its own server (the default) the bench starts a fresh line server for every size with the
// same seed, so every size draws the very same sequence of random lines: the number of draws needed
// is then identical and the ratio of times measures cooperation alone, not the luck of the coupon
// collector (whose spread for 1000 lines is about 17% of the mean). Against an existing server it
// sends SESSION RESET from every client address instead, and the draws differ from run to run.
// Its charts are drawn a floor up, by monitor/bench-charts.ts's downloadBenchCharts.
import type { Logger } from '../../core/logger.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger, checkNumber } from '../../core/options.js'
import { LineServer } from './lineserver.js'
import { CooperativeDownload, type DownloadResult } from './cooperative.js'
import { clientAddress } from './options.js'
import { DEFAULT_CLIENT_BASE_ADDRESS, DEFAULT_LINE_COUNT, DEFAULT_RATE_LINES_PER_S } from './constants.js'

export interface DownloadBenchInit {
  /** Client counts to run, in order. */
  clients: readonly number[]
  /** Per-address rate of the server and the clients' pace. @default 100 */
  ratePerSecond?: number
  /** Lines in the text. @default 1000 */
  lines?: number
  /** Seed of the bench's own server. @default 1 */
  seed?: number
  /** Use this running server (SESSION RESET per run) instead of starting one per size. */
  server?: { host: string; port: number }
  /** Where the bench's own server listens. @default '127.0.0.1' */
  serverHost?: string
  /** First client address; client i uses the i-th address after it. @default '127.50.0.1' */
  clientBase?: string
  /** SUBMIT id. @default 'distlab-bench' */
  id?: string
  timeoutMs?: number
  logger?: Logger
  /** Called after each run. */
  onRun?: (run: DownloadBenchRun) => void
  /** Called while a run collects lines. */
  onProgress?: (clients: number, lines: number, total: number) => void
}

export interface DownloadBenchRun {
  clients: number
  seconds: number
  /** T(1) / T(N); T(1) estimated as N₀·T(N₀) when 1 is not among the sizes. */
  speedup: number
  requests: number
  rateLimited: number
  duplicates: number
  lines: number
  submitted: boolean
  mergeUsPerLine: number
  meanRttUs: number
  timeline: Array<{ t: number; lines: number }>
}

export interface DownloadBenchResult {
  lines: number
  ratePerSecond: number
  seed: number | undefined
  runs: DownloadBenchRun[]
}

export async function runDownloadBench(init: DownloadBenchInit): Promise<DownloadBenchResult> {
  if (!Array.isArray(init.clients) || init.clients.length === 0)
    throw new InvalidArgumentError('clients must list at least one client count', 'clients')
  const sizes = init.clients.map((n, i) => checkInteger(`clients[${i}]`, n, 1, 254))
  const rate = checkNumber('ratePerSecond', init.ratePerSecond ?? DEFAULT_RATE_LINES_PER_S, 0.001, 1e6)
  const lines = checkInteger('lines', init.lines ?? DEFAULT_LINE_COUNT, 1)
  const seed = init.server ? undefined : checkInteger('seed', init.seed ?? 1, 0, 2 ** 32 - 1)
  const base = init.clientBase ?? DEFAULT_CLIENT_BASE_ADDRESS
  const results: Array<{ clients: number; r: DownloadResult }> = []
  const runs: DownloadBenchRun[] = []
  let t1: number | undefined
  for (const n of sizes) {
    let own: LineServer | undefined
    let server = init.server
    if (!server) {
      own = new LineServer({
        host: init.serverHost ?? '127.0.0.1',
        port: 0,
        lineCount: lines,
        ratePerSecond: rate,
        seed,
        logger: init.logger,
      })
      await own.start()
      server = own.address()
    }
    try {
      const dl = new CooperativeDownload({
        server,
        clients: n,
        lines,
        ratePerSecond: rate,
        id: init.id ?? 'distlab-bench',
        localAddresses: Array.from({ length: n }, (_, i) => clientAddress(i, base)),
        resetSession: init.server !== undefined,
        timeoutMs: init.timeoutMs,
        logger: init.logger,
        onProgress: init.onProgress ? (p) => init.onProgress!(n, p.lines, p.total) : undefined,
      })
      const r = await dl.run()
      results.push({ clients: n, r })
      t1 ??= n * r.seconds
      const run: DownloadBenchRun = {
        clients: n,
        seconds: r.seconds,
        speedup: t1 / r.seconds,
        requests: r.requests,
        rateLimited: r.rateLimited,
        duplicates: r.duplicates,
        lines: r.lines,
        submitted: r.submitted,
        mergeUsPerLine: r.mergeUsPerLine,
        meanRttUs: r.meanRttUs,
        timeline: r.timeline,
      }
      runs.push(run)
      init.onRun?.(run)
    } finally {
      await own?.stop()
    }
  }
  // T(1) is the 1-client run wherever it appears in the list.
  const one = runs.find((r) => r.clients === 1)
  if (one) for (const r of runs) r.speedup = one.seconds / r.seconds
  return { lines, ratePerSecond: rate, seed, runs }
}

/** The coupon collector's expected draws to see all n of n equally likely lines: n·H(n). */
export function couponCollectorExpectation(n: number): number {
  let h = 0
  for (let k = 1; k <= n; k++) h += 1 / k
  return n * h
}
