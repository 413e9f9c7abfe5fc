// The cooperative download's journal: the master appends every new line to a file of JSON lines
// (`[n, text]`), which the next master — or a restarted `distlab download` — reads back first. A
// batch is written with one write and made durable with one fsync before the next batch, so what
// the journal has acknowledged survives the master's process (and, for the fsync, the machine)
// dying; a torn last line from a crash mid-write is cut before anything is appended after it.
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs'
import { dirname } from 'node:path'

/**
 * Cuts a torn last line (a crash in the middle of a write) off a journal, so that the next
 * master's first append starts a line of its own instead of being glued onto the fragment.
 */
export function repairJournalTail(path: string): void {
  if (!existsSync(path)) return
  const size = statSync(path).size
  if (size === 0) return
  const fd = openSync(path, 'r+')
  try {
    const last = Buffer.alloc(1)
    readSync(fd, last, 0, 1, size - 1)
    if (last[0] === 0x0a) return
    const text = readFileSync(path)
    ftruncateSync(fd, text.lastIndexOf(0x0a) + 1)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Reads a journal: one JSON `[n, text]` per line; a torn last line (a crash mid-write) is skipped. */
export function readJournal(path: string, total: number): Map<number, string> {
  const merged = new Map<number, string>()
  if (!existsSync(path)) return merged
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue
    try {
      const v = JSON.parse(line) as unknown
      if (Array.isArray(v) && Number.isInteger(v[0]) && typeof v[1] === 'string' && v[0] >= 0 && v[0] < total)
        merged.set(v[0] as number, v[1])
    } catch {
      // torn write
    }
  }
  return merged
}

/** An open journal: lines are queued with add() and reach the disk, fsynced, with flush(). */
export class DownloadJournal {
  private fd: number | undefined
  private pending: string[] = []
  /** Lines written and fsynced so far by this journal. */
  durable = 0

  /** Opens `path` for appending, after cutting a torn tail off it. */
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true })
    repairJournalTail(path)
    this.fd = openSync(path, 'a')
  }

  add(n: number, text: string): void {
    if (this.fd !== undefined) this.pending.push(JSON.stringify([n, text]) + '\n')
  }

  /**
   * Writes the queued lines in one write and fsyncs: when it returns, they are acknowledged.
   * Returns how many lines it wrote.
   */
  flush(): number {
    if (this.fd === undefined || this.pending.length === 0) return 0
    const batch = Buffer.from(this.pending.join(''), 'utf8')
    const count = this.pending.length
    this.pending = []
    let off = 0
    while (off < batch.length) off += writeSync(this.fd, batch, off, batch.length - off)
    fsyncSync(this.fd)
    this.durable += count
    return count
  }

  /** Flushes what is queued and closes; twice is harmless. */
  close(): void {
    if (this.fd === undefined) return
    try {
      this.flush()
    } finally {
      closeSync(this.fd)
      this.fd = undefined
    }
  }

  /** Closes without writing what is queued: what a crash leaves behind. */
  abandon(): void {
    if (this.fd === undefined) return
    this.pending = []
    closeSync(this.fd)
    this.fd = undefined
  }
}
