// Everything the CLI prints goes through here: tables for people, one JSON object with --json,
// colour only on a terminal, progress bars on stderr only on a terminal.
import { spawn } from 'node:child_process'
import { CommanderError, type Command } from 'commander'
import { accessSync, constants as fsConstants, existsSync, realpathSync } from 'node:fs'
import { delimiter, dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DistlabError, InvalidArgumentError } from '../core/errors.js'
import { PcapFormatError } from '../monitor/pcap.js'

/** The checkout (or installed package) this CLI runs from: dist/src/cli/ is three levels down. */
const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

let invocation: string | undefined

/**
 * How the user can run distlab from where they are, for hints such as `distlab status`: `distlab`
 * when a `distlab` is on the user's PATH (not one npm or npx added for this run), `npx distlab` inside this checkout (after `npm install` the
 * command is not on the PATH until `npm link`), else `node <path>/bin/distlab.js`.
 */
export function cliName(): string {
  if (invocation !== undefined) return invocation
  // npx (npm 11) links this checkout into its own cache and puts that cache's bin on the PATH it
  // gives us: a `distlab` the user's shell does not have. npm marks what it runs with npm_command.
  const npmAdded = (d: string): boolean =>
    process.env.npm_command !== undefined &&
    (d.includes(`${sep}_npx${sep}`) || d.endsWith(join('node_modules', '.bin')))
  const onPath = (process.env.PATH ?? '').split(delimiter).some((d) => {
    if (!d || npmAdded(d)) return false
    try {
      accessSync(join(d, 'distlab'), fsConstants.X_OK)
      return true
    } catch {
      return false
    }
  })
  if (onPath) return (invocation = 'distlab')
  let cwd = process.cwd()
  let root = PACKAGE_ROOT
  try {
    cwd = realpathSync(cwd)
    root = realpathSync(root)
  } catch {
    // keep the paths as they are
  }
  if (cwd === root || cwd.startsWith(root + sep)) return (invocation = 'npx distlab')
  const bin = join(root, 'bin', 'distlab.js')
  const rel = relative(cwd, bin)
  return (invocation = `node ${existsSync(bin) && rel.length < bin.length ? rel : bin}`)
}

/**
 * Opens url with the platform's opener (xdg-open on Linux and the BSDs, open on macOS, start on
 * Windows) when there is one, detached; returns the line to print either way.
 */
export function openInBrowser(url: string): string {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]]
  const found =
    process.platform === 'win32' ||
    (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)))
  if (!found) return `no ${cmd} on this machine to open a browser with; open ${url} yourself`
  try {
    const child = spawn(cmd, args, { detached: true, stdio: 'ignore' })
    child.on('error', () => {})
    child.unref()
    return `opening ${url} with ${cmd}`
  } catch (err) {
    return `could not run ${cmd} (${(err as Error).message}); open ${url} yourself`
  }
}

/** A hint for people: every "`distlab ...`" in it names the form that works from here. */
export function hint(text: string): string {
  const name = cliName()
  return name === 'distlab' ? text : text.replace(/(`|\$\()distlab (?=[a-z-])/g, `$1${name} `)
}

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

/** Prints `table(headers, rows)` to stdout. */
export function printTable(headers: string[], rows: Array<Array<string | number>>): void {
  process.stdout.write(table(headers, rows))
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/**
 * A progress bar on stderr; silent when stderr is not a terminal (piped, a file, TERM=dumb) or when
 * --json is set. NO_COLOR only takes the colour away (no-color.org): the bar stays.
 */
export class Progress {
  private readonly started = Date.now()
  private readonly enabled: boolean
  private last = 0

  constructor(
    private readonly label: string,
    private readonly total: number,
    options: { enabled?: boolean } = {},
  ) {
    this.enabled = (options.enabled ?? true) && Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb'
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
  // A name that names nothing (a run, say) is the same kind of mistake as a bad option value.
  if (err instanceof DistlabError && (err as { usage?: unknown }).usage === true) return 2
  return 1
}

/** One line for an error: the message with its hints made runnable from here, newlines folded. */
export function errorLine(err: unknown): string {
  const text = err instanceof DistlabError || err instanceof Error ? err.message : String(err)
  return hint(text.replace(/\s*\n\s*/g, ' ').trim())
}

/** Commander's "error: unknown option '--x'\n(Did you mean --y?)\n" as one distlab line. */
export function commanderErrorLine(str: string, path: string): string {
  const text = str
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim()
  return `distlab: ${hint(`${text} (see \`${path} --help\`)`)}\n`
}

/**
 * Parses `argv` with `program`: the one place the CLI catches. Commander's usage errors (already
 * printed) exit 2, --help and --version 0; any other error is one `distlab: ...` line and its exit
 * code (with the stack under $DISTLAB_DEBUG).
 */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    process.stderr.write(`distlab: ${errorLine(err)}\n`)
    if (process.env.DISTLAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`)
    process.exitCode = exitCodeFor(err)
  }
}
