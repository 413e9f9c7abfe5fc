// An in-memory network for protocol tests: frames are really encoded and decoded, and delivered
// asynchronously, so a protocol cannot tell it apart from UDP except that nothing is lost.
import { encodeFrame, MAX_FRAME_BYTES } from '../core/frame.js'
import { AddressInUseError, NotStartedError, TransportError } from '../core/errors.js'
import type { Envelope } from '../core/envelope.js'
import type { PeerAddress, Transport } from '../core/interfaces.js'
import { FrameTransport } from './base.js'

export class MemoryNetwork {
  private readonly endpoints = new Map<string, MemoryTransport>()
  private nextPort = 40000

  /** @internal */
  bind(t: MemoryTransport, host: string, port: number): PeerAddress {
    const p = port === 0 ? this.nextPort++ : port
    const key = `${host}:${p}`
    if (this.endpoints.has(key)) throw new AddressInUseError(`memory address ${key} is already in use`)
    this.endpoints.set(key, t)
    return { host, port: p }
  }

  /** @internal */
  unbind(addr: PeerAddress): void {
    this.endpoints.delete(`${addr.host}:${addr.port}`)
  }

  /** Put raw bytes on the wire to `to`, as if from `from`; unknown destinations vanish, as with UDP. */
  deliver(from: PeerAddress, to: PeerAddress, bytes: Buffer): void {
    const target = this.endpoints.get(`${to.host}:${to.port}`)
    if (target) setImmediate(() => target.receive(bytes, from))
  }
}

export interface MemoryTransportInit {
  network: MemoryNetwork
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free one. @default 0 */
  port?: number
}

export class MemoryTransport extends FrameTransport implements Transport {
  readonly kind = 'memory' as const
  private bound?: PeerAddress

  constructor(private readonly init: MemoryTransportInit) {
    super()
    if (!init.network) throw new TransportError('a memory transport needs a network')
  }

  async start(): Promise<void> {
    if (!this.bound)
      this.bound = this.init.network.bind(this, this.init.host ?? '127.0.0.1', this.init.port ?? 0)
  }

  address(): PeerAddress {
    if (!this.bound) throw new NotStartedError('memory transport is not started')
    return this.bound
  }

  async send(to: PeerAddress, env: Envelope): Promise<number> {
    if (!this.bound) throw new NotStartedError('memory transport is not started')
    const frame = encodeFrame(env, { auth: this.auth })
    this.init.network.deliver(this.bound, to, frame)
    return frame.length
  }

  /** @internal */
  receive(bytes: Buffer, from: PeerAddress): void {
    if (this.bound) this.receiveFrame(bytes, from, MAX_FRAME_BYTES)
  }

  async stop(): Promise<void> {
    if (this.bound) this.init.network.unbind(this.bound)
    this.bound = undefined
  }
}

export function memoryTransport(init: MemoryTransportInit): MemoryTransport {
  return new MemoryTransport(init)
}
