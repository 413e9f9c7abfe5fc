// Length-prefixed frames over TCP, one pooled outbound connection per peer address; connections
// idle longer than idleTimeoutMs close, and the pool keeps at most maxConnections (least recently
// used go first), so a node that talks to every peer once does not hold N sockets. A stream that
// sends a bad length cannot be resynchronised, so it is counted and closed; other connections go on.
// Inbound, one remote address may hold at most maxConnectionsPerAddress connections: the ones over
// the cap are closed at once and reported as drops (reason too_many_connections), so one host cannot
// take all of a node's file descriptors.
// An answer (Transport.send's `replyOn`) goes back on the inbound connection of the frame it answers
// while that is open, and the asker reads it off its pooled connection: an exchange of frames holds
// one connection, not one each way (with one each way, 2000 peers in one process ran out of file
// descriptors).
import { createConnection, isIP, type Server, type Socket } from 'node:net'
import { encodeFrame, FrameReader, lengthPrefixed, MAX_FRAME_BYTES } from '../core/frame.js'
import { FrameDecodeError, NotStartedError, wrapSocketError } from '../core/errors.js'
import { listenTcp } from '../core/listen.js'
import { checkInteger, checkPort, checkString } from '../core/options.js'
import type { Envelope } from '../core/envelope.js'
import type { PeerAddress, Transport } from '../core/interfaces.js'
import { safeDrop } from './decode.js'
import { FrameTransport } from './base.js'

export interface TcpTransportInit {
  /** @default '127.0.0.1' */
  host?: string
  /** 0 lets the OS choose. @default 0 */
  port?: number
  /** Largest frame accepted or sent, in bytes. @default 1 MiB */
  maxFrameBytes?: number
  /** Time allowed to connect to a peer, in milliseconds. @default 2000 */
  connectTimeoutMs?: number
  /** A connection (either side) with no traffic for this long is closed, in milliseconds. @default 15000 */
  idleTimeoutMs?: number
  /** Outbound connections kept open at most. @default 64 */
  maxConnections?: number
  /**
   * Inbound connections one remote address may hold open at once; more are closed at once and
   * counted. @default 256 (MAX_CONNECTIONS_PER_ADDRESS)
   */
  maxConnectionsPerAddress?: number
}

/**
 * Default cap on the inbound connections of one remote address. A peer keeps at most one pooled
 * connection to a node (two for a moment while one is replaced), and every peer connects from its
 * own address: containers have their own, and local nodes (127.B.x.y each) bind their outbound
 * connections to it (below). So a normal cluster holds 1-2 per address; 256 leaves room for that
 * many nodes behind one NAT address or sharing 127.0.0.1 (the macOS fallback), and is the HTTP
 * API's cap as well.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 256
/** The drop reason of a connection over the per-address cap. */
export const TOO_MANY_CONNECTIONS = 'too_many_connections'

export class TcpTransport extends FrameTransport implements Transport {
  readonly kind = 'tcp' as const
  private server?: Server
  private readonly outbound = new Map<string, Promise<Socket>>()
  private readonly sockets = new Set<Socket>()
  private readonly host: string
  private readonly port: number
  private readonly maxFrameBytes: number
  private readonly connectTimeoutMs: number
  private readonly idleTimeoutMs: number
  private readonly maxConnections: number
  private readonly maxConnectionsPerAddress: number
  /** `host:port` of an inbound connection's far end → that connection, for answers sent back on it. */
  private readonly inbound = new Map<string, Socket>()
  /** Remote address → its inbound connections open now. */
  private readonly inboundPerAddress = new Map<string, number>()
  /** Source address of outbound connections: the node's own when it binds one (not 0.0.0.0). */
  private readonly localAddress: string | undefined
  /** Inbound connections closed at once for being over the per-address cap. */
  rejectedConnections = 0

  constructor(init: TcpTransportInit = {}) {
    super()
    this.host = checkString('host', init.host ?? '127.0.0.1')
    this.port = checkPort('port', init.port ?? 0)
    this.maxFrameBytes = checkInteger(
      'maxFrameBytes',
      init.maxFrameBytes ?? MAX_FRAME_BYTES,
      64,
      64 * 1024 * 1024,
    )
    this.connectTimeoutMs = checkInteger('connectTimeoutMs', init.connectTimeoutMs ?? 2000, 1)
    this.idleTimeoutMs = checkInteger('idleTimeoutMs', init.idleTimeoutMs ?? 15_000, 1)
    this.maxConnections = checkInteger('maxConnections', init.maxConnections ?? 64, 1)
    this.maxConnectionsPerAddress = checkInteger(
      'maxConnectionsPerAddress',
      init.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS,
      1,
    )
    // Without this the kernel picks 127.0.0.1 as the source of every loopback connection, and all
    // the nodes of a local cluster would look like one address to the cap.
    this.localAddress =
      isIP(this.host) === 4 && this.host !== '0.0.0.0' && this.host.startsWith('127.') ? this.host : undefined
  }

  async start(): Promise<void> {
    if (this.server) return
    const what = `TCP port ${this.port} on ${this.host}`
    this.server = await listenTcp(this.host, this.port, (socket) => this.accept(socket), { what })
  }

  private track(socket: Socket): void {
    this.sockets.add(socket)
    // Idle either way: the far side will reconnect when it has something to say.
    socket.setTimeout(this.idleTimeoutMs, () => socket.destroy())
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
  }

  private accept(socket: Socket): void {
    const from = { host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 }
    const open = (this.inboundPerAddress.get(from.host) ?? 0) + 1
    if (open > this.maxConnectionsPerAddress) {
      this.rejectedConnections++
      socket.on('error', () => {})
      socket.destroy()
      this.handler?.drop({ reason: TOO_MANY_CONNECTIONS, bytes: 0, transport: 'tcp', direction: 'in', from })
      return
    }
    this.inboundPerAddress.set(from.host, open)
    const key = `${from.host}:${from.port}`
    this.inbound.set(key, socket)
    socket.once('close', () => {
      if (this.inbound.get(key) === socket) this.inbound.delete(key)
      const left = (this.inboundPerAddress.get(from.host) ?? 1) - 1
      if (left <= 0) this.inboundPerAddress.delete(from.host)
      else this.inboundPerAddress.set(from.host, left)
    })
    this.track(socket)
    this.readFrames(socket, from)
  }

  /** Splits a connection's bytes into frames and delivers them; nothing thrown escapes the callback. */
  private readFrames(socket: Socket, from: PeerAddress): void {
    const reader = new FrameReader(this.maxFrameBytes)
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[]
      try {
        frames = reader.push(chunk)
      } catch (err) {
        const reason = err instanceof FrameDecodeError ? err.reason : 'too_large'
        safeDrop(this.handler, { reason, bytes: chunk.length, transport: 'tcp', direction: 'in', from })
        socket.destroy()
        return
      }
      for (const frame of frames) this.receiveFrame(frame, from, this.maxFrameBytes)
    })
  }

  address(): PeerAddress {
    const a = this.server?.address()
    if (!a || typeof a === 'string') throw new NotStartedError('TCP transport is not started')
    return { host: a.address, port: a.port }
  }

  private connection(to: PeerAddress): Promise<Socket> {
    const key = `${to.host}:${to.port}`
    let pending = this.outbound.get(key)
    if (pending) {
      // Most recently used last: Map iteration order is the eviction order.
      this.outbound.delete(key)
      this.outbound.set(key, pending)
    } else {
      if (this.outbound.size >= this.maxConnections) {
        const [oldestKey, oldest] = this.outbound.entries().next().value as [string, Promise<Socket>]
        this.outbound.delete(oldestKey)
        oldest.then((s) => s.end()).catch(() => {})
      }
      // Only the pool entry this connection created may be removed by its end (a later one may hold the key).
      const forget = () => {
        if (this.outbound.get(key) === entry) this.outbound.delete(key)
      }
      const entry = new Promise<Socket>((resolve, reject) => {
        const socket = createConnection({
          host: to.host,
          port: to.port,
          localAddress: this.outboundSource(to),
        })
        this.track(socket)
        const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), this.connectTimeoutMs)
        socket.once('connect', () => {
          clearTimeout(timer)
          socket.setNoDelay(true)
          resolve(socket)
        })
        socket.once('error', (err) => {
          clearTimeout(timer)
          reject(wrapSocketError(err, `TCP connect to ${key}`))
        })
        socket.once('close', forget)
        // Peers may answer on the same connection.
        this.readFrames(socket, to)
      })
      entry.catch(forget)
      this.outbound.set(key, entry)
      pending = entry
    }
    return pending
  }

  /** The node's own loopback address for a peer on loopback; otherwise the kernel's choice. */
  private outboundSource(to: PeerAddress): string | undefined {
    return this.localAddress && isIP(to.host) === 4 && to.host.startsWith('127.')
      ? this.localAddress
      : undefined
  }

  async send(to: PeerAddress, env: Envelope, replyOn?: PeerAddress): Promise<number> {
    if (!this.server) throw new NotStartedError('TCP transport is not started')
    const frame = lengthPrefixed(encodeFrame(env, { maxFrameBytes: this.maxFrameBytes, auth: this.auth }))
    const back = replyOn && this.inbound.get(`${replyOn.host}:${replyOn.port}`)
    const socket = back && back.writable ? back : await this.connection(to)
    await new Promise<void>((resolve, reject) =>
      socket.write(frame, (err) =>
        err ? reject(wrapSocketError(err, `TCP send to ${to.host}:${to.port}`)) : resolve(),
      ),
    )
    return frame.length
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    this.outbound.clear()
    this.inbound.clear()
    this.inboundPerAddress.clear()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

export function tcpTransport(init: TcpTransportInit = {}): TcpTransport {
  return new TcpTransport(init)
}
