// The run store: every telemetry event of a run in one SQLite file (runs/<run id>.sqlite), written
// in batches inside transactions so that ingestion at tens of thousands of events per second costs
// a few milliseconds per batch. Indexed by time, node and protocol for the analyzer and the
// dashboard. The collector's loss counts and the member list are copied in as the run goes, so a
// run file alone says how complete it is.
import Database from 'better-sqlite3'
import { mkdirSync, readdirSync, statSync, existsSync } from 'node:fs'
import { join, resolve, basename } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Startable } from '../core/interfaces.js'
import { InvalidArgumentError, RunNotFoundError } from '../core/errors.js'
import { checkInteger } from '../core/options.js'
import type { TelemetryEvent, TelemetryKind } from '../core/telemetry.js'
import type { TelemetryCollector } from '../core/telemetry.js'
import { markInterruptedRuns, writerGone } from './run-interrupt.js'
import { hostname } from 'node:os'
import {
  RUN_FILE_SUFFIX,
  runsDir,
  STORE_BATCH_EVENTS,
  STORE_FLUSH_INTERVAL_MS,
  STORE_MAX_PENDING_EVENTS,
  STORE_STATS_INTERVAL_MS,
} from './constants.js'

export { RunNotFoundError, runsDir }

/** `20250102-130405-9f3a`: UTC start time and a random suffix, sortable by time. */
export function newRunId(now = new Date()): string {
  const iso = now.toISOString() // 2025-01-02T13:04:05.678Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${randomBytes(2).toString('hex')}`
}

export interface MemberInfo {
  name: string
  host: string
  role?: string
  httpPort?: number
  framePort?: number
}

export interface RunMeta {
  id: string
  startedAt: number
  endedAt?: number
  /** Events reported lost by nodes or missing batches, plus events the store itself had to drop. */
  lostEvents: number
  members: MemberInfo[]
  [key: string]: unknown
}

export interface RunStoreInit {
  /** Folder of run files. @default runsDir() */
  dir?: string
  /** @default newRunId() */
  runId?: string
  /** Events per transaction at most. @default 5000 */
  batchEvents?: number
  /** Longest wait before queued events are written, in ms. @default 250 */
  flushIntervalMs?: number
  /** Events queued before new ones are dropped and counted lost. @default 500000 */
  maxPendingEvents?: number
  /** How often loss counts and members are copied in, in ms. @default 1000 */
  statsIntervalMs?: number
}

interface ResolvedRunStoreInit {
  dir: string
  runId: string
  batchEvents: number
  flushIntervalMs: number
  maxPendingEvents: number
  statsIntervalMs: number
}

/** Rows per multi-row INSERT (11 parameters each, under SQLite's 32766-parameter limit). */
const INSERT_ROWS_PER_STATEMENT = 100

const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$/

export function resolveRunStoreOptions(init: RunStoreInit = {}): ResolvedRunStoreInit {
  const runId = init.runId ?? newRunId()
  if (!RUN_ID_PATTERN.test(runId))
    throw new InvalidArgumentError(
      `runId must match ${RUN_ID_PATTERN}, got ${JSON.stringify(runId)}`,
      'runId',
    )
  return Object.freeze({
    dir: runsDir(init.dir),
    runId,
    batchEvents: checkInteger('batchEvents', init.batchEvents ?? STORE_BATCH_EVENTS, 1),
    flushIntervalMs: checkInteger('flushIntervalMs', init.flushIntervalMs ?? STORE_FLUSH_INTERVAL_MS, 1),
    maxPendingEvents: checkInteger('maxPendingEvents', init.maxPendingEvents ?? STORE_MAX_PENDING_EVENTS, 1),
    statsIntervalMs: checkInteger('statsIntervalMs', init.statsIntervalMs ?? STORE_STATS_INTERVAL_MS, 1),
  })
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  ts INTEGER NOT NULL, node TEXT NOT NULL, proto TEXT NOT NULL, kind TEXT NOT NULL,
  msg_id TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, bytes INTEGER NOT NULL,
  transport TEXT NOT NULL, reason TEXT, type TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_node ON events (node, ts);
CREATE INDEX IF NOT EXISTS events_proto ON events (proto, ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_loss (node TEXT PRIMARY KEY, events INTEGER NOT NULL, lost INTEGER NOT NULL);
`

export interface StoreStats {
  written: number
  pending: number
  /** Events this store dropped because the disk could not keep up. */
  dropped: number
}

/** Writes one run. Add events with add(); they reach the disk within flushIntervalMs. */
export class RunStore implements Startable {
  readonly id: string
  readonly file: string
  private readonly cfg: ResolvedRunStoreInit
  private db?: Database.Database
  private insertMany?: (events: TelemetryEvent[]) => void
  private setMetaStmt?: Database.Statement
  private pending: TelemetryEvent[] = []
  private written = 0
  private dropped = 0
  private collectorLost = 0
  private timer?: ReturnType<typeof setInterval>
  private statsTimer?: ReturnType<typeof setInterval>
  private unsubscribe?: () => void
  private collector?: TelemetryCollector
  private members?: () => MemberInfo[]
  private readonly startedAt = Date.now()
  private received = 0
  /** Ids of earlier runs found open with their writer gone, marked interrupted by start(). */
  interruptedRuns: string[] = []

  constructor(init: RunStoreInit = {}) {
    this.cfg = resolveRunStoreOptions(init)
    this.id = this.cfg.runId
    this.file = join(this.cfg.dir, this.id + RUN_FILE_SUFFIX)
  }

  /** Takes every event the collector passes on, and its loss counts; call before start(). */
  attach(collector: TelemetryCollector, members?: () => MemberInfo[]): void {
    this.collector = collector
    this.members = members
  }

  async start(): Promise<void> {
    if (this.db) return
    mkdirSync(this.cfg.dir, { recursive: true })
    // Runs left open by a master that was killed are marked now, with what they are known to lack.
    this.interruptedRuns = markInterruptedRuns(this.cfg.dir, this.file)
    const db = new Database(this.file)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    // SQLite's own default page cache (2 MB), not better-sqlite3's build default of 16 MB: the
    // writer appends (every index is on time or ends in it), so it needs only the pages at the
    // tail, and a master taking in a flood of telemetry kept the whole 16 MB (issue 14 #9).
    // Writes of 600,000 events took as long with either (side by side).
    db.pragma('cache_size = -2000')
    db.exec(SCHEMA)
    const columns = '(ts, node, proto, kind, msg_id, src, dst, bytes, transport, reason, type)'
    const row = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
    const insertOne = db.prepare(`INSERT INTO events ${columns} VALUES ${row}`)
    // Many rows per statement: far fewer trips through SQLite's VM than one INSERT per event.
    const insertChunk = db.prepare(
      `INSERT INTO events ${columns} VALUES ${Array.from({ length: INSERT_ROWS_PER_STATEMENT }, () => row).join(', ')}`,
    )
    const params: unknown[] = new Array(INSERT_ROWS_PER_STATEMENT * 11)
    const fill = (out: unknown[], at: number, e: TelemetryEvent) => {
      out[at] = Math.round(e.ts)
      out[at + 1] = e.node
      out[at + 2] = e.proto
      out[at + 3] = e.kind
      out[at + 4] = e.msgId
      out[at + 5] = e.src
      out[at + 6] = e.dst
      out[at + 7] = e.bytes
      out[at + 8] = e.transport
      out[at + 9] = e.reason ?? null
      out[at + 10] = e.type ?? null
    }
    this.insertMany = db.transaction((events: TelemetryEvent[]) => {
      let i = 0
      for (; i + INSERT_ROWS_PER_STATEMENT <= events.length; i += INSERT_ROWS_PER_STATEMENT) {
        for (let j = 0; j < INSERT_ROWS_PER_STATEMENT; j++) fill(params, j * 11, events[i + j]!)
        insertChunk.run(params)
      }
      const one: unknown[] = new Array(11)
      for (; i < events.length; i++) {
        fill(one, 0, events[i]!)
        insertOne.run(one)
      }
    })
    this.setMetaStmt = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)')
    this.db = db
    this.setMeta('id', this.id)
    this.setMeta('startedAt', this.startedAt)
    this.setMeta('lostEvents', 0)
    this.setMeta('writer', { pid: process.pid, host: hostname() })
    this.setMeta('aliveAt', Date.now())
    if (this.collector) this.unsubscribe = this.collector.subscribe((events) => this.add(events))
    this.timer = setInterval(() => this.flush(), this.cfg.flushIntervalMs)
    this.timer.unref()
    this.statsTimer = setInterval(() => this.copyStats(), this.cfg.statsIntervalMs)
    this.statsTimer.unref()
  }

  /** Queues events for the next write; never throws, never blocks on the disk. */
  add(events: readonly TelemetryEvent[]): void {
    this.received += events.length
    const room = this.cfg.maxPendingEvents - this.pending.length
    if (room <= 0) {
      this.dropped += events.length
      return
    }
    if (events.length > room) {
      this.dropped += events.length - room
      events = events.slice(0, room)
    }
    for (const e of events) this.pending.push(e)
    if (this.pending.length >= this.cfg.batchEvents * 4) this.flush()
  }

  /** Writes what is queued, in transactions of at most batchEvents. */
  flush(): void {
    if (!this.db || !this.insertMany) return
    while (this.pending.length > 0) {
      const batch =
        this.pending.length <= this.cfg.batchEvents
          ? this.pending
          : this.pending.slice(0, this.cfg.batchEvents)
      this.pending = batch === this.pending ? [] : this.pending.slice(batch.length)
      try {
        this.insertMany(batch)
        this.written += batch.length
      } catch {
        // A full disk or no file descriptors left: the batch is lost and counted, the cluster goes on.
        this.dropped += batch.length
      }
    }
  }

  setMeta(key: string, value: unknown): void {
    this.setMetaStmt?.run(key, JSON.stringify(value))
  }

  /** Copies the collector's loss counts (and the store's own) and the member list into the file. */
  private copyStats(): void {
    if (!this.db) return
    try {
      if (this.collector) {
        const s = this.collector.stats()
        this.collectorLost = s.lostEvents
        const upsert = this.db.prepare(
          'INSERT OR REPLACE INTO node_loss (node, events, lost) VALUES (?, ?, ?)',
        )
        this.db.transaction(() => {
          for (const [node, n] of Object.entries(s.nodes)) upsert.run(node, n.events, n.lost)
        })()
        this.setMeta('missingBatches', s.missingBatches)
      }
      this.setMeta('lostEvents', this.collectorLost + this.dropped)
      this.setMeta('storeDropped', this.dropped)
      // The heartbeat: who reads the file later can tell a live writer from a killed one, and
      // how many events it had been handed (received − dropped − written = lost in a crash).
      this.setMeta('received', this.received)
      this.setMeta('aliveAt', Date.now())
      const members = this.members?.()
      if (members && members.length > 0) {
        // Keep members that left during the run: their events still need an address.
        const known = new Map<string, MemberInfo>(
          (this.readMeta('members') as MemberInfo[] | undefined)?.map((m) => [m.name, m]) ?? [],
        )
        for (const m of members)
          known.set(m.name, {
            name: m.name,
            host: m.host,
            role: m.role,
            httpPort: m.httpPort,
            framePort: m.framePort,
          })
        this.setMeta('members', [...known.values()])
      }
    } catch {
      // Statistics are best effort; the events are what matters.
    }
  }

  private readMeta(key: string): unknown {
    const row = this.db?.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined
    return row ? JSON.parse(row.value) : undefined
  }

  stats(): StoreStats {
    return { written: this.written, pending: this.pending.length, dropped: this.dropped }
  }

  async stop(): Promise<void> {
    if (!this.db) return
    this.unsubscribe?.()
    this.unsubscribe = undefined
    if (this.timer) clearInterval(this.timer)
    if (this.statsTimer) clearInterval(this.statsTimer)
    this.timer = this.statsTimer = undefined
    try {
      this.flush()
      this.copyStats()
      this.setMeta('endedAt', Date.now())
      this.db.pragma('wal_checkpoint(TRUNCATE)')
    } finally {
      this.db.close()
      this.db = undefined
    }
  }
}

// ---- reading runs ----

export interface RunSummary {
  id: string
  file: string
  startedAt: number
  endedAt?: number
  /** True while the run is being recorded (no end time, and its master not known to be gone). */
  open: boolean
  /**
   * `recording`, `ended` (closed by its master), or `interrupted` (its master died without
   * closing it: marked when a store was next opened, or seen gone now).
   */
  status: 'recording' | 'ended' | 'interrupted'
  /** Interrupted runs: events known lost in the interruption (handed to the store, never written). */
  lostAtInterrupt?: number
  events: number
  lostEvents: number
  nodes: string[]
  protocols: string[]
  sizeBytes: number
}

interface EventRow {
  ts: number
  node: string
  proto: string
  kind: string
  msg_id: string
  src: string
  dst: string
  bytes: number
  transport: string
  reason: string | null
  type: string | null
}

/** A run file opened read-only. */
export class RunReader {
  private readonly db: Database.Database

  constructor(readonly file: string) {
    if (!existsSync(file)) throw new RunNotFoundError(`no run file ${file}`)
    try {
      this.db = new Database(file, { readonly: true, fileMustExist: true })
      this.db.prepare('SELECT 1 FROM events LIMIT 1').all()
    } catch (err) {
      throw new RunNotFoundError(`${file} is not a distlab run file (${(err as Error).message})`)
    }
  }

  meta(): RunMeta {
    const rows = this.db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>
    // Keys come from the file: no prototype, so a `__proto__` row is only a key.
    const out = Object.create(null) as Record<string, unknown>
    for (const r of rows) {
      try {
        out[r.key] = JSON.parse(r.value)
      } catch {
        out[r.key] = r.value
      }
    }
    return {
      ...out,
      id: typeof out.id === 'string' ? out.id : basename(this.file, RUN_FILE_SUFFIX),
      startedAt: Number(out.startedAt ?? 0),
      endedAt: out.endedAt === undefined ? undefined : Number(out.endedAt),
      lostEvents: Number(out.lostEvents ?? 0),
      members: Array.isArray(out.members) ? (out.members as MemberInfo[]) : [],
    }
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n
  }

  distinct(column: 'node' | 'proto'): string[] {
    return (
      this.db.prepare(`SELECT DISTINCT ${column} AS v FROM events ORDER BY v`).all() as Array<{ v: string }>
    ).map((r) => r.v)
  }

  /** Every event in time order (insertion order among equal times). */
  *events(): Generator<TelemetryEvent> {
    const stmt = this.db.prepare('SELECT * FROM events ORDER BY ts, rowid')
    for (const r of stmt.iterate() as IterableIterator<EventRow>) {
      const e: TelemetryEvent = {
        ts: r.ts,
        node: r.node,
        proto: r.proto,
        kind: r.kind as TelemetryKind,
        msgId: r.msg_id,
        src: r.src,
        dst: r.dst,
        bytes: r.bytes,
        transport: r.transport as TelemetryEvent['transport'],
      }
      if (r.reason !== null) e.reason = r.reason
      if (r.type !== null) e.type = r.type
      yield e
    }
  }

  summary(): RunSummary {
    const m = this.meta()
    const gone =
      m.endedAt === undefined && (m.interruptedAt !== undefined || writerGone(new Map(Object.entries(m))))
    const status = m.endedAt !== undefined ? 'ended' : gone ? 'interrupted' : 'recording'
    return {
      id: m.id,
      file: this.file,
      startedAt: m.startedAt,
      endedAt: m.endedAt,
      open: status === 'recording',
      status,
      ...(typeof m.lostAtInterrupt === 'number' ? { lostAtInterrupt: m.lostAtInterrupt } : {}),
      events: this.count(),
      lostEvents: m.lostEvents,
      nodes: this.distinct('node'),
      protocols: this.distinct('proto'),
      sizeBytes: fileSize(this.file),
    }
  }

  close(): void {
    this.db.close()
  }
}

function fileSize(file: string): number {
  let n = 0
  for (const f of [file, file + '-wal']) {
    try {
      n += statSync(f).size
    } catch {
      // no WAL file
    }
  }
  return n
}

/** Every run in a folder, oldest first; unreadable files are skipped. */
export function listRuns(dir = runsDir()): RunSummary[] {
  if (!existsSync(dir)) return []
  const out: RunSummary[] = []
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(RUN_FILE_SUFFIX)) continue
    try {
      const r = new RunReader(join(dir, name))
      try {
        out.push(r.summary())
      } finally {
        r.close()
      }
    } catch {
      // not a run file
    }
  }
  return out.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id))
}

/**
 * Finds a run by id, unique id prefix, `latest`, or a path to a run file; throws RunNotFoundError
 * with the runs that exist.
 */
export function resolveRun(ref: string | undefined, dir = runsDir()): string {
  if (ref && (ref.endsWith(RUN_FILE_SUFFIX) || ref.includes('/')) && existsSync(ref)) return resolve(ref)
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(RUN_FILE_SUFFIX))
        .sort()
    : []
  if (files.length === 0)
    throw new RunNotFoundError(
      ref && ref !== 'latest'
        ? `no run ${ref}: no runs in ${dir}; start a cluster with \`distlab up\` to record one`
        : `no runs in ${dir}; start a cluster with \`distlab up\` to record one`,
      { usage: ref !== undefined && ref !== 'latest' },
    )
  if (!ref || ref === 'latest') {
    const runs = listRuns(dir)
    const last = runs.at(-1)
    if (!last) throw new RunNotFoundError(`no readable runs in ${dir}`)
    return last.file
  }
  const matches = files.filter((f) => f.startsWith(ref))
  const exact = files.find((f) => f === ref + RUN_FILE_SUFFIX)
  if (exact) return join(dir, exact)
  if (matches.length === 1) return join(dir, matches[0]!)
  if (matches.length > 1)
    throw new RunNotFoundError(
      `${ref} matches ${matches.length} runs: ${matches.map((f) => basename(f, RUN_FILE_SUFFIX)).join(', ')}`,
      { usage: true },
    )
  throw new RunNotFoundError(
    `no run ${ref} in ${dir} (runs: ${files
      .slice(-5)
      .map((f) => basename(f, RUN_FILE_SUFFIX))
      .join(', ')}${files.length > 5 ? ', ...' : ''})`,
    { usage: true },
  )
}
