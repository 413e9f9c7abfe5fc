// A child process's output as whole lines, for every launcher that follows one (local nodes,
// foreign programs, `docker logs -f`): chunks are joined and each complete line is handed over once,
// however the reads split it.
import type { Readable } from 'node:stream'

export interface LineSplitOptions {
  /** Take a trailing `\r` off each line (programs that print CRLF). @default false */
  stripCr?: boolean
  /** A partial line longer than this many characters is not held any longer. @default unbounded */
  maxPendingChars?: number
  /** What happens to such a partial line: handed over as a line of its own, or thrown away. @default 'drop' */
  overflow?: 'emit' | 'drop'
  /** Hand over a last line without a newline when the stream ends. @default false */
  flushAtEnd?: boolean
}

/** Calls `onLine` with each line `stream` carries (without its `\n`). */
export function onLines(stream: Readable, onLine: (line: string) => void, o: LineSplitOptions = {}): void {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    let i: number
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i)
      pending = pending.slice(i + 1)
      onLine(o.stripCr ? line.replace(/\r$/, '') : line)
    }
    if (o.maxPendingChars !== undefined && pending.length > o.maxPendingChars) {
      if (o.overflow === 'emit') onLine(pending)
      pending = ''
    }
  })
  if (o.flushAtEnd) stream.on('end', () => pending && onLine(pending))
}
