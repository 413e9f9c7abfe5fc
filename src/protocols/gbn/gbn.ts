// Go-Back-N over UDP between two ports, as the course's gbnnode: each endpoint both sends (a
// GbnSender) and receives (a GbnReceiver), and emulates loss on what it receives — data packets
// and ACKs alike. Corrupted or foreign datagrams fail the CRC or the checks and are counted,
// never delivered.
import { checkInteger, checkNumber, checkPort } from '../../core/options.js'
import {
  DEFAULT_SEGMENT_BYTES,
  DEFAULT_WINDOW_PACKETS,
  MAX_PAYLOAD_BYTES,
  MAX_WINDOW_PACKETS,
  RETRANSMIT_TIMEOUT_MS,
} from './constants.js'
import { DatagramEndpoint, type DatagramEndpointComponents } from './endpoint.js'
import type { GbnEvent, GbnTransferSummary } from './events.js'
import { LossEmulator, resolveLossSpec, type LossSpec } from './loss.js'
import { decodePacket } from './wire.js'
import { GbnReceiver } from './receiver.js'
import { GbnSender } from './sender.js'

export interface GoBackNInit {
  /** Local UDP port; 0 lets the OS choose. @default 0 */
  port?: number
  /** The peer's UDP port on the same host. */
  peerPort: number
  /** Window size, in packets. @default 5 */
  window?: number
  /** Retransmission timeout, in milliseconds. @default 500 (the course's) */
  timeoutMs?: number
  /** Payload bytes per packet when send() splits a buffer. @default 1024 */
  segmentBytes?: number
  /** Drop every n-th packet that arrives (the course's `-d n`); 0 = off. @default 0 */
  dropEvery?: number
  /** Drop each arriving packet with this probability (the course's `-p p`); 0 = off. @default 0 */
  dropProbability?: number
  /** Longest message the receiver reassembles, in bytes. @default 64 MiB */
  maxMessageBytes?: number
}

export interface GoBackNOptions {
  readonly port: number
  readonly peerPort: number
  readonly window: number
  readonly timeoutMs: number
  readonly segmentBytes: number
  readonly loss: LossSpec
  readonly maxMessageBytes: number
}

export interface GoBackNComponents extends DatagramEndpointComponents {
  /** Random source in [0, 1) for probabilistic loss. @default Math.random */
  random?: () => number
}

export function resolveGoBackNOptions(init: GoBackNInit): GoBackNOptions {
  return Object.freeze({
    port: checkPort('port', init.port ?? 0),
    peerPort: checkInteger('peerPort', init.peerPort, 1, 65535),
    window: checkInteger('window', init.window ?? DEFAULT_WINDOW_PACKETS, 1, MAX_WINDOW_PACKETS),
    timeoutMs: checkNumber('timeoutMs', init.timeoutMs ?? RETRANSMIT_TIMEOUT_MS, 1),
    segmentBytes: checkInteger(
      'segmentBytes',
      init.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      1,
      MAX_PAYLOAD_BYTES,
    ),
    loss: resolveLossSpec(init.dropEvery, init.dropProbability),
    maxMessageBytes: checkInteger('maxMessageBytes', init.maxMessageBytes ?? 64 * 1024 * 1024, 1),
  })
}

export interface GoBackNStats {
  rejected: number
  rejectedByReason: Record<string, number>
  transmissions: number
  timeouts: number
  dataDiscarded: number
  acksDiscarded: number
  messagesDelivered: number
}

/**
 * One Go-Back-N endpoint. Events: `'data'` (a whole message, as a Buffer), `'event'` (a GbnEvent,
 * one per line of the course's output).
 */
export class GoBackN extends DatagramEndpoint<{ data: [Buffer]; event: [GbnEvent] }> {
  private sender?: GbnSender
  private receiver?: GbnReceiver
  private readonly lossEmulator: LossEmulator
  private dataDiscarded = 0
  private acksDiscarded = 0

  constructor(
    c: GoBackNComponents,
    readonly options: GoBackNOptions,
  ) {
    super(c, 'Go-Back-N endpoint')
    this.lossEmulator = new LossEmulator(options.loss, c.random)
  }

  async start(): Promise<void> {
    if (this.socket) return
    const socket = await this.network.bind(this.options.port)
    const transmit = (bytes: Buffer) => {
      try {
        socket.send(this.options.peerPort, bytes)
      } catch {
        // closed while a timer fired: nothing to do
      }
    }
    const onEvent = (e: GbnEvent) => this.emit('event', e)
    this.sender = new GbnSender({
      window: this.options.window,
      timeoutMs: this.options.timeoutMs,
      clock: this.clock,
      transmit,
      onEvent,
    })
    this.receiver = new GbnReceiver({
      clock: this.clock,
      transmit,
      onEvent,
      onMessage: (m) => this.emit('data', m),
      maxMessageBytes: this.options.maxMessageBytes,
    })
    socket.setHandler((bytes, fromPort) => this.onDatagram(bytes, fromPort))
    this.socket = socket
  }

  async stop(): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    this.sender?.stop()
    if (socket) await socket.close()
  }

  /** Sends a byte buffer reliably, split into packets of `segmentBytes`; resolves when all are acknowledged. */
  send(bytes: Uint8Array): Promise<GbnTransferSummary> {
    const size = this.options.segmentBytes
    const segments: Uint8Array[] = []
    for (let i = 0; i < bytes.length; i += size) segments.push(bytes.subarray(i, i + size))
    return this.sendSegments(segments)
  }

  /** Sends pre-cut packets as one message (gbnnode sends one character per packet). */
  sendSegments(segments: Uint8Array[]): Promise<GbnTransferSummary> {
    if (!this.sender || !this.socket) return Promise.reject(this.notStarted())
    for (const s of segments)
      if (s.length > MAX_PAYLOAD_BYTES)
        return Promise.reject(new RangeError(`segment over ${MAX_PAYLOAD_BYTES} bytes`))
    return this.sender.sendSegments(segments)
  }

  stats(): GoBackNStats {
    return {
      ...this.rejectStats(),
      transmissions: this.sender?.transmissions ?? 0,
      timeouts: this.sender?.timeouts ?? 0,
      dataDiscarded: this.dataDiscarded,
      acksDiscarded: this.acksDiscarded,
      messagesDelivered: this.receiver?.messagesDelivered ?? 0,
    }
  }

  private onDatagram(bytes: Buffer, fromPort: number): void {
    if (fromPort !== this.options.peerPort) {
      this.rejects.add('unknown_peer')
      return
    }
    let p
    try {
      p = decodePacket(bytes)
    } catch (err) {
      this.reject(err, 'bad_header', { bytes: bytes.length })
      return
    }
    if (p.type === 'data') {
      if (this.lossEmulator.shouldDrop()) {
        this.dataDiscarded++
        this.receiver!.dataDiscarded(p)
      } else this.receiver!.handleData(p)
    } else if (p.type === 'ack') {
      if (this.lossEmulator.shouldDrop()) {
        this.acksDiscarded++
        this.sender!.ackDiscarded(p)
      } else this.sender!.handleAck(p)
    } else this.rejects.add('unexpected_type')
  }
}

export function goBackN(init: GoBackNInit): (c?: GoBackNComponents) => GoBackN {
  const options = resolveGoBackNOptions(init)
  return (c = {}) => new GoBackN(c, options)
}
