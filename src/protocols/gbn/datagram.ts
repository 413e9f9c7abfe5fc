// Raw datagram sockets, the only thing the course programs need from the network: a bound port on
// 127.0.0.1 that sends bytes to another port and hands over what arrives. Two implementations: UDP
// (what users run) and an in-memory network driven by a Clock (repeatable protocol tests and large
// in-process benches).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { wrapSocketError, NotStartedError } from '../../core/errors.js'
import { checkNumber, checkPort, checkProbability, checkString } from '../../core/options.js'
import { systemClock, type Clock } from '../../core/clock.js'
import { DEFAULT_HOST } from './constants.js'
import { guarded } from '../../core/guarded.js'

export type DatagramHandler = (bytes: Buffer, fromPort: number) => void

export interface DatagramSocket {
  /** The bound port. */
  readonly port: number
  /** Fire and forget: a failed send is counted in `sendErrors`, never thrown. */
  send(port: number, bytes: Uint8Array): void
  setHandler(handler: DatagramHandler): void
  close(): Promise<void>
  readonly sendErrors: number
}

export interface DatagramNetwork {
  /** Binds a port (0: any free one). */
  bind(port: number): Promise<DatagramSocket>
}

export interface UdpNetworkInit {
  /** @default '127.0.0.1' */
  host?: string
  /** Kernel receive buffer per socket, in bytes; large enough for bursts of routing tables. @default 1 MiB */
  recvBufferBytes?: number
}

/**
 * What both sockets share: the handler, and the rule that a closed socket neither sends nor hands
 * over anything and closes once.
 */
abstract class BaseDatagramSocket implements DatagramSocket {
  sendErrors = 0
  protected handler: DatagramHandler = () => {}
  protected closed = false

  constructor(
    /** 'UDP' or 'memory', for the error a send on a closed socket throws. */
    private readonly kind: string,
    readonly port: number,
  ) {}

  send(port: number, bytes: Uint8Array): void {
    if (this.closed) throw new NotStartedError(`${this.kind} port ${this.port} is closed`)
    this.transmit(port, bytes)
  }

  setHandler(handler: DatagramHandler): void {
    this.handler = handler
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.release()
  }

  protected abstract transmit(port: number, bytes: Uint8Array): void
  protected abstract release(): Promise<void>
}

class UdpDatagramSocket extends BaseDatagramSocket {
  constructor(
    private readonly socket: Socket,
    private readonly host: string,
    port: number,
  ) {
    super('UDP', port)
    socket.on(
      'message',
      guarded((buf: Buffer, rinfo: RemoteInfo) => {
        // Only our own loopback peers speak to us; anything from elsewhere is still just bytes.
        this.handler(buf, rinfo.port)
      }),
    )
  }

  protected transmit(port: number, bytes: Uint8Array): void {
    this.socket.send(bytes, port, this.host, (err) => {
      if (err) this.sendErrors++
    })
  }

  protected release(): Promise<void> {
    return new Promise<void>((resolve) => this.socket.close(() => resolve()))
  }
}

export function udpNetwork(init: UdpNetworkInit = {}): DatagramNetwork {
  const host = checkString('host', init.host ?? DEFAULT_HOST)
  const recvBufferBytes = checkNumber('recvBufferBytes', init.recvBufferBytes ?? 1024 * 1024, 0)
  return {
    async bind(port: number): Promise<DatagramSocket> {
      checkPort('port', port)
      const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' })
      await new Promise<void>((resolve, reject) => {
        socket.once('error', (err) => reject(wrapSocketError(err, `UDP port ${port} on ${host}`)))
        socket.bind(port, host, () => resolve())
      })
      // ICMP port unreachable and friends must never crash a node.
      socket.removeAllListeners('error')
      socket.on('error', () => {})
      if (recvBufferBytes > 0) {
        try {
          socket.setRecvBufferSize(recvBufferBytes)
        } catch {
          // The kernel caps it; the default still works.
        }
      }
      return new UdpDatagramSocket(socket, host, socket.address().port)
    },
  }
}

export interface MemoryNetworkInit {
  clock?: Clock
  /** One-way delay, in milliseconds. @default 1 */
  latencyMs?: number
  /** Probability that a datagram is lost in flight. @default 0 */
  loss?: number
  /** Probability that one byte of a datagram is flipped in flight. @default 0 */
  corrupt?: number
  /** Random source in [0, 1). @default Math.random */
  random?: () => number
}

/** An in-memory datagram network: delivery is a timer on the given clock. */
export class MemoryDatagramNetwork implements DatagramNetwork {
  private readonly sockets = new Map<number, MemorySocket>()
  private nextPort = 40_000
  readonly clock: Clock
  private readonly latencyMs: number
  loss: number
  corrupt: number
  private readonly random: () => number
  /** Datagrams sent, delivered, lost in flight, and sent to a port nobody holds. */
  readonly stats = { sent: 0, delivered: 0, lost: 0, corrupted: 0, unreachable: 0 }

  constructor(init: MemoryNetworkInit = {}) {
    this.clock = init.clock ?? systemClock
    this.latencyMs = checkNumber('latencyMs', init.latencyMs ?? 1, 0)
    this.loss = checkProbability('loss', init.loss ?? 0)
    this.corrupt = checkProbability('corrupt', init.corrupt ?? 0)
    this.random = init.random ?? Math.random
  }

  async bind(port: number): Promise<DatagramSocket> {
    checkPort('port', port)
    if (port === 0) while (this.sockets.has(this.nextPort)) this.nextPort++
    const p = port === 0 ? this.nextPort++ : port
    if (this.sockets.has(p)) throw wrapSocketError({ code: 'EADDRINUSE' }, `memory port ${p}`)
    const s = new MemorySocket(this, p)
    this.sockets.set(p, s)
    return s
  }

  /** @internal */
  transmit(from: number, to: number, bytes: Uint8Array): void {
    this.stats.sent++
    if (this.loss > 0 && this.random() < this.loss) {
      this.stats.lost++
      return
    }
    const copy = Buffer.from(bytes)
    if (this.corrupt > 0 && this.random() < this.corrupt && copy.length > 0) {
      const i = Math.floor(this.random() * copy.length)
      copy[i] = copy[i]! ^ (1 + Math.floor(this.random() * 255))
      this.stats.corrupted++
    }
    this.clock.setTimeout(() => {
      const dst = this.sockets.get(to)
      if (!dst) {
        this.stats.unreachable++
        return
      }
      this.stats.delivered++
      dst.deliver(copy, from)
    }, this.latencyMs)
  }

  /** @internal */
  release(port: number): void {
    this.sockets.delete(port)
  }
}

class MemorySocket extends BaseDatagramSocket {
  constructor(
    private readonly net: MemoryDatagramNetwork,
    port: number,
  ) {
    super('memory', port)
  }
  protected transmit(port: number, bytes: Uint8Array): void {
    this.net.transmit(this.port, port, bytes)
  }
  deliver(bytes: Buffer, from: number): void {
    if (!this.closed) this.handler(bytes, from)
  }
  protected async release(): Promise<void> {
    this.net.release(this.port)
  }
}

export function memoryNetwork(init: MemoryNetworkInit = {}): MemoryDatagramNetwork {
  return new MemoryDatagramNetwork(init)
}
