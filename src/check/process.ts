// The student's programs as child processes: a shell command with distlab's placeholders filled in
// ({host}, {port}, {name}, {index}, {bootstrap}, {master}, {peers}) and the DISTLAB_* variables in
// its environment, its stdout and stderr kept as lines (bounded) so a check can wait for a line and
// quote it as evidence. Each program runs in a process group of its own, so stopping it stops
// whatever its shell started too.
import { spawn, type ChildProcess } from 'node:child_process'
import { InvalidArgumentError, TimeoutError } from '../core/errors.js'

/** Lines kept per program; older ones are dropped first (counted in `droppedLines`). */
export const MAX_KEPT_LINES = 20_000
/** A single output line longer than this is cut. */
export const MAX_LINE_CHARS = 4096
/** How long a program gets to exit after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 2000

export interface Placeholders {
  host: string
  port: number
  name: string
  index: number
  /** The bootstrap's URL (http://host:port), when there is one. */
  bootstrap?: string
  /** The master's host:port, when there is one. */
  master?: string
  /** The others' URLs, comma-separated. */
  peers?: string
}

const PLACEHOLDER = /\{(host|port|name|index|bootstrap|master|peers)\}/g

/** Fills `{host}`-style placeholders; unknown braces are left alone (a shell may use them). */
export function fillPlaceholders(text: string, p: Placeholders): string {
  return text.replace(PLACEHOLDER, (_, key: keyof Placeholders) => String(p[key] ?? ''))
}

/** The DISTLAB_* variables every instance gets, as `distlab run` gives them. */
export function distlabEnv(p: Placeholders): Record<string, string> {
  return {
    DISTLAB_HOST: p.host,
    DISTLAB_PORT: String(p.port),
    DISTLAB_NAME: p.name,
    DISTLAB_INDEX: String(p.index),
    DISTLAB_BOOTSTRAP: p.bootstrap ?? '',
    DISTLAB_MASTER: p.master ?? '',
    DISTLAB_PEERS: p.peers ?? '',
  }
}

export interface OutputLine {
  stream: 'stdout' | 'stderr'
  text: string
  /** ms since the program started */
  at: number
}

export interface StudentProcessInit {
  /** A shell command line, placeholders already filled or filled here from `placeholders`. */
  command: string
  placeholders: Placeholders
  /** Extra variables (values may use placeholders). */
  env?: Record<string, string>
  cwd?: string
  /** Keep stdin open so the check can type commands (gbnnode's `send`). @default false */
  stdin?: boolean
  /** A command the shell runs under, e.g. `['ip', 'netns', 'exec', 'ns1']`. */
  wrap?: readonly string[]
}

/** Every program started and not yet exited, so that a check stopped by a signal leaves none behind. */
const live = new Set<StudentProcess>()

/**
 * Kills the process group of every program still running (SIGKILL, synchronously): what a check
 * interrupted by SIGINT or SIGTERM does before it exits. Returns how many it killed.
 */
export function killAllStudentProcesses(): number {
  const n = live.size
  for (const p of live) p.signal('SIGKILL')
  live.clear()
  return n
}

/** A program that did not listen in time: where it should have, then how it ended or its last lines. */
export function notListening(name: string, where: string, timeoutMs: number, p: StudentProcess): Error {
  const ended = p.running ? '' : ` (it exited with status ${p.exitCode})`
  return new Error(
    `${name} did not listen on ${where} (TCP or UDP) within ${timeoutMs} ms${ended}: ${p.tail(3).join(' | ')}`,
  )
}

/** One running student program. */
export class StudentProcess {
  readonly name: string
  readonly command: string
  readonly lines: OutputLine[] = []
  droppedLines = 0
  exitCode: number | null | undefined = undefined
  readonly exited: Promise<number | null>
  private readonly child: ChildProcess
  private readonly started = Date.now()
  private readonly waiters = new Set<() => void>()
  private partial = { stdout: '', stderr: '' }

  constructor(init: StudentProcessInit) {
    if (!init.command.trim()) throw new InvalidArgumentError('the program command is empty', 'command')
    this.name = init.placeholders.name
    this.command = fillPlaceholders(init.command, init.placeholders)
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      // Python block-buffers print() into a pipe; a student watching a terminal never sees that.
      PYTHONUNBUFFERED: '1',
      ...distlabEnv(init.placeholders),
    }
    for (const [k, v] of Object.entries(init.env ?? {})) env[k] = fillPlaceholders(v, init.placeholders)
    const argv = [...(init.wrap ?? []), '/bin/sh', '-c', this.command]
    this.child = spawn(argv[0]!, argv.slice(1), {
      cwd: init.cwd,
      env,
      detached: true,
      stdio: [init.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.push('stderr', `distlab: could not start: ${err.message}`)
        this.exitCode = null
        this.wake()
        resolve(null)
      })
      this.child.once('close', (code, signal) => {
        this.flush()
        this.exitCode = code ?? (signal ? 128 : null)
        this.wake()
        resolve(this.exitCode)
      })
    })
    this.child.stdin?.on('error', () => {}) // a program that exits before reading its input
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream]!.setEncoding('utf8')
      this.child[stream]!.on('data', (chunk: string) => this.onData(stream, chunk))
    }
    live.add(this)
    void this.exited.then(() => live.delete(this))
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get running(): boolean {
    return this.exitCode === undefined
  }

  private onData(stream: 'stdout' | 'stderr', chunk: string): void {
    let text = this.partial[stream] + chunk
    let nl: number
    while ((nl = text.indexOf('\n')) >= 0) {
      this.push(stream, text.slice(0, nl).replace(/\r$/, ''))
      text = text.slice(nl + 1)
    }
    if (text.length > MAX_LINE_CHARS) {
      this.push(stream, text)
      text = ''
    }
    this.partial[stream] = text
    this.wake()
  }

  private flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.push(stream, this.partial[stream])
      this.partial[stream] = ''
    }
  }

  private push(stream: 'stdout' | 'stderr', text: string): void {
    this.lines.push({ stream, text: text.slice(0, MAX_LINE_CHARS), at: Date.now() - this.started })
    if (this.lines.length > MAX_KEPT_LINES) {
      this.lines.splice(0, this.lines.length - MAX_KEPT_LINES)
      this.droppedLines++
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }

  /** The output text lines, both streams in arrival order. */
  text(): string[] {
    return this.lines.map((l) => l.text)
  }

  /** The last `n` output lines, prefixed with the program's name, for evidence. */
  tail(n = 8): string[] {
    return this.lines.slice(-n).map((l) => `${this.name}| ${l.text}`)
  }

  /** Types a line on the program's stdin. */
  type(line: string): void {
    this.child.stdin?.write(line + '\n')
  }

  /**
   * Resolves with the first output line (from line index `from`) matching `pattern`; rejects with
   * TimeoutError after `timeoutMs`, or when the program exits without printing it.
   */
  waitForLine(pattern: RegExp, timeoutMs: number, from = 0): Promise<string> {
    return this.waitUntil(
      () => this.lines.slice(from).find((l) => pattern.test(l.text))?.text,
      timeoutMs,
      () => `${this.name} did not print a line matching ${pattern} within ${timeoutMs} ms`,
    )
  }

  /** Resolves with `probe()`'s first defined value, re-run on every output line, on exit and every 200 ms. */
  waitUntil<T>(probe: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer)
        clearInterval(ticker)
        this.waiters.delete(check)
        fn()
      }
      const check = () => {
        const v = probe()
        if (v !== undefined) return done(() => resolve(v))
        if (!this.running)
          done(() => reject(new TimeoutError(`${describe()} (it exited with status ${this.exitCode})`)))
      }
      const timer = setTimeout(() => done(() => reject(new TimeoutError(describe()))), timeoutMs)
      // the probe may read other programs' output too, which does not wake this one
      const ticker = setInterval(check, 200)
      this.waiters.add(check)
      check()
    })
  }

  /** Sends a signal to the program's whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return
    try {
      process.kill(-this.child.pid, sig)
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; harmless twice. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return
    this.child.stdin?.end()
    this.signal('SIGTERM')
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
    // the group may still hold a grandchild that ignored SIGTERM
    if (this.child.pid !== undefined)
      try {
        process.kill(-this.child.pid, 'SIGKILL')
      } catch {
        // none left
      }
  }
}

/** Polls `probe` until it returns a defined value or the deadline passes. */
export async function poll<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() >= deadline) return undefined
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
