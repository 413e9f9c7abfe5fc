// Cooperative download (seed 003): the runner's options — what a caller passes (CooperativeDownloadInit),
// their checked and frozen form, the default client addresses on loopback — and DownloadError.
import type { Logger } from '../../core/logger.js'
import { checkInteger, checkNumber, checkPort, checkString } from '../../core/options.js'
import { InvalidArgumentError, DownloadError } from '../../core/errors.js'
import type { DownloadProgress } from './progress.js'
import {
  DEFAULT_CLIENT_BASE_ADDRESS,
  DEFAULT_LINE_COUNT,
  DEFAULT_RATE_LINES_PER_S,
  DOWNLOAD_TIMEOUT_MS,
} from './constants.js'

export { DownloadError }

export interface CooperativeDownloadInit {
  /** The line server. */
  server: { host: string; port: number }
  /** How many clients cooperate. @default 1 */
  clients?: number
  /** The id sent with SUBMIT. @default 'distlab' */
  id?: string
  /** Distinct lines the text has (the download is complete when the master holds them all). @default 1000 */
  lines?: number
  /** Lines per second each client asks for: the server's per-address limit. @default 100 */
  ratePerSecond?: number
  /**
   * The local address of each client, in rank order. Default: 127.50.0.1, .2, ... when the server is
   * on loopback (so each client is a different address to the server); otherwise the OS's choice.
   */
  localAddresses?: readonly string[]
  /** Send SESSION RESET from each client's address before fetching. @default false */
  resetSession?: boolean
  /** Journal of collected lines (appended as they arrive; read back by a new master). @default none */
  journalPath?: string
  /** Remove the journal after a SUBMIT SUCCESS that got every line right. @default true */
  removeJournalOnSuccess?: boolean
  /** Send SUBMIT when complete. @default true */
  submit?: boolean
  /** Give up after this long. @default 30 minutes */
  timeoutMs?: number
  signal?: AbortSignal
  logger?: Logger
  /** Called at most every 100 ms while lines come in, and once at the end. */
  onProgress?: (p: DownloadProgress) => void
}

export interface CooperativeDownloadOptions {
  readonly host: string
  readonly port: number
  readonly clients: number
  readonly id: string
  readonly lines: number
  readonly ratePerSecond: number
  readonly localAddresses: ReadonlyArray<string | undefined>
  readonly resetSession: boolean
  readonly journalPath: string | undefined
  readonly removeJournalOnSuccess: boolean
  readonly submit: boolean
  readonly timeoutMs: number
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** The i-th (0-based) address counting up from `base` through the last two octets, skipping .0 and .255. */
export function clientAddress(i: number, base = DEFAULT_CLIENT_BASE_ADDRESS): string {
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number]
  const index = (c * 254 + (d - 1) + i) | 0
  return `${a}.${b}.${Math.floor(index / 254)}.${1 + (index % 254)}`
}

export function resolveCooperativeDownloadOptions(init: CooperativeDownloadInit): CooperativeDownloadOptions {
  if (!init || typeof init.server !== 'object')
    throw new InvalidArgumentError('server must be { host, port }', 'server')
  const host = checkString('server.host', init.server.host)
  const port = checkPort('server.port', init.server.port)
  const clients = checkInteger('clients', init.clients ?? 1, 1, 1000)
  const id = checkString('id', init.id ?? 'distlab', /^[^\n\r]{1,200}$/)
  const lines = checkInteger('lines', init.lines ?? DEFAULT_LINE_COUNT, 1)
  const ratePerSecond = checkNumber(
    'ratePerSecond',
    init.ratePerSecond ?? DEFAULT_RATE_LINES_PER_S,
    0.001,
    1e6,
  )
  let localAddresses: Array<string | undefined>
  if (init.localAddresses !== undefined) {
    if (init.localAddresses.length !== clients)
      throw new InvalidArgumentError(
        `localAddresses must list one address per client (${clients}), got ${init.localAddresses.length}`,
        'localAddresses',
      )
    localAddresses = init.localAddresses.map((a, i) => checkString(`localAddresses[${i}]`, a))
  } else {
    localAddresses = Array.from({ length: clients }, (_, i) =>
      isLoopbackHost(host) ? clientAddress(i) : undefined,
    )
  }
  const journalPath =
    init.journalPath === undefined ? undefined : checkString('journalPath', init.journalPath)
  const timeoutMs = checkInteger('timeoutMs', init.timeoutMs ?? DOWNLOAD_TIMEOUT_MS, 1)
  return Object.freeze({
    host,
    port,
    clients,
    id,
    lines,
    ratePerSecond,
    localAddresses: Object.freeze(localAddresses),
    resetSession: init.resetSession ?? false,
    journalPath,
    removeJournalOnSuccess: init.removeJournalOnSuccess ?? true,
    submit: init.submit ?? true,
    timeoutMs,
  })
}
