// Cooperative download (seed 003): progress — the report a runner's owner receives (DownloadProgress)
// and the tracker both runners keep it in (lines collected against time, reports rate-limited).
import { PROGRESS_INTERVAL_MS } from './constants.js'

export interface DownloadProgress {
  lines: number
  total: number
  elapsedMs: number
  requests: number
  masterRank: number | undefined
}

/**
 * Distinct lines collected against time since the start, and the owner's progress report at most
 * every PROGRESS_INTERVAL_MS (always on the last line). Both runners (N clients in one process, one
 * client alone) keep their progress in one.
 */
export class ProgressTracker {
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
