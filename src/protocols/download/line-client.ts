// A client of the line protocol (see lineserver.ts): one TCP connection, optionally from a chosen
// local address so that a server's per-address limit sees each client apart. Requests are answered
// in order on the connection, so replies are matched to a FIFO of waiters.
import { connect, type Socket } from 'node:net'
import { TimeoutError, TransportError, wrapSocketError, LineProtocolError } from '../../core/errors.js'
import { checkInteger, checkPort, checkString } from '../../core/options.js'
import { MAX_LINE_BYTES, REQUEST_TIMEOUT_MS } from './constants.js'
import { guarded } from '../../core/guarded.js'
import { ERROR_PREFIX, parseLineNumber, SENDLINE, SESSION_RESET, submitRequest } from './wire.js'

export { LineProtocolError }

export interface LineClientInit {
  host: string
  port: number
  /** Local address to connect from. @default the OS's choice */
  localAddress?: string
  /** How long one request may wait for its reply. @default 10000 */
  timeoutMs?: number
}

export interface ServedLine {
  n: number
  text: string
}

interface Waiter {
  lines: number
  got: string[]
  resolve: (lines: string[]) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

export class LineClient {
  private socket: Socket | undefined
  private readonly waiters: Waiter[] = []
  private partial = ''
  private closedError: Error | undefined
  private readonly timeoutMs: number
  readonly host: string
  readonly port: number
  readonly localAddress: string | undefined
  /** SENDLINE requests sent, and how many of them were answered -1 (rate limited). */
  requests = 0
  rateLimited = 0
  /** Sum of SENDLINE round-trip times, in milliseconds. */
  rttMsTotal = 0

  constructor(init: LineClientInit) {
    this.host = checkString('host', init.host)
    this.port = checkPort('port', init.port)
    this.localAddress =
      init.localAddress === undefined ? undefined : checkString('localAddress', init.localAddress)
    this.timeoutMs = checkInteger('timeoutMs', init.timeoutMs ?? REQUEST_TIMEOUT_MS, 1)
  }

  async connect(): Promise<void> {
    if (this.socket) return
    const what = `line server ${this.host}:${this.port}${this.localAddress ? ` from ${this.localAddress}` : ''}`
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port, localAddress: this.localAddress })
      s.once('connect', () => {
        s.removeAllListeners('error')
        resolve(s)
      })
      s.once('error', (err) => reject(wrapSocketError(err, what)))
    })
    socket.setNoDelay(true)
    socket.setEncoding('utf8')
    socket.on(
      'data',
      guarded(
        (chunk: string) => this.onData(chunk),
        (err) => socket.destroy(err instanceof Error ? err : undefined),
      ),
    )
    socket.on('error', (err) => this.fail(wrapSocketError(err, what)))
    socket.on('close', () => this.fail(new TransportError(`${what} closed the connection`)))
    this.socket = socket
    this.closedError = undefined
  }

  /** The local address the server sees. */
  localBound(): string | undefined {
    return this.socket?.localAddress?.replace(/^::ffff:/, '')
  }

  private onData(chunk: string): void {
    let text = this.partial + chunk
    let nl: number
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl)
      text = text.slice(nl + 1)
      const w = this.waiters[0]
      if (!w) continue // unsolicited (a server's parting ERROR line): nobody asked
      if (w.got.length === 0 && line.startsWith(ERROR_PREFIX)) {
        this.waiters.shift()
        clearTimeout(w.timer)
        w.reject(new LineProtocolError(`server answered ${line}`))
        continue
      }
      w.got.push(line)
      if (w.got.length === w.lines) {
        this.waiters.shift()
        clearTimeout(w.timer)
        w.resolve(w.got)
      }
    }
    if (text.length > MAX_LINE_BYTES) {
      this.destroy()
      return
    }
    this.partial = text
  }

  private fail(err: Error): void {
    if (this.closedError) return
    this.closedError = err
    this.socket = undefined
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(err)
    }
  }

  /** Writes `text` and resolves with the next `replyLines` lines. */
  request(text: string, replyLines: number): Promise<string[]> {
    const socket = this.socket
    if (!socket) return Promise.reject(this.closedError ?? new TransportError('not connected'))
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(new TimeoutError(`no answer from ${this.host}:${this.port} within ${this.timeoutMs} ms`))
        // The order of replies is lost with a waiter gone: this connection is done.
        this.destroy()
      }, this.timeoutMs)
      const w: Waiter = { lines: replyLines, got: [], resolve, reject, timer }
      this.waiters.push(w)
      socket.write(text)
    })
  }

  /** One SENDLINE: the line, or undefined when the server answered -1 (over the rate). */
  async sendLine(): Promise<ServedLine | undefined> {
    this.requests++
    const t0 = performance.now()
    const [num, text] = await this.request(`${SENDLINE}\n`, 2)
    this.rttMsTotal += performance.now() - t0
    const n = parseLineNumber(num!)
    if (n === undefined) throw new LineProtocolError(`bad SENDLINE reply ${JSON.stringify(num)}`)
    if (n < 0) {
      this.rateLimited++
      return undefined
    }
    return { n, text: text! }
  }

  /** SUBMIT of `lines` (all of them, in the order given) under `id`; resolves with the reply line. */
  async submit(id: string, lines: Iterable<ServedLine>): Promise<string> {
    const [reply] = await this.request(submitRequest(id, lines), 1)
    return reply!
  }

  async resetSession(): Promise<string> {
    const [reply] = await this.request(`${SESSION_RESET}\n`, 1)
    return reply!
  }

  /** Closes politely. */
  async close(): Promise<void> {
    const s = this.socket
    if (!s) return
    this.fail(new TransportError('closed'))
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve())
      s.end()
      setTimeout(() => {
        s.destroy()
        resolve()
      }, 1000).unref()
    })
  }

  /** Drops the connection at once (what a crash looks like to the server). */
  destroy(): void {
    const s = this.socket
    this.fail(new TransportError('destroyed'))
    s?.destroy()
  }
}
