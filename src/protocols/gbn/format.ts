// The course's output lines (DESIGN.md, compatibility row 004), built from events. Pure strings:
// the CLI prints them, tests compare them.
import type { GbnEvent } from './events.js'

const text = new TextDecoder('utf-8')

/** `[1353035731.193]`: Unix time in seconds with milliseconds. */
export function formatTimestamp(ms: number): string {
  return `[${(ms / 1000).toFixed(3)}]`
}

/** A rate in [0, 1] with at most two decimals, as the course prints it (0.25, 0.1, 0). */
export function formatRate(r: number): string {
  return String(Math.round(r * 100) / 100)
}

/** One output line for an event, or undefined for events the course does not print. */
export function formatGbnEvent(e: GbnEvent): string | undefined {
  const ts = formatTimestamp(e.at)
  switch (e.kind) {
    case 'packet-sent':
      return `${ts} packet${e.seq} ${text.decode(e.payload)} sent`
    case 'ack-received':
      return `${ts} ACK${e.ack} received, window moves to ${e.windowBase}`
    case 'ack-discarded':
      return `${ts} ACK${e.ack} discarded`
    case 'timeout':
      return `${ts} packet${e.seq} timeout`
    case 'packet-received':
      return `${ts} packet${e.seq} ${text.decode(e.payload)} received`
    case 'packet-discarded':
      return `${ts} packet${e.seq} ${text.decode(e.payload)} discarded`
    case 'ack-sent':
      return `${ts} ACK${e.ack} sent, expecting packet${e.expecting}`
    case 'summary':
      return `[Summary] ${e.discarded}/${e.total} packets discarded, loss rate = ${formatRate(e.total === 0 ? 0 : e.discarded / e.total)}`
  }
}
