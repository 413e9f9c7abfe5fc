// IP multicast, seed-001 compatible: plain datagrams to a class-D group (224.1.1.1:5007 by
// default), JSON or raw bytes, so that the course's own Python senders and receivers interoperate.
// The receiver joins the group on one interface (IGMP membership), tells JSON from binary, and
// counts what it gets; nothing here prints.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { wrapSocketError, InvalidArgumentError, NotStartedError } from '../../core/errors.js'
import { checkInteger, checkPort, checkString } from '../../core/options.js'
import {
  DEFAULT_GROUP,
  DEFAULT_PORT,
  DEFAULT_TTL,
  LOOPBACK_INTERFACE,
  MAX_DATAGRAM_BYTES,
} from './constants.js'
import { guarded } from '../../core/guarded.js'
import { datagramKind } from './wire.js'

export interface IpMulticastInit {
  /** @default '224.1.1.1' */
  group?: string
  /** @default 5007 */
  port?: number
  /** Address of the interface to send and join on. @default '127.0.0.1' */
  interface?: string
  /** Sender only: hops a datagram may cross. @default 2 */
  ttl?: number
  /**
   * Receiver only: addresses of more interfaces to join the group on (a join that fails there is
   * skipped; `joined` lists where it succeeded). @default []
   */
  alsoJoin?: string[]
}

export type IpMulticastOptions = Readonly<Required<Omit<IpMulticastInit, 'alsoJoin'>>>

export function resolveIpMulticastOptions(init: IpMulticastInit = {}): IpMulticastOptions {
  const group = checkString('group', init.group ?? DEFAULT_GROUP)
  const first = Number(group.split('.')[0])
  if (!isIPv4(group) || first < 224 || first > 239)
    throw new InvalidArgumentError(
      `group must be an IPv4 multicast address (224.0.0.0-239.255.255.255), got ${group}`,
      'group',
    )
  const iface = checkString('interface', init.interface ?? LOOPBACK_INTERFACE)
  if (!isIPv4(iface))
    throw new InvalidArgumentError(`interface must be an IPv4 address, got ${iface}`, 'interface')
  return Object.freeze({
    group,
    port: checkPort('port', init.port ?? DEFAULT_PORT),
    interface: iface,
    ttl: checkInteger('ttl', init.ttl ?? DEFAULT_TTL, 0, 255),
  })
}

export class IpMulticastSender {
  private socket?: Socket
  readonly options: IpMulticastOptions

  constructor(init: IpMulticastInit = {}) {
    this.options = resolveIpMulticastOptions(init)
  }

  async start(): Promise<void> {
    if (this.socket) return
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(wrapSocketError(err, 'multicast sender socket')))
      socket.bind(0, () => resolve())
    })
    socket.removeAllListeners('error')
    socket.on('error', () => {})
    try {
      socket.setMulticastTTL(this.options.ttl)
      socket.setMulticastInterface(this.options.interface)
      socket.setMulticastLoopback(true)
    } catch (err) {
      socket.close()
      throw wrapSocketError(err, `multicast on interface ${this.options.interface}`)
    }
    this.socket = socket
  }

  /** The local address datagrams leave from. */
  address(): { host: string; port: number } {
    if (!this.socket) throw new NotStartedError('multicast sender is not started')
    const a = this.socket.address()
    return { host: a.address, port: a.port }
  }

  /** Sends one datagram to the group; resolves to its size in bytes. */
  async send(payload: Buffer | string): Promise<number> {
    const socket = this.socket
    if (!socket) throw new NotStartedError('multicast sender is not started')
    const buf = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
    if (buf.length > MAX_DATAGRAM_BYTES)
      throw new InvalidArgumentError(
        `a datagram holds at most ${MAX_DATAGRAM_BYTES} bytes, got ${buf.length}`,
      )
    await new Promise<void>((resolve, reject) =>
      socket.send(buf, this.options.port, this.options.group, (err) =>
        err ? reject(wrapSocketError(err, `send to ${this.options.group}:${this.options.port}`)) : resolve(),
      ),
    )
    return buf.length
  }

  async stop(): Promise<void> {
    const s = this.socket
    this.socket = undefined
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}

export interface MulticastDatagram {
  from: string
  port: number
  bytes: number
  kind: 'json' | 'binary'
  /** The text as received, for JSON datagrams. */
  text?: string
  json?: unknown
  at: number
}

export class IpMulticastReceiver {
  private socket?: Socket
  readonly options: IpMulticastOptions
  private readonly handlers = new Set<(d: MulticastDatagram) => void>()
  readonly counts = { json: 0, binary: 0, bytes: 0 }
  private readonly alsoJoin: string[]
  /** Interface addresses the group is joined on, once started. */
  readonly joined: string[] = []

  constructor(init: IpMulticastInit = {}) {
    this.options = resolveIpMulticastOptions(init)
    const extra = init.alsoJoin ?? []
    if (!Array.isArray(extra) || extra.length > 16 || !extra.every((a) => typeof a === 'string' && isIPv4(a)))
      throw new InvalidArgumentError('alsoJoin must list at most 16 IPv4 addresses', 'alsoJoin')
    this.alsoJoin = extra.filter((a) => a !== this.options.interface)
  }

  onDatagram(fn: (d: MulticastDatagram) => void): () => void {
    this.handlers.add(fn)
    return () => this.handlers.delete(fn)
  }

  /** Binds the group's port on every address and joins the group on the interface. */
  async start(): Promise<void> {
    if (this.socket) return
    const { group, port, interface: iface } = this.options
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    socket.on(
      'message',
      guarded((buf: Buffer, rinfo: RemoteInfo) => this.receive(buf, rinfo.address, rinfo.port)),
    )
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(wrapSocketError(err, `UDP port ${port}`)))
      socket.bind(port, '0.0.0.0', () => resolve())
    })
    socket.removeAllListeners('error')
    socket.on('error', () => {})
    try {
      socket.addMembership(group, iface)
    } catch (err) {
      socket.close()
      throw wrapSocketError(err, `joining ${group} on ${iface}`)
    }
    this.joined.push(iface)
    for (const extra of this.alsoJoin) {
      try {
        socket.addMembership(group, extra)
        this.joined.push(extra)
      } catch {
        // that interface cannot join (down, no multicast): the others still receive
      }
    }
    this.socket = socket
  }

  private receive(buf: Buffer, from: string, port: number): void {
    const k = datagramKind(buf)
    const d: MulticastDatagram = { from, port, bytes: buf.length, kind: k.kind, at: Date.now() }
    if (k.kind === 'json') {
      d.text = k.text
      d.json = k.json
    }
    this.counts[d.kind]++
    this.counts.bytes += buf.length
    for (const fn of this.handlers) fn(d)
  }

  /** Leaves the group and closes the socket; twice is harmless. */
  async stop(): Promise<void> {
    const s = this.socket
    this.socket = undefined
    if (!s) return
    for (const iface of this.joined.splice(0))
      try {
        s.dropMembership(this.options.group, iface)
      } catch {
        // already gone
      }
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}
