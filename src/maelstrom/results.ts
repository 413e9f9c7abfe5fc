// What a Maelstrom test reports: results.json's shape (Maelstrom's stats, net, availability and
// latencies, with the checker's verdict), computed from the history, the run's telemetry file and
// the harness's counters; and the verdict's copy in the run file for `distlab analyze` and the
// dashboard.
import { existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import { quantile } from '../monitor/analyzer.js'
import { MAELSTROM_PROTO } from './constants.js'
import type { MaelstromHarness } from './harness.js'
import type { MaelstromNodeStatus } from './node.js'
import type { NemesisEvent } from './nemesis.js'
import type { WorkloadName } from './workloads.js'
import type { MaelstromMode } from './options.js'
import { offendingOps } from './explain.js'
import type { CheckResult, History, Validity } from './history.js'

export interface NetStats {
  'send-count': number
  'msg-count': number
  'msgs-per-op': number | null
}

export interface MaelstromResults {
  valid: Validity
  workload: WorkloadName
  /** Why the run is invalid or unknown, for a person. */
  summary: string
  opts: Record<string, unknown>
  run: { id?: string; file?: string; results: string; history: string; mode: MaelstromMode }
  /** The workload checker's verdict. */
  workloadResult: CheckResult
  stats: {
    count: number
    'ok-count': number
    'fail-count': number
    'info-count': number
    'by-f': Record<string, { count: number; 'ok-count': number; 'fail-count': number; 'info-count': number }>
  }
  availability: { 'ok-fraction': number | null; required?: 'total' | number; valid: boolean }
  net: { all: NetStats; servers: NetStats; clients: NetStats; 'lost-events': number }
  /** Latencies of ok operations in ms, by f, at quantiles 0, 0.5, 0.95, 0.99, 1. */
  latencies: Record<string, Record<string, number | null>>
  nodes: Array<
    Pick<MaelstromNodeStatus, 'maelstromId' | 'ready' | 'malformed' | 'malformedExamples' | 'unroutable'>
  >
  malformed: number
  nemesis: NemesisEvent[]
  /** Client operations whose request or reply frames the dashboard and analyze can show: invoke index → frame ids. */
  opFrames: Record<string, { request: string; reply?: string }>
  durationMs: number
}

/** The one-line reason of a verdict: the anomalies and their counts, or why it is unknown. */
export function summarize(
  valid: Validity,
  workloadResult: CheckResult,
  availability: MaelstromResults['availability'],
): string {
  if (valid === true) return 'valid'
  if (valid !== false) return workloadResult.reason ?? 'unknown'
  const parts = Object.entries(workloadResult.anomalies).map(
    ([k, v]) => `${k} (${Array.isArray(v) ? v.length : 1})`,
  )
  if (!availability.valid) {
    const f = availability['ok-fraction']
    parts.push(`availability ${f === null ? 'n/a' : f.toFixed(3)} below ${String(availability.required)}`)
  }
  return parts.join(', ') || 'invalid'
}

export function opStats(history: History): MaelstromResults['stats'] {
  const out: MaelstromResults['stats'] = {
    count: 0,
    'ok-count': 0,
    'fail-count': 0,
    'info-count': 0,
    'by-f': {},
  }
  for (const op of history) {
    if (op.type === 'invoke') continue
    const f = (out['by-f'][op.f] ??= { count: 0, 'ok-count': 0, 'fail-count': 0, 'info-count': 0 })
    out.count++
    f.count++
    const k = `${op.type}-count` as 'ok-count' | 'fail-count' | 'info-count'
    out[k]++
    f[k]++
  }
  return out
}

export function latencies(history: History): MaelstromResults['latencies'] {
  const open = new Map<number, number>()
  const per = new Map<string, number[]>()
  for (const op of history) {
    if (op.type === 'invoke') {
      open.set(op.process, op.time)
      continue
    }
    const t = open.get(op.process)
    open.delete(op.process)
    if (t === undefined || op.type !== 'ok') continue
    const list = per.get(op.f) ?? []
    per.set(op.f, list)
    list.push((op.time - t) / 1e6)
  }
  const out: MaelstromResults['latencies'] = {}
  for (const [f, list] of per) {
    list.sort((a, b) => a - b)
    const q: Record<string, number | null> = {}
    for (const at of [0, 0.5, 0.95, 0.99, 1]) {
      const v = at === 0 ? (list[0] ?? null) : quantile(list, at)
      q[String(at)] = v === null ? null : Math.round(v * 1000) / 1000
    }
    out[f] = q
  }
  return out
}

/** Messages per operation from the run's telemetry (every send of a Maelstrom frame). */
export function netStats(
  file: string | undefined,
  ops: number,
  harness: MaelstromHarness | undefined,
): MaelstromResults['net'] {
  const empty = (n: number): NetStats => ({
    'send-count': n,
    'msg-count': n,
    'msgs-per-op': ops > 0 ? n / ops : null,
  })
  let all = 0
  let servers = 0
  let lost = 0
  if (file && existsSync(file)) {
    const db = new Database(file, { readonly: true })
    try {
      const rows = db
        .prepare(
          `SELECT (src LIKE 'node%') AND (dst LIKE 'node%') AS srv, count(*) AS n FROM events WHERE proto = ? AND kind = 'send' GROUP BY srv`,
        )
        .all(MAELSTROM_PROTO) as Array<{ srv: number; n: number }>
      for (const r of rows) {
        all += r.n
        if (r.srv) servers += r.n
      }
      const m = db.prepare(`SELECT value FROM meta WHERE key = 'lostEvents'`).get() as
        { value: string } | undefined
      lost = m ? Number(JSON.parse(m.value)) || 0 : 0
    } finally {
      db.close()
    }
  }
  const clients = harness ? harness.counters.clientSent + harness.counters.clientReceived : 0
  return { all: empty(all), servers: empty(servers), clients: empty(clients), 'lost-events': lost }
}

/** Puts the verdict into the run file, so `distlab analyze` and the dashboard can show it. */
export function recordInRun(file: string, r: MaelstromResults): void {
  try {
    const db = new Database(file)
    try {
      const anomalies: Record<string, unknown[]> = {}
      for (const [k, v] of Object.entries(r.workloadResult.anomalies))
        anomalies[k] = Array.isArray(v) ? v.slice(0, 20) : [v]
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
        'maelstrom',
        JSON.stringify({
          valid: r.valid,
          workload: r.workload,
          summary: r.summary,
          anomalies,
          reason: r.workloadResult.reason,
          results: r.run.results,
          stats: r.stats,
          net: r.net,
          malformed: r.malformed,
          opFrames: Object.fromEntries(
            offendingOps(r.workloadResult.anomalies).flatMap((i) =>
              r.opFrames[String(i)] ? [[String(i), r.opFrames[String(i)]!]] : [],
            ),
          ),
        }),
      )
    } finally {
      db.close()
    }
  } catch {
    // results.json has everything; the run file's copy is for the viewers
  }
}
