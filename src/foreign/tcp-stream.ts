// One direction of a TCP connection a relay (relay.ts) carries, shaped per chunk of the stream by
// the sender's link rule for the receiver: delay with jitter and bandwidth, order kept; loss and
// corruption as TCP lives them, a retransmission timeout added to the segment (the bytes still
// arrive); a partition cuts the connection. Every chunk is decoded (observe.ts) into telemetry.
import type { Socket } from 'node:net'
import { StreamDecoder, type ObservedMessage } from './observe.js'
import type { ForeignLinks } from './links.js'
import { NO_RULE } from '../link/emulator.js'

/** TCP: the retransmission timeout a lost segment waits, ms (Linux's minimum RTO is 200 ms). */
const TCP_RTO_MS = 200
const TCP_MAX_RTO_MS = 3200
/** TCP: bytes held in a relay direction before the sender is paused. */
const TCP_MAX_QUEUED_BYTES = 1024 * 1024

/** What a direction needs of its relay (PortRelay.tcpHooks in relay.ts). */
export interface TcpHooks {
  hub: { readonly links: ForeignLinks; random(): number }
  later(ms: number, fn: () => void): void
  drop(from: string, to: string, reason: string, m: ObservedMessage): void
  delivered(from: string, to: string, m: ObservedMessage, at: number): void
}

/** One direction of a relayed TCP connection: shapes its chunks in order and decodes them. */
export class TcpDirection {
  private releaseAt = 0
  private queued = 0
  private lossStreak = 0
  private readonly decoder = new StreamDecoder()

  constructor(
    h: TcpHooks,
    src: Socket,
    private readonly dst: Socket,
    from: string,
    to: string,
    cutBoth: () => void,
  ) {
    // The stream ends downstream once its last chunk is written, whatever order timers fire in.
    let ended = false
    let finished = false
    const finish = () => {
      if (finished || !ended || this.queued > 0) return
      finished = true
      for (const m of this.decoder.end()) h.delivered(from, to, m, Date.now())
      if (!dst.destroyed) dst.end()
    }
    src.on('data', (chunk: Buffer) => {
      const links = h.hub.links
      const now = Date.now()
      const seen = this.decoder.push(chunk)
      if (links.partitioned(from, to)) {
        h.drop(from, to, 'partition', { proto: 'tcp', type: 'cut', bytes: chunk.length })
        return cutBoth()
      }
      const rule = links.ruleFor(from, to)
      if (rule === NO_RULE && this.queued === 0) {
        this.write(chunk)
        for (const m of seen) h.delivered(from, to, m, now)
        return
      }
      let extra = 0
      // A corrupted segment fails TCP's checksum at b, which drops it as if lost: either way a
      // retransmits it after a timeout, and the bytes arrive intact, later.
      const lost =
        rule.loss > 0 && h.hub.random() < rule.loss
          ? 'loss'
          : rule.corrupt > 0 && h.hub.random() < rule.corrupt
            ? 'corrupt'
            : undefined
      if (lost) {
        // The segment is lost (or fails its checksum) and sent again after a timeout that doubles.
        extra = Math.min(TCP_MAX_RTO_MS, TCP_RTO_MS * 2 ** this.lossStreak)
        this.lossStreak = Math.min(this.lossStreak + 1, 8)
        h.drop(from, to, lost, {
          proto: seen[0]?.proto ?? 'tcp',
          type: 'segment (retransmitted)',
          bytes: chunk.length,
        })
      } else this.lossStreak = 0
      const rate = links.tableOf(from)?.rateDelay(to, now, chunk.length + 40, rule.rateBps) ?? 0
      const delay = rule.delayMs + (rule.jitterMs > 0 ? (h.hub.random() * 2 - 1) * rule.jitterMs : 0)
      // A stream keeps its order: a chunk never leaves before the one ahead of it.
      const at = Math.max(this.releaseAt, now + Math.max(0, delay) + extra + rate)
      this.releaseAt = at
      this.queued += chunk.length
      if (this.queued > TCP_MAX_QUEUED_BYTES) src.pause()
      h.later(at - Date.now(), () => {
        this.queued -= chunk.length
        if (this.queued <= TCP_MAX_QUEUED_BYTES / 2 && src.isPaused()) src.resume()
        this.write(chunk)
        for (const m of seen) h.delivered(from, to, m, now)
        finish()
      })
    })
    src.on('end', () => {
      ended = true
      finish()
    })
  }

  private write(chunk: Buffer): void {
    if (!this.dst.destroyed) this.dst.write(chunk)
  }
}
