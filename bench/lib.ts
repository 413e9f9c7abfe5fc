// Shared by the bench files: the shape of bench/results/<name>.json and how to write it, and what a
// process has used (Linux /proc), and scratch directories that go when the bench ends.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface BenchSection {
  heading?: string
  text?: string
  columns?: string[]
  rows?: Array<Array<string | number>>
  notes?: string[]
}

export interface BenchResult {
  title: string
  description?: string
  sections: BenchSection[]
  /** Anything else a reader or a script may want. */
  data?: unknown
}

export function writeResult(name: string, result: BenchResult): void {
  mkdirSync('bench/results', { recursive: true })
  const file = join('bench/results', `${name}.json`)
  writeFileSync(file, JSON.stringify({ ...result, generatedAt: new Date().toISOString() }, null, 2) + '\n')
  process.stderr.write(`wrote ${file}\n`)
}

/** A fresh directory under the system's temporary folder, removed when the bench process exits. */
export function benchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  if (benchDirs.size === 0)
    process.once('exit', () => {
      for (const d of benchDirs) rmSync(d, { recursive: true, force: true })
    })
  benchDirs.add(dir)
  return dir
}

const benchDirs = new Set<string>()

/** A process's resident set (VmRSS of /proc/<pid>/status), in bytes; 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** CPU time (user + system) a process has used so far, in ms; NaN once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After the command name, which may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of proc(5)'s stat, in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return Number.NaN
  }
}

// The benches' clusters record their runs into a scratch folder of their own, gone when the bench
// ends, not into ./runs: a full `npm run bench` recorded hundreds of MB there (a 2000-peer run alone
// is 20 MB). DISTLAB_RUNS_DIR set by the caller still wins.
process.env.DISTLAB_RUNS_DIR ??= benchDir('distlab-bench-runs-')
