// The ip strategy's socket: one UDP datagram to the subnet's broadcast address reaches every node.
// It is this protocol's own socket, so it applies the cluster key, the link emulator's rule and
// partitions itself, which the node's transports do for every other frame.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { BROADCAST_DST, createEnvelope, type Envelope } from '../../core/envelope.js'
import type { InboundMessage, ProtocolComponents } from '../../core/interfaces.js'
import { decodeFrame, encodeFrame, MAX_DATAGRAM_BYTES } from '../../core/frame.js'
import { FrameDecodeError } from '../../core/errors.js'
import type { Logger } from '../../core/logger.js'
import { guarded } from '../../core/guarded.js'
import * as K from './constants.js'
import type { BroadcastOptions } from './options.js'
import type { Counters, Outbox } from './outbox.js'
import { idOf, type FrameType, type WireItem } from './wire.js'

export interface IpHost {
  readonly name: string
  readonly c: ProtocolComponents
  readonly log: Logger
  readonly counters: Counters
  readonly outbox: Outbox
  options(): BroadcastOptions
  running(): boolean
  drop(env: Envelope, reason: string): void
  onMsg(env: Envelope, msg: InboundMessage): void
}

export class IpSocket {
  private socket?: Socket
  private opening?: Promise<void>

  constructor(private readonly h: IpHost) {}

  get isOpen(): boolean {
    return this.socket !== undefined
  }

  async close(): Promise<void> {
    const opening = this.opening
    this.opening = undefined
    if (opening) await opening
    const s = this.socket
    this.socket = undefined
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  private clusterKey(): string {
    const master = this.h.c.members().find((m) => m.role === 'master')
    return master ? master.host : this.h.c.self.host
  }

  /** Opens the ip socket once; concurrent callers share the attempt. */
  ensure(): Promise<void> {
    if (this.socket || !this.h.running() || this.h.options().ipPort <= 0) return Promise.resolve()
    if (!this.opening)
      this.opening = this.open().finally(() => {
        this.opening = undefined
      })
    return this.opening
  }

  private async open(): Promise<void> {
    const port = this.h.options().ipPort
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    socket.on(
      'message',
      guarded(
        (buf: Buffer, rinfo: RemoteInfo) => this.onDatagram(buf, `${rinfo.address}:${rinfo.port}`),
        () => this.h.counters.dropped++,
      ),
    )
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        // Only where the node listens: its interface's broadcast address, not every interface.
        socket.bind(port, ipBindAddress(this.h.c.self.bindHost), () => resolve())
      })
      socket.setBroadcast(true)
      socket.removeAllListeners('error')
      socket.on('error', (err) => this.h.log.debug(`ip broadcast socket: ${err.message}`))
      if (!this.h.running()) {
        socket.close()
        return
      }
      this.socket = socket
    } catch (err) {
      socket.close()
      this.h.log.warn(`no ip broadcast on UDP port ${port}: ${(err as Error).message}`)
    }
  }

  private address(): string {
    const o = this.h.options()
    if (o.ipAddress) return o.ipAddress
    return subnetBroadcastAddress(this.h.c.self.bindHost) ?? '255.255.255.255'
  }

  send(w: WireItem): void {
    const socket = this.socket
    if (!socket) return
    const env = createEnvelope({
      proto: this.h.name,
      type: 'msg' satisfies FrameType,
      src: this.h.c.self.name,
      dst: BROADCAST_DST,
      body: { m: [w], c: this.clusterKey() },
    })
    let frame: Buffer
    try {
      frame = encodeFrame(env, { maxFrameBytes: MAX_DATAGRAM_BYTES, auth: this.h.c.trust?.frameAuth })
    } catch (err) {
      this.h.log.warn(`ip broadcast not sent: ${(err as Error).message}`)
      return
    }
    const counters = this.h.counters
    counters.framesSent.ip = (counters.framesSent.ip ?? 0) + 1
    this.h.outbox.tally.note('ip', [idOf(w.o, w.q)], true)
    counters.payloadSent++
    counters.ipBytes += frame.length
    this.h.c.record({
      proto: this.h.name,
      kind: 'send',
      msgId: env.id,
      src: this.h.c.self.name,
      dst: BROADCAST_DST,
      bytes: frame.length,
      transport: 'udp',
      type: 'ip',
    })
    socket.send(frame, this.h.options().ipPort, this.address(), (err) => {
      if (err) this.h.log.debug(`ip broadcast failed: ${err.message}`)
    })
  }

  private onDatagram(buf: Buffer, from: string): void {
    if (!this.h.running()) return
    const c = this.h.c
    let env: Envelope
    try {
      // The cluster key covers this socket too: the MAC is checked before anything is parsed.
      env = decodeFrame(buf, { maxFrameBytes: MAX_DATAGRAM_BYTES, auth: c.trust?.frameAuth })
    } catch (err) {
      this.h.counters.dropped++
      c.metrics.inc('distlab_frames_dropped_total', 'Frames dropped, by reason.', {
        proto: this.h.name,
        reason: err instanceof FrameDecodeError ? err.reason : 'bad_header',
        direction: 'in',
        transport: 'udp',
      })
      c.record({
        proto: this.h.name,
        kind: 'drop',
        msgId: '',
        src: from,
        dst: c.self.name,
        bytes: buf.length,
        transport: 'udp',
        reason: err instanceof FrameDecodeError ? err.reason : 'bad_header',
      })
      return
    }
    if (env.src === c.self.name || env.proto !== this.h.name) return
    const body = env.body as { c?: unknown } | null
    if (body?.c !== this.clusterKey() || !c.peers().includes(env.src)) return this.h.drop(env, 'not_for_me')
    // The link emulator does not see this socket: apply this node's rule and partition for the sender.
    if (c.links.partitioned(env.src)) return this.h.drop(env, 'partition')
    const rule = c.links.ruleFor(env.src)
    if (rule.loss > 0 && Math.random() < rule.loss) return this.h.drop(env, 'loss')
    c.record({
      proto: this.h.name,
      kind: 'recv',
      msgId: env.id,
      src: env.src,
      dst: BROADCAST_DST,
      bytes: buf.length,
      transport: 'udp',
      type: 'ip',
    })
    const deliver = () =>
      this.h.onMsg(env, { env, from: { host: from, port: 0 }, bytes: buf.length, transport: 'udp' })
    if (rule.delayMs > 0) c.clock.setTimeout(deliver, rule.delayMs)
    else deliver()
  }
}

/** The IPv4 broadcast address of the subnet `host` is on: 127.255.255.255 on loopback. */
export function subnetBroadcastAddress(host: string): string | undefined {
  if (host.startsWith('127.')) return K.LOOPBACK_BROADCAST_ADDRESS
  if (!isIPv4(host) || host === '0.0.0.0') return undefined
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.address !== host) continue
      const ip = a.address.split('.').map(Number)
      const mask = a.netmask.split('.').map(Number)
      return ip.map((b, i) => (b | (~mask[i]! & 0xff)) & 0xff).join('.')
    }
  return undefined
}

/**
 * Where the ip socket binds: the broadcast address of the node's interface (so it hears the
 * subnet's broadcasts and nothing sent to the machine's other addresses); 0.0.0.0 only for a node
 * told to listen on every interface; the node's own address when no interface holds it.
 */
export function ipBindAddress(bindHost: string): string {
  if (bindHost === '0.0.0.0') return '0.0.0.0'
  return subnetBroadcastAddress(bindHost) ?? bindHost
}
