// One frame per datagram. A datagram that does not decode is counted and dropped.
import { createSocket, type Socket } from 'node:dgram'
import { encodeFrame, MAX_DATAGRAM_BYTES } from '../core/frame.js'
import { wrapSocketError, NotStartedError } from '../core/errors.js'
import { checkPort, checkString } from '../core/options.js'
import type { Envelope } from '../core/envelope.js'
import type { PeerAddress, Transport } from '../core/interfaces.js'
import { FrameTransport } from './base.js'

export interface UdpTransportInit {
  /** @default '127.0.0.1' */
  host?: string
  /** 0 lets the OS choose. @default 0 */
  port?: number
}

export class UdpTransport extends FrameTransport implements Transport {
  readonly kind = 'udp' as const
  private socket?: Socket
  private readonly host: string
  private readonly port: number

  constructor(init: UdpTransportInit = {}) {
    super()
    this.host = checkString('host', init.host ?? '127.0.0.1')
    this.port = checkPort('port', init.port ?? 0)
  }

  async start(): Promise<void> {
    if (this.socket) return
    const socket = createSocket({ type: this.host.includes(':') ? 'udp6' : 'udp4' })
    socket.on('message', (buf, rinfo) =>
      this.receiveFrame(buf, { host: rinfo.address, port: rinfo.port }, MAX_DATAGRAM_BYTES),
    )
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(wrapSocketError(err, `UDP port ${this.port} on ${this.host}`)))
      socket.bind(this.port, this.host, () => resolve())
    })
    // After binding, socket errors (ICMP unreachable on some systems) must never crash the node.
    socket.removeAllListeners('error')
    socket.on('error', () => {})
    this.socket = socket
  }

  address(): PeerAddress {
    if (!this.socket) throw new NotStartedError('UDP transport is not started')
    const a = this.socket.address()
    return { host: a.address, port: a.port }
  }

  async send(to: PeerAddress, env: Envelope): Promise<number> {
    const socket = this.socket
    if (!socket) throw new NotStartedError('UDP transport is not started')
    const frame = encodeFrame(env, { maxFrameBytes: MAX_DATAGRAM_BYTES, auth: this.auth })
    await new Promise<void>((resolve, reject) =>
      socket.send(frame, to.port, to.host, (err) =>
        err ? reject(wrapSocketError(err, `UDP send to ${to.host}:${to.port}`)) : resolve(),
      ),
    )
    return frame.length
  }

  async stop(): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }
}

export function udpTransport(init: UdpTransportInit = {}): UdpTransport {
  return new UdpTransport(init)
}
