// The Go-Back-N receiver: accepts only the next expected packet, answers every data packet with a
// cumulative ACK (the next sequence number it expects), and reassembles messages at their
// end-of-message flag. The ACK also reports the highest transmission number seen and how many
// transmissions arrived, so the sender can measure the link's loss rate exactly (cnnode).
import type { Clock } from '../../core/clock.js'
import { encodePacket, FLAG_END_OF_MESSAGE, type Packet } from './wire.js'
import type { GbnEventListener } from './events.js'

export interface GbnReceiverOptions {
  clock: Clock
  transmit: (bytes: Buffer) => void
  onEvent?: GbnEventListener
  onMessage?: (bytes: Buffer) => void
  /** Longest message reassembled, in bytes; a longer one is dropped and counted. */
  maxMessageBytes: number
  /** Keep payloads to rebuild messages; off for probe traffic. @default true */
  reassemble?: boolean
}

export class GbnReceiver {
  /** Next sequence number expected. */
  expected = 0
  /** Data transmissions that arrived (after emulation), and the highest transmission number + 1. */
  received = 0
  txSeen = 0
  messagesDelivered = 0
  oversizeMessages = 0
  private chunks: Uint8Array[] = []
  private chunkBytes = 0
  private arrivedSinceSummary = 0
  private discardedSinceSummary = 0

  constructor(private readonly o: GbnReceiverOptions) {}

  handleData(p: Packet): void {
    const at = this.o.clock.now()
    this.arrivedSinceSummary++
    this.received++
    if (p.tx + 1 > this.txSeen) this.txSeen = p.tx + 1
    const inOrder = p.seq === this.expected
    this.o.onEvent?.({ kind: 'packet-received', at, seq: p.seq, payload: p.payload, inOrder })
    let endOfMessage = false
    if (inOrder) {
      this.expected++
      if (this.o.reassemble === false) {
        // probe traffic: nothing to keep
      } else if (this.chunkBytes + p.payload.length > this.o.maxMessageBytes) {
        this.oversizeMessages++
        this.chunks = []
        this.chunkBytes = 0
      } else {
        this.chunks.push(Buffer.from(p.payload))
        this.chunkBytes += p.payload.length
      }
      endOfMessage = (p.flags & FLAG_END_OF_MESSAGE) !== 0
    }
    if (this.expected > 0) {
      this.o.transmit(
        encodePacket({ type: 'ack', seq: this.expected, tx: this.txSeen - 1, aux: this.received }),
      )
      this.o.onEvent?.({ kind: 'ack-sent', at, ack: this.expected - 1, expecting: this.expected })
    }
    if (endOfMessage) {
      const message = Buffer.concat(this.chunks)
      this.chunks = []
      this.chunkBytes = 0
      this.messagesDelivered++
      this.o.onEvent?.({
        kind: 'summary',
        at,
        role: 'receiver',
        discarded: this.discardedSinceSummary,
        total: this.arrivedSinceSummary,
      })
      this.arrivedSinceSummary = 0
      this.discardedSinceSummary = 0
      this.o.onMessage?.(message)
    }
  }

  /** A data packet arrived and emulation dropped it. */
  dataDiscarded(p: Packet): void {
    this.arrivedSinceSummary++
    this.discardedSinceSummary++
    this.o.onEvent?.({ kind: 'packet-discarded', at: this.o.clock.now(), seq: p.seq, payload: p.payload })
  }
}
