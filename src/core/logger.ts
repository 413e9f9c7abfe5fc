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

// C0 and C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional
// overrides and isolates: anything that could end a log line or make it read as something else.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_IN_LOG = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const SHORT_ESCAPES = new Map([
  ['\n', '\\n'],
  ['\r', '\\r'],
  ['\t', '\\t'],
])

/**
 * A string as it may appear inside one log line: every control character (and every character
 * that could start a new line or reorder the text on screen) written as an escape, so that a
 * message from the network (`x\n2026-... INFO ...`) stays on its own line and cannot forge others.
 */
export function escapeLogText(text: string): string {
  return text.replace(
    UNSAFE_IN_LOG,
    (c) =>
      SHORT_ESCAPES.get(c) ??
      (c.charCodeAt(0) <= 0xff
        ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
        : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  )
}

/** One human-readable line per record: `<iso time> <LEVEL> <logger name> <message> [key=value ...]`. */
export function formatLogLine(record: Record<string, unknown>): string {
  const { time, level, name, msg, pid: _pid, hostname: _hostname, node: _node, ...rest } = record
  const when = typeof time === 'number' ? new Date(time).toISOString() : String(time ?? '')
  const lvl = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)
  // JSON.stringify escapes C0 controls but not U+2028/9 or the bidi marks: escape every value.
  const extra = Object.entries(rest)
    .map(
      ([k, v]) =>
        `${escapeLogText(k)}=${escapeLogText(typeof v === 'string' ? v : String(JSON.stringify(v)))}`,
    )
    .join(' ')
  const head = `${when} ${lvl} ${escapeLogText(String(name ?? 'distlab'))}`
  return `${head} ${escapeLogText(String(msg ?? ''))}${extra ? ' ' + extra : ''}`
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
          write(escapeLogText(raw) + '\n')
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
