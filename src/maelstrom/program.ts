// One Maelstrom node program as a child process: JSON lines in on stdin, JSON lines out on stdout,
// stderr to the node's log. Every line it prints is checked (message.ts); a bad one is counted, kept
// as an example and dropped, and never stops the run. SIGSTOP/SIGCONT pause it (the pause nemesis).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { ProgramError } from '../core/errors.js'
import { MALFORMED_EXAMPLES, MAX_LINE_BYTES } from './constants.js'
import { parseLine, type MaelstromMessage } from './message.js'
import {
  containerArgv,
  killContainer,
  pauseContainer,
  removeContainer,
  type ContainerSpec,
} from './container.js'

export { ProgramError }

export interface ProgramInit {
  /** An executable path, or a command line run by /bin/sh (`python3 broadcast.py`). */
  bin: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  onMessage: (msg: MaelstromMessage) => void
  onMalformed?: (reason: string, line: string) => void
  onStderr?: (line: string) => void
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void
  /** Docker mode: run the program in this container (`docker run -i`) instead of as a child. */
  container?: { spec: ContainerSpec; name: string }
}

export interface ProgramStats {
  pid?: number
  /** Docker mode: the program's container. */
  container?: string
  running: boolean
  paused: boolean
  linesIn: number
  linesOut: number
  malformed: number
  malformedExamples: Array<{ reason: string; line: string }>
  exit?: { code: number | null; signal: string | null }
}

/** The argv that runs `bin`: the file itself when it exists, else `sh -c 'exec <bin>'`. */
export function programArgv(bin: string): { file: string; args: string[] } {
  const trimmed = bin.trim()
  if (trimmed.length === 0) throw new ProgramError('the node program (--bin) is empty')
  if (existsSync(trimmed) && !/\s/.test(trimmed)) return { file: trimmed, args: [] }
  return { file: '/bin/sh', args: ['-c', `exec ${trimmed}`] }
}

/** Splits a byte stream into lines of at most `max` characters; longer ones are reported, not kept. */
export class LineSplitter {
  private buf = ''
  private overflow = false

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: (head: string) => void,
    private readonly max = MAX_LINE_BYTES,
  ) {}

  push(chunk: string): void {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf('\n', start)
      if (nl < 0) break
      const piece = chunk.slice(start, nl)
      start = nl + 1
      if (this.overflow) {
        this.overflow = false
        this.buf = ''
        continue
      }
      const line = this.buf + piece
      this.buf = ''
      if (line.length > this.max) this.onTooLong(line.slice(0, 200))
      else this.onLine(line)
    }
    if (this.overflow) return
    this.buf += chunk.slice(start)
    if (this.buf.length > this.max) {
      this.onTooLong(this.buf.slice(0, 200))
      this.buf = ''
      this.overflow = true
    }
  }

  end(): void {
    if (!this.overflow && this.buf.length > 0) this.onLine(this.buf)
    this.buf = ''
  }
}

export class NodeProgram {
  private child?: ChildProcess
  private paused = false
  private linesIn = 0
  private linesOut = 0
  private malformed = 0
  private readonly examples: Array<{ reason: string; line: string }> = []
  private exitInfo?: { code: number | null; signal: string | null }
  private exited?: Promise<void>

  constructor(private readonly init: ProgramInit) {}

  start(): void {
    if (this.child) return
    const c = this.init.container
    const { file, args } = c ? containerArgv(c.spec, this.init.bin, c.name) : programArgv(this.init.bin)
    const child = spawn(file, args, {
      cwd: this.init.cwd,
      env: this.init.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        this.paused = false
        try {
          this.init.onExit?.(code, signal)
        } catch {
          // a handler's error must not escape a child's event
        }
        resolve()
      })
      child.once('error', (err) => {
        this.exitInfo = { code: null, signal: null }
        this.bad(`could not start: ${err.message}`, this.init.bin)
        resolve()
      })
    })
    child.stdin!.on('error', () => {
      // EPIPE after the program died: its exit is reported on its own.
    })
    const out = new LineSplitter(
      (line) => this.line(line),
      (head) => this.bad(`line longer than ${MAX_LINE_BYTES} bytes`, head),
    )
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => out.push(chunk))
    child.stdout!.on('end', () => out.end())
    const err = new LineSplitter(
      (line) => this.init.onStderr?.(line),
      (head) => this.init.onStderr?.(head + ' ...'),
      64 * 1024,
    )
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => err.push(chunk))
    child.stderr!.on('end', () => err.end())
  }

  private line(line: string): void {
    if (line.trim().length === 0) return
    const r = parseLine(line)
    if (!r.ok) return this.bad(r.reason, line)
    this.linesOut++
    try {
      this.init.onMessage(r.msg)
    } catch (err) {
      this.bad(`could not route: ${(err as Error).message}`, line)
    }
  }

  private bad(reason: string, line: string): void {
    this.malformed++
    if (this.examples.length < MALFORMED_EXAMPLES) this.examples.push({ reason, line: line.slice(0, 200) })
    try {
      this.init.onMalformed?.(reason, line.slice(0, 200))
    } catch {
      // reporting never throws out of a stream handler
    }
  }

  get running(): boolean {
    return !!this.child && this.exitInfo === undefined
  }

  /** Writes one message as a JSON line; false when the program is gone. */
  write(msg: MaelstromMessage): boolean {
    const stdin = this.child?.stdin
    if (!stdin || !this.running || stdin.destroyed) return false
    this.linesIn++
    stdin.write(JSON.stringify(msg) + '\n')
    return true
  }

  /**
   * SIGSTOP (docker mode: `docker pause`): the program stops reading and writing until resume();
   * messages wait in its pipe.
   */
  async pause(): Promise<boolean> {
    if (!this.running || this.paused) return false
    const c = this.init.container
    this.paused = c ? await pauseContainer(c.name, true) : this.child!.kill('SIGSTOP')
    return this.paused
  }

  async resume(): Promise<boolean> {
    if (!this.running || !this.paused) return false
    const c = this.init.container
    if (c) await pauseContainer(c.name, false)
    else this.child!.kill('SIGCONT')
    this.paused = false
    return true
  }

  /** kill -9 of the program (docker mode: of its container), as a crash of its machine would. */
  async crash(): Promise<void> {
    if (!this.running) return
    const c = this.init.container
    if (c) await killContainer(c.name)
    this.child?.kill('SIGKILL')
  }

  stats(): ProgramStats {
    return {
      pid: this.child?.pid,
      container: this.init.container?.name,
      running: this.running,
      paused: this.paused,
      linesIn: this.linesIn,
      linesOut: this.linesOut,
      malformed: this.malformed,
      malformedExamples: this.examples.slice(),
      exit: this.exitInfo,
    }
  }

  /** Ends the program: stdin closed and SIGTERM, SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.child
    if (!child || !this.running) return
    const c = this.init.container
    if (c) {
      // The docker client's death would leave the container running: remove the container itself.
      child.stdin?.end()
      await removeContainer(c.name)
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await this.exited
      clearTimeout(timer)
      return
    }
    if (this.paused) child.kill('SIGCONT')
    child.stdin?.end()
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}
