// Everything the CLI prints goes through here: tables for people, one JSON object with --json,
// colour only on a terminal, progress bars on stderr only on a terminal.
import { DistlabError, InvalidArgumentError } from '../core/errors.js'
import { PcapFormatError } from '../monitor/pcap.js'

export const isTTY = (stream: NodeJS.WriteStream = process.stdout): boolean =>
  Boolean(stream.isTTY) && !process.env.NO_COLOR

const paint = (code: number) => (s: string) => (isTTY() ? `\u001b[${code}m${s}\u001b[0m` : s)
export const color = {
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  blue: paint(34),
  magenta: paint(35),
  cyan: paint(36),
  dim: paint(2),
  bold: paint(1),
}

const PREFIX_COLORS = [color.cyan, color.green, color.yellow, color.magenta, color.blue]
export function colorFor(index: number): (s: string) => string {
  return PREFIX_COLORS[index % PREFIX_COLORS.length]!
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g
const width = (s: string) => s.replace(ANSI, '').length

/** A plain table: a header row and aligned columns. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map(String))
  const widths = headers.map((h, i) => Math.max(width(h), ...cells.map((r) => width(r[i] ?? ''))))
  const line = (r: string[]) =>
    r
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - width(c))))
      .join('  ')
      .trimEnd()
  return [color.bold(line(headers)), ...cells.map(line)].join('\n') + '\n'
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/** A progress bar on stderr; silent when stderr is not a terminal or when --json is set. */
export class Progress {
  private readonly started = Date.now()
  private readonly enabled: boolean
  private last = 0

  constructor(
    private readonly label: string,
    private readonly total: number,
    options: { enabled?: boolean } = {},
  ) {
    this.enabled = (options.enabled ?? true) && isTTY(process.stderr)
  }

  update(done: number, note = ''): void {
    if (!this.enabled) return
    const now = Date.now()
    if (now - this.last < 80 && done < this.total) return
    this.last = now
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0
    const cols = 24
    const filled = Math.round(frac * cols)
    const elapsed = now - this.started
    const eta = frac > 0 && frac < 1 ? ` eta ${formatDuration((elapsed / frac) * (1 - frac))}` : ''
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(cols - filled)}] ${done}/${this.total}${eta} ${note}\u001b[K`,
    )
  }

  done(note = ''): void {
    if (!this.enabled) return
    this.update(this.total, note)
    process.stderr.write('\n')
  }
}

/** Exit status of DESIGN.md: 0 success, 1 failed check or run, 2 bad usage. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof InvalidArgumentError) return 2
  // A malformed capture file is bad input, like a bad argument.
  if (err instanceof PcapFormatError) return 2
  return 1
}

export function errorLine(err: unknown): string {
  if (err instanceof DistlabError) return err.message
  if (err instanceof Error) return err.message
  return String(err)
}
