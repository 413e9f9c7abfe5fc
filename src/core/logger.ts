// Named loggers over pino. The library never writes to the console: a logger writes nowhere until
// the CLI (or a test) hands it a destination.
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

export type LogFormat = 'pretty' | 'json'

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}

/** One human-readable line per record: `<iso time> <LEVEL> <logger name> <message> [key=value ...]`. */
export function formatLogLine(record: Record<string, unknown>): string {
  const { time, level, name, msg, pid: _pid, hostname: _hostname, node: _node, ...rest } = record
  const when = typeof time === 'number' ? new Date(time).toISOString() : String(time ?? '')
  const lvl = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
  return `${when} ${lvl} ${String(name ?? 'distlab')} ${String(msg ?? '')}${extra ? ' ' + extra : ''}`
}

/** A pino destination that writes pretty lines to `write`. */
export function prettyDestination(write: (line: string) => void): DestinationStream {
  return {
    write(chunk: string) {
      for (const raw of chunk.split('\n')) {
        if (!raw) continue
        try {
          write(formatLogLine(JSON.parse(raw) as Record<string, unknown>) + '\n')
        } catch {
          write(raw + '\n')
        }
      }
    },
  }
}

export interface LoggerInit {
  level?: string
  format?: LogFormat
  /** Where lines go; default: nowhere (a silent logger). */
  write?: (line: string) => void
  /** Fields on every record, e.g. `{ node: 'node2' }`. */
  base?: Record<string, unknown>
}

export function createRootLogger(init: LoggerInit = {}): Logger {
  if (!init.write) return pino({ level: 'silent' })
  const write = init.write
  const dest: DestinationStream =
    init.format === 'json' ? { write: (s: string) => write(s) } : prettyDestination(write)
  return pino({ level: init.level ?? 'info', base: init.base ?? null, name: 'distlab' }, dest)
}

export const silentLogger: Logger = pino({ level: 'silent' })

export function named(parent: Logger, name: string): Logger {
  return parent.child({ name })
}
