// The line server of seed 003 ("vayu"): over TCP it hands out random lines of a text, numbered from 0,
// at a limited rate per client address, and checks a client's SUBMIT of the whole text (the
// commands and replies are in wire.ts). A submission that cannot be parsed (an empty id, a count or
// line number that is not a whole number) is answered FAILED.
//
// The limit is a generic cell rate algorithm per address (ITU-T I.371's GCRA, a token bucket of
// depth `burst`): one line per 1/rate seconds, up to `burst` back to back. The session (limit state,
// lines served, start time) belongs to the client's address, not the connection, so it survives
// reconnects; SESSION RESET starts it afresh. Input is framed with hard limits: a line longer than
// MAX_LINE_BYTES or replies piling up unread past MAX_PENDING_WRITE_BYTES cut that one connection off.
import type { Server, Socket } from 'node:net'
import type { Logger } from '../../core/logger.js'
import { silentLogger, named } from '../../core/logger.js'
import { checkInteger, checkNumber, checkPort, checkString } from '../../core/options.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { listenTcp } from '../../core/listen.js'
import {
  DEFAULT_BURST_LINES,
  DEFAULT_LINE_COUNT,
  DEFAULT_LINE_SERVER_PORT,
  DEFAULT_RATE_LINES_PER_S,
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_LINE_BYTES,
  MAX_PENDING_WRITE_BYTES,
  MAX_SUBMIT_ID_CHARS,
  MAX_SUBMIT_PAIRS,
} from './constants.js'
import { defaultLines } from './text.js'
import { guarded } from '../../core/guarded.js'
import { seededRandom } from '../../core/random.js'
import {
  errorReply,
  RATE_LIMITED_REPLY,
  SENDLINE,
  servedLineReply,
  SESSION_RESET,
  SESSION_RESET_REPLY,
  SUBMIT,
  submitFailedReply,
  submitSuccessReply,
} from './wire.js'

export interface LineServerInit {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string
  /** TCP port; 0 lets the OS choose. @default 9801 */
  port?: number
  /** The text to serve; default: the first `lineCount` lines of data/lines.txt. */
  lines?: readonly string[]
  /** How many lines of the default text to serve (ignored when `lines` is given). @default 1000 */
  lineCount?: number
  /** Lines per second each client address may fetch. @default 100 */
  ratePerSecond?: number
  /** Lines an address may fetch back to back before the rate applies. @default 2 */
  burst?: number
  /**
   * Seed of the random line choice. With a seed, the sequence of lines handed out (over all clients)
   * is the same on every run and restarts at each SESSION RESET: what a fair benchmark needs.
   * @default a different sequence every run
   */
  seed?: number
  /** Longest accepted line in bytes, '\n' included. @default 65536 */
  maxLineBytes?: number
  /** Unread reply bytes after which a connection is cut off. @default 1 MiB */
  maxPendingWriteBytes?: number
  /** Connections one address may hold at once. @default 64 */
  maxConnectionsPerAddress?: number
  logger?: Logger
  /** Milliseconds, for the rate limit and session times. @default performance.now() */
  now?: () => number
}

export interface LineServerOptions {
  readonly host: string
  readonly port: number
  readonly lines: readonly string[]
  readonly ratePerSecond: number
  readonly burst: number
  readonly seed: number | undefined
  readonly maxLineBytes: number
  readonly maxPendingWriteBytes: number
  readonly maxConnectionsPerAddress: number
}

export function resolveLineServerOptions(init: LineServerInit = {}): LineServerOptions {
  const host = checkString('host', init.host ?? '127.0.0.1')
  const port = checkPort('port', init.port ?? DEFAULT_LINE_SERVER_PORT)
  let lines: readonly string[]
  if (init.lines !== undefined) {
    if (!Array.isArray(init.lines) || init.lines.length === 0)
      throw new InvalidArgumentError('lines must be a non-empty array of strings', 'lines')
    if (init.lines.some((l) => typeof l !== 'string' || l.includes('\n')))
      throw new InvalidArgumentError('lines must be strings without a newline', 'lines')
    lines = Object.freeze([...init.lines])
  } else {
    lines = Object.freeze(defaultLines(checkInteger('lineCount', init.lineCount ?? DEFAULT_LINE_COUNT, 1)))
  }
  const ratePerSecond = checkNumber(
    'ratePerSecond',
    init.ratePerSecond ?? DEFAULT_RATE_LINES_PER_S,
    0.001,
    1e6,
  )
  const burst = checkInteger('burst', init.burst ?? DEFAULT_BURST_LINES, 1, 1e6)
  const seed = init.seed === undefined ? undefined : checkInteger('seed', init.seed, 0, 2 ** 32 - 1)
  const maxLineBytes = checkInteger('maxLineBytes', init.maxLineBytes ?? MAX_LINE_BYTES, 16)
  const maxPendingWriteBytes = checkInteger(
    'maxPendingWriteBytes',
    init.maxPendingWriteBytes ?? MAX_PENDING_WRITE_BYTES,
    1024,
  )
  const maxConnectionsPerAddress = checkInteger(
    'maxConnectionsPerAddress',
    init.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS,
    1,
  )
  return Object.freeze({
    host,
    port,
    lines,
    ratePerSecond,
    burst,
    seed,
    maxLineBytes,
    maxPendingWriteBytes,
    maxConnectionsPerAddress,
  })
}

/** What the server remembers about one client address. */
export interface AddressSession {
  readonly address: string
  /** GCRA theoretical arrival time of the next line (ms on the server's clock). */
  tatMs: number
  served: number
  rateLimited: number
  submits: number
  /** When this session's first line was served. */
  firstLineAtMs: number | undefined
  connections: number
}

export interface LineServerStats {
  connections: number
  openConnections: number
  served: number
  rateLimited: number
  submits: number
  resets: number
  malformed: number
  cutOff: number
}

type SubmitState =
  | { stage: 'id' }
  | { stage: 'count'; id: string; error?: string }
  | {
      stage: 'pairs'
      id: string
      error?: string
      count: number
      read: number
      correct: number
      incorrect: number
      seen: Uint8Array
      /** The number of the pair being read, once its number line has arrived. */
      number: string | undefined
    }

const plainAddress = (a: string | undefined) => (a ?? 'unknown').replace(/^::ffff:/, '')

export class LineServer {
  readonly options: LineServerOptions
  private readonly log: Logger
  private readonly now: () => number
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly sessions = new Map<string, AddressSession>()
  private random: () => number
  private readonly counters: LineServerStats = {
    connections: 0,
    openConnections: 0,
    served: 0,
    rateLimited: 0,
    submits: 0,
    resets: 0,
    malformed: 0,
    cutOff: 0,
  }

  constructor(init: LineServerInit = {}) {
    this.options = resolveLineServerOptions(init)
    this.log = named(init.logger ?? silentLogger, 'distlab:lineserver')
    this.now = init.now ?? (() => performance.now())
    this.random = this.options.seed === undefined ? Math.random : seededRandom(this.options.seed)
  }

  async start(): Promise<void> {
    if (this.server) return
    const onError = (err: Error): void => this.log.error({ err: err.message }, 'server error')
    this.server = await listenTcp(this.options.host, this.options.port, (s) => this.accept(s), { onError })
    const a = this.address()
    this.log.info(
      { host: a.host, port: a.port, lines: this.options.lines.length, rate: this.options.ratePerSecond },
      'line server listening',
    )
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** The bound address; valid after start(). */
  address(): { host: string; port: number } {
    const a = this.server?.address()
    if (!a || typeof a === 'string') return { host: this.options.host, port: this.options.port }
    return { host: a.address, port: a.port }
  }

  stats(): LineServerStats {
    return { ...this.counters, openConnections: this.sockets.size }
  }

  session(address: string): Readonly<AddressSession> | undefined {
    return this.sessions.get(address)
  }

  /** Every client address seen, with its session: what each address was served and refused. */
  addresses(): Array<Readonly<AddressSession>> {
    return [...this.sessions.values()].map((x) => ({ ...x }))
  }

  /** Forgets every address's session (what a fresh server would do) and restarts a seeded sequence. */
  resetAll(): void {
    for (const s of this.sessions.values()) this.clearSession(s)
    this.reseed()
  }

  private reseed(): void {
    if (this.options.seed !== undefined) this.random = seededRandom(this.options.seed)
  }

  private clearSession(s: AddressSession): void {
    s.tatMs = Number.NEGATIVE_INFINITY
    s.served = 0
    s.rateLimited = 0
    s.submits = 0
    s.firstLineAtMs = undefined
  }

  private sessionFor(address: string): AddressSession {
    let s = this.sessions.get(address)
    if (!s) {
      s = {
        address,
        tatMs: Number.NEGATIVE_INFINITY,
        served: 0,
        rateLimited: 0,
        submits: 0,
        firstLineAtMs: undefined,
        connections: 0,
      }
      this.sessions.set(address, s)
    }
    return s
  }

  private accept(socket: Socket): void {
    const address = plainAddress(socket.remoteAddress)
    const session = this.sessionFor(address)
    this.counters.connections++
    socket.on('error', () => {}) // a reset by the peer is its business; 'close' cleans up.
    if (session.connections >= this.options.maxConnectionsPerAddress) {
      this.counters.cutOff++
      this.log.warn({ address }, 'too many connections from one address')
      socket.end('ERROR: too many connections from your address\n')
      setTimeout(() => socket.destroy(), 1000).unref()
      return
    }
    session.connections++
    this.sockets.add(socket)
    socket.setNoDelay(true)
    this.log.debug({ address, port: socket.remotePort }, 'client connected')
    new LineConnection(this, socket, session)
    socket.once('close', () => {
      session.connections--
      this.sockets.delete(socket)
      this.log.debug({ address, port: socket.remotePort }, 'client disconnected')
    })
  }

  /** @internal One SENDLINE: the reply for this address at this moment. */
  sendLine(session: AddressSession): string {
    const now = this.now()
    const intervalMs = 1000 / this.options.ratePerSecond
    const toleranceMs = (this.options.burst - 1) * intervalMs
    const tat = Math.max(session.tatMs, now)
    if (tat - now > toleranceMs) {
      session.rateLimited++
      this.counters.rateLimited++
      return RATE_LIMITED_REPLY
    }
    session.tatMs = tat + intervalMs
    session.served++
    this.counters.served++
    session.firstLineAtMs ??= now
    const lines = this.options.lines
    const n = Math.min(lines.length - 1, Math.floor(this.random() * lines.length))
    return servedLineReply(n, lines[n]!)
  }

  /** @internal SESSION RESET from this address. */
  resetSession(session: AddressSession): string {
    this.clearSession(session)
    this.reseed()
    this.counters.resets++
    this.log.info({ address: session.address }, 'session reset')
    return SESSION_RESET_REPLY
  }

  /** @internal A finished submission: the reply line. */
  submitted(session: AddressSession, state: SubmitState & { stage: 'pairs' }): string {
    this.counters.submits++
    session.submits++
    if (state.error) {
      this.log.info({ address: session.address, id: state.id, reason: state.error }, 'submit failed')
      return submitFailedReply(state.id, state.error)
    }
    const seconds =
      session.firstLineAtMs === undefined ? 0 : Math.max(0, (this.now() - session.firstLineAtMs) / 1000)
    this.log.info(
      {
        address: session.address,
        id: state.id,
        correct: state.correct,
        incorrect: state.incorrect,
        read: state.read,
        served: session.served,
        seconds: Number(seconds.toFixed(3)),
      },
      'submit',
    )
    return submitSuccessReply({
      id: state.id,
      address: session.address,
      correct: state.correct,
      incorrect: state.incorrect,
      read: state.read,
      served: session.served,
      seconds,
    })
  }

  /** @internal */
  failedEarly(session: AddressSession, id: string, reason: string): string {
    this.counters.submits++
    session.submits++
    this.log.info({ address: session.address, id, reason }, 'submit failed')
    return submitFailedReply(id, reason)
  }

  /** @internal */
  malformed(session: AddressSession, what: string): string {
    this.counters.malformed++
    this.log.debug({ address: session.address, what }, 'malformed command')
    return errorReply(what)
  }

  /** @internal */
  cutOff(session: AddressSession, reason: string): void {
    this.counters.cutOff++
    this.log.warn({ address: session.address, reason }, 'client cut off')
  }
}

/** One TCP connection: splits input into lines under hard limits and runs the command state machine. */
class LineConnection {
  private pending: Buffer | undefined
  private submit: SubmitState | undefined
  private closed = false

  constructor(
    private readonly server: LineServer,
    private readonly socket: Socket,
    private readonly session: AddressSession,
  ) {
    socket.on(
      'data',
      guarded(
        (chunk: Buffer) => this.onData(chunk),
        () => socket.destroy(),
      ),
    )
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return
    const { maxLineBytes, maxPendingWriteBytes } = this.server.options
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    let start = 0
    const out: string[] = []
    for (;;) {
      const nl = data.indexOf(10, start)
      if (nl < 0) break
      if (nl - start >= maxLineBytes) return this.cut('line too long', out)
      out.push(this.handleLine(data.toString('utf8', start, nl)))
      start = nl + 1
    }
    const rest = data.length - start
    if (rest >= maxLineBytes) return this.cut('line too long', out)
    this.pending = rest > 0 ? Buffer.from(data.subarray(start)) : undefined
    if (out.length > 0) this.socket.write(out.join(''))
    if (this.socket.writableLength > maxPendingWriteBytes) this.cut('replies not read', [])
  }

  private cut(reason: string, out: string[]): void {
    this.closed = true
    this.pending = undefined
    this.server.cutOff(this.session, reason)
    this.socket.removeAllListeners('data')
    if (this.socket.writableLength > this.server.options.maxPendingWriteBytes) {
      this.socket.destroy()
      return
    }
    this.socket.end(out.join('') + errorReply(reason))
    // Whatever the client keeps sending is not read; a short grace lets the error line reach it.
    setTimeout(() => this.socket.destroy(), 1000).unref()
  }

  private handleLine(raw: string): string {
    const s = this.submit
    if (s) return this.handleSubmitLine(s, raw)
    const line = raw.trim()
    if (line === SENDLINE) return this.server.sendLine(this.session)
    if (line === SUBMIT) {
      this.submit = { stage: 'id' }
      return ''
    }
    if (line === SESSION_RESET) return this.server.resetSession(this.session)
    if (line === '') return this.server.malformed(this.session, 'empty command')
    const shown = line.length > 40 ? `${line.slice(0, 40)}...` : line
    return this.server.malformed(
      this.session,
      `unknown command ${JSON.stringify(shown)}; expected SENDLINE, SUBMIT or SESSION RESET`,
    )
  }

  private handleSubmitLine(s: SubmitState, raw: string): string {
    const lineCount = this.server.options.lines.length
    if (s.stage === 'id') {
      const id = raw.trim()
      const error =
        id === ''
          ? 'empty id'
          : id.length > MAX_SUBMIT_ID_CHARS
            ? `id longer than ${MAX_SUBMIT_ID_CHARS} characters`
            : undefined
      this.submit = { stage: 'count', id: id.slice(0, MAX_SUBMIT_ID_CHARS), error }
      return ''
    }
    if (s.stage === 'count') {
      const text = raw.trim()
      if (!/^\d+$/.test(text)) {
        this.submit = undefined
        return this.server.failedEarly(
          this.session,
          s.id,
          `invalid count ${JSON.stringify(text.slice(0, 40))}`,
        )
      }
      const count = Number(text)
      if (count > MAX_SUBMIT_PAIRS) {
        this.submit = undefined
        return this.server.failedEarly(this.session, s.id, `count ${count} is more than ${MAX_SUBMIT_PAIRS}`)
      }
      const pairs: SubmitState & { stage: 'pairs' } = {
        stage: 'pairs',
        id: s.id,
        error: s.error,
        count,
        read: 0,
        correct: 0,
        incorrect: 0,
        seen: new Uint8Array(lineCount),
        number: undefined,
      }
      if (count === 0) return this.finishSubmit(pairs)
      this.submit = pairs
      return ''
    }
    if (s.number === undefined) {
      s.number = raw.trim()
      return ''
    }
    const numberText = s.number
    s.number = undefined
    s.read++
    if (!/^-?\d+$/.test(numberText)) {
      s.error ??= `invalid line number ${JSON.stringify(numberText.slice(0, 40))} in pair ${s.read}`
    } else {
      const n = Number(numberText)
      const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (n >= 0 && n < lineCount && s.seen[n] === 0 && this.server.options.lines[n] === text) {
        s.seen[n] = 1
        s.correct++
      } else {
        s.incorrect++
      }
    }
    return s.read === s.count ? this.finishSubmit(s) : ''
  }

  private finishSubmit(s: SubmitState & { stage: 'pairs' }): string {
    this.submit = undefined
    return this.server.submitted(this.session, s)
  }
}

export function lineServer(init: LineServerInit = {}): LineServer {
  return new LineServer(init)
}
