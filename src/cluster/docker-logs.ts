// The log follower of the Docker launcher (moved from docker.ts, issue 18): a program that
// follows logs, its lines split and handed over, and one log file per container.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { onLines } from './lines.js'

/** One log file per container name in a folder (`distlab logs` reads them), opened on first use. */
export class LogFiles {
  private readonly streams = new Map<string, WriteStream>()

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true })
  }

  write(name: string, text: string): void {
    let log = this.streams.get(name)
    if (!log) {
      log = createWriteStream(join(this.dir, `${name}.log`))
      this.streams.set(name, log)
    }
    log.write(text + '\n')
  }

  close(): void {
    for (const l of this.streams.values()) l.end()
    this.streams.clear()
  }
}

/** Runs a program that follows logs, handing over each whole line of its stdout and stderr. */
export function followLines(cmd: string, args: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.on('error', () => {}) // the engine went away: the follower just ends
  for (const stream of [child.stdout!, child.stderr!]) onLines(stream, onLine)
  return child
}

/** Parses the prefix compose puts before each log line: `distlab_node3_1  | text` → node3. */
export function parseComposeLogLine(line: string): { service: string; text: string } | undefined {
  const bar = line.indexOf('|')
  if (bar < 0) return undefined
  const prefix = line.slice(0, bar).trim()
  const text = line.slice(bar + 1).replace(/^ /, '')
  const m = /(?:^|[_-])([a-zA-Z][a-zA-Z0-9]*)[_-]\d+$/.exec(prefix)
  return { service: m ? m[1]! : prefix, text }
}
