// Runs whose master died without closing them (SIGKILL, a crash, the machine going down): the
// writer records who it is (pid, host) and a heartbeat in the run file; when a run store is next
// opened in the same folder, an open run whose writer is gone is marked interrupted, with the
// number of events known lost (handed to the store but never written, as of its last heartbeat).
import Database from 'better-sqlite3'
import { existsSync, readdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { RUN_FILE_SUFFIX } from './constants.js'

/** A writer silent this long is gone even if its pid is reused or it ran on another host. */
export const RUN_WRITER_STALE_MS = 30_000

export interface RunWriter {
  pid: number
  host: string
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function metaOf(db: Database.Database): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const r of db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>) {
    try {
      out.set(r.key, JSON.parse(r.value))
    } catch {
      out.set(r.key, r.value)
    }
  }
  return out
}

/** True when an open run's writer is known to be gone (dead pid on this host, or a stale heartbeat). */
export function writerGone(meta: Map<string, unknown>, now = Date.now()): boolean {
  if (meta.get('endedAt') !== undefined || meta.get('interruptedAt') !== undefined) return false
  const w = meta.get('writer') as Partial<RunWriter> | undefined
  const aliveAt = Number(meta.get('aliveAt'))
  if (!w || typeof w.pid !== 'number' || !Number.isFinite(aliveAt)) return false // an older run file
  if (w.host === hostname() && !pidAlive(w.pid)) return true
  return now - aliveAt > RUN_WRITER_STALE_MS
}

/**
 * Marks every open run in `dir` whose writer is gone (except `skipFile`) as interrupted:
 * `interruptedAt`, and `lostAtInterrupt` added to `lostEvents`. Returns the ids marked. Never throws:
 * a file it cannot open or write is left as it is.
 */
export function markInterruptedRuns(dir: string, skipFile?: string): string[] {
  if (!existsSync(dir)) return []
  const marked: string[] = []
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(RUN_FILE_SUFFIX)) continue
    const file = join(dir, name)
    if (file === skipFile) continue
    let db: Database.Database | undefined
    try {
      db = new Database(file, { fileMustExist: true })
      const meta = metaOf(db)
      if (!writerGone(meta)) continue
      const written = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n
      const received = Number(meta.get('received') ?? 0)
      const storeDropped = Number(meta.get('storeDropped') ?? 0)
      const lost = Math.max(0, received - storeDropped - written)
      const set = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)')
      db.transaction(() => {
        set.run('interruptedAt', JSON.stringify(Date.now()))
        set.run('lostAtInterrupt', JSON.stringify(lost))
        set.run('lostEvents', JSON.stringify(Number(meta.get('lostEvents') ?? 0) + lost))
      })()
      marked.push(name.slice(0, -RUN_FILE_SUFFIX.length))
    } catch {
      // Not a run file, or one we may not write: leave it.
    } finally {
      db?.close()
    }
  }
  return marked
}
