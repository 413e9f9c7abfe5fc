// An anycast replica: a TCP server that answers every connection with the seed's greeting, then
// its replica name on a second line when it has one, and closes. Whatever a client sends is read
// up to a limit and ignored; a client that sends too much is cut off and counted.
import type { Server, Socket } from 'node:net'
import { NotStartedError } from '../../core/errors.js'
import { listenTcp } from '../../core/listen.js'
import { checkPort, checkString } from '../../core/options.js'
import { MAX_REQUEST_BYTES } from './constants.js'
import { formatAnswer } from './wire.js'

export interface AnycastServerInit {
  /** @default '0.0.0.0' */
  host?: string
  /** @default 5000 */
  port?: number
  /** Sent on a second line after the greeting; none: the greeting alone, exactly as the seed. */
  name?: string
  /** Called for each connection served. */
  onConnection?: (remote: { host: string; port: number }) => void
}

export class AnycastServer {
  private server?: Server
  private readonly sockets = new Set<Socket>()
  private readonly host: string
  private readonly port: number
  readonly name?: string
  readonly counts = { served: 0, active: 0, oversized: 0 }

  constructor(private readonly init: AnycastServerInit = {}) {
    this.host = checkString('host', init.host ?? '0.0.0.0')
    this.port = checkPort('port', init.port ?? 5000)
    this.name = init.name === undefined ? undefined : checkString('name', init.name, /^[^\r\n]{1,128}$/)
  }

  async start(): Promise<void> {
    if (this.server) return
    this.server = await listenTcp(this.host, this.port, (s) => this.serve(s))
  }

  address(): { host: string; port: number } {
    const a = this.server?.address()
    if (!a || typeof a === 'string') throw new NotStartedError('anycast server is not started')
    return { host: a.address, port: a.port }
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket)
    this.counts.active++
    let read = 0
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      read += chunk.length
      if (read > MAX_REQUEST_BYTES) {
        this.counts.oversized++
        socket.destroy()
      }
    })
    socket.on('close', () => {
      this.sockets.delete(socket)
      this.counts.active--
    })
    this.counts.served++
    this.init.onConnection?.({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 })
    socket.end(formatAnswer(this.name))
  }

  /** Closes the listener and every open connection; twice is harmless. */
  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
