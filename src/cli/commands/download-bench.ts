// `distlab download bench` (issue 5): the speedup experiment, 1, 2, 3, ... clients each against a
// fresh server session, with a progress bar per size and the plots (download-render.ts prints it).
import { parseHostPort } from '../../core/options.js'
import { Progress } from '../output.js'
import {
  DEFAULT_LINE_SERVER_PORT,
  couponCollectorExpectation,
  runDownloadBench,
} from '../../protocols/download/index.js'
import { writeChart } from '../../monitor/plot.js'
import { downloadBenchCharts } from '../../monitor/bench-charts.js'
import { cliLogger } from './download-common.js'
import { printBenchResult } from './download-render.js'

export interface BenchCliOptions {
  clients: number[]
  rate: number
  lines: number
  seed: number
  server?: string
  plot?: string
  json?: boolean
  timeout?: number
  logLevel?: string
}

export async function runBench(o: BenchCliOptions): Promise<void> {
  const server = o.server ? parseHostPort('--server', o.server, DEFAULT_LINE_SERVER_PORT) : undefined
  let progress: Progress | undefined
  let current = 0
  const result = await runDownloadBench({
    clients: o.clients,
    ratePerSecond: o.rate,
    lines: o.lines,
    seed: o.seed,
    server,
    timeoutMs: o.timeout,
    logger: cliLogger(o.logLevel),
    onProgress: (n, lines, total) => {
      if (n !== current) {
        progress?.done()
        current = n
        progress = new Progress(`${n} client${n === 1 ? ' ' : 's'}`, total, { enabled: !o.json })
      }
      progress?.update(lines)
    },
  })
  progress?.done()
  let files: { pngPath: string; svgPath: string } | undefined
  if (o.plot) files = await writeChart(downloadBenchCharts(result), o.plot)
  const expected = couponCollectorExpectation(result.lines)
  printBenchResult(result, expected, files, o)
  if (result.runs.some((r) => !r.submitted)) process.exitCode = 1
}
