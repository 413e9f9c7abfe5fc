// What the modes of `distlab download` share: their options' type, the list parsers of --clients,
// --bind and --peers, the stderr logger, the journal's path and the abort on Ctrl-C.
import { join } from 'node:path'
import { createRootLogger, type Logger } from '../../core/logger.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { intOption } from '../context.js'

export interface DownloadCliOptions {
  server?: string
  clients?: number[]
  id: string
  lines: number
  rate: number
  bind?: string
  reset?: boolean
  fresh?: boolean
  out?: string
  timeout?: number
  killMasterAt?: number
  killClientAt?: number
  json?: boolean
  logLevel?: string
  mode?: string
  // download client
  rank?: number
  peers?: string
  journal?: string
  listen?: string
  reportProgress?: boolean
  // --mode docker
  image?: string
  build?: boolean
  project?: string
}

export const listOption =
  (flag: string) =>
  (v: string): string[] => {
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    if (items.length === 0) throw new InvalidArgumentError(`${flag} must be a comma-separated list`, flag)
    return items
  }

export const intListOption =
  (flag: string, min: number, max: number) =>
  (v: string): number[] =>
    listOption(flag)(v).map((s) => intOption(flag, min, max)(s))

export function cliLogger(level: string | undefined): Logger {
  return createRootLogger({ level: level ?? 'warn', write: (l) => process.stderr.write(l) })
}

export function journalFile(stateDir: string, id: string, host: string, port: number): string {
  const safe = `${id}@${host}_${port}`.replace(/[^A-Za-z0-9@._-]/g, '_')
  return join(stateDir, 'download', `${safe}.jsonl`)
}

/** Aborts on Ctrl-C or SIGTERM, so that what a run holds (sockets, containers) is released first. */
export async function runUntilSignal<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => ac.abort(new Error(sig))
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await run(ac.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
