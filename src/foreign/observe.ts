// What the relays see, as messages: one direction of a TCP stream is followed incrementally (HTTP
// requests and responses, the line server's commands, distlab frames, else each chunk as `data`),
// and each datagram is told apart (a distlab frame, seed 001's JSON or binary multicast, seed 004's
// gbn/dv packets, else a datagram). The same formats as the capture decoder (src/monitor/traffic.ts) reads from a pcap,
// so a foreign cluster's run reads like distlab's own in `analyze` and the dashboard.
import { decodeFrame, FrameReader } from '../core/frame.js'
import { observeCourse } from '../monitor/course.js'

export interface ObservedMessage {
  proto: string
  type: string
  bytes: number
  /** For distlab frames: the envelope's id. */
  msgId?: string
}

const MAX_HEAD_BYTES = 64 * 1024
const MAX_TRACKED_BODY_BYTES = 64 * 1024 * 1024
const LINE_COMMANDS = new Set(['SENDLINE', 'SUBMIT', 'SESSION RESET'])
const HTTP_REQUEST = /^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) /
const FRAME_MAGIC = Buffer.from('DL')

type StreamKind = 'unknown' | 'http-request' | 'http-response' | 'frames' | 'lines' | 'data'

/** Follows one direction of one TCP connection; every method is bounded and never throws. */
export class StreamDecoder {
  private kind: StreamKind = 'unknown'
  private text = ''
  /** HTTP: bytes of the current body still to come, or -1 for a chunked body. */
  private bodyLeft = 0
  private chunked = false
  private current?: ObservedMessage
  private reader?: FrameReader

  /** Feeds bytes; returns the messages they completed. */
  push(chunk: Buffer): ObservedMessage[] {
    try {
      return this.pushUnsafe(chunk)
    } catch {
      this.kind = 'data' // lost step: count chunks from here on
      this.text = ''
      return [{ proto: 'tcp', type: 'data', bytes: chunk.length }]
    }
  }

  /** The stream ended: a response without a length ends here. */
  end(): ObservedMessage[] {
    if (this.current && (this.kind === 'http-response' || this.kind === 'http-request')) {
      const m = this.current
      this.current = undefined
      return [m]
    }
    return []
  }

  private pushUnsafe(chunk: Buffer): ObservedMessage[] {
    if (this.kind === 'unknown') this.kind = sniff(chunk)
    switch (this.kind) {
      case 'frames':
        return this.frames(chunk)
      case 'http-request':
      case 'http-response':
        return this.http(chunk)
      case 'lines':
        return this.lines(chunk)
      default:
        return [{ proto: 'tcp', type: 'data', bytes: chunk.length }]
    }
  }

  private frames(chunk: Buffer): ObservedMessage[] {
    this.reader ??= new FrameReader()
    const out: ObservedMessage[] = []
    for (const frame of this.reader.push(Buffer.from(chunk))) {
      try {
        const env = decodeFrame(frame)
        out.push({ proto: env.proto, type: env.type, bytes: frame.length + 4, msgId: env.id })
      } catch {
        out.push({ proto: 'frames', type: 'bad_frame', bytes: frame.length + 4 })
      }
    }
    return out
  }

  private lines(chunk: Buffer): ObservedMessage[] {
    this.text += chunk.toString('latin1')
    if (this.text.length > MAX_HEAD_BYTES) throw new Error('line too long')
    const out: ObservedMessage[] = []
    let i: number
    while ((i = this.text.indexOf('\n')) >= 0) {
      const line = this.text.slice(0, i).replace(/\r$/, '')
      this.text = this.text.slice(i + 1)
      if (LINE_COMMANDS.has(line)) out.push({ proto: 'lineserver', type: line, bytes: line.length + 1 })
    }
    return out
  }

  private http(chunk: Buffer): ObservedMessage[] {
    const out: ObservedMessage[] = []
    let data = chunk.toString('latin1')
    while (data.length > 0) {
      if (this.current && (this.bodyLeft > 0 || this.chunked)) {
        if (this.chunked) {
          // A chunked body ends with a zero-length chunk; scanning for it is enough to count messages.
          this.text += data
          this.current.bytes += data.length
          data = ''
          const end = this.text.indexOf('\r\n0\r\n\r\n')
          const startEnd = this.text.startsWith('0\r\n\r\n') ? 0 : -1
          if (end >= 0 || startEnd === 0) {
            const stop = startEnd === 0 ? 5 : end + 7
            data = this.text.slice(stop)
            this.current.bytes -= data.length
            this.text = ''
            this.chunked = false
            out.push(this.current)
            this.current = undefined
          } else if (this.text.length > 16) this.text = this.text.slice(-16)
          continue
        }
        const take = Math.min(this.bodyLeft, data.length)
        this.bodyLeft -= take
        this.current.bytes += take
        data = data.slice(take)
        if (this.bodyLeft === 0) {
          out.push(this.current)
          this.current = undefined
        }
        continue
      }
      if (this.current) {
        // A response with neither length nor chunks: it runs to the end of the stream.
        this.current.bytes += data.length
        return out
      }
      this.text += data
      if (this.text.length > MAX_HEAD_BYTES) throw new Error('HTTP head too large')
      const end = this.text.indexOf('\r\n\r\n')
      if (end < 0) break
      const head = this.text.slice(0, end)
      data = this.text.slice(end + 4)
      this.text = ''
      const [first = '', ...headers] = head.split('\r\n')
      const header = (name: string) =>
        headers
          .find((h) => h.toLowerCase().startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim()
      const req = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(first)
      const res = /^HTTP\/1\.[01] (\d{3})/.exec(first)
      if (!req && !res) throw new Error('not HTTP')
      const type = req ? `${req[1]} ${req[2]!.split('?')[0]!.slice(0, 64)}` : `HTTP ${res![1]}`
      this.current = { proto: 'http', type, bytes: end + 4 }
      const length = Number(header('content-length') ?? NaN)
      this.chunked = /chunked/i.test(header('transfer-encoding') ?? '')
      const noBody = req || (res && (/^(1\d\d|204|304)$/.test(res[1]!) || false))
      if (this.chunked) continue
      if (Number.isInteger(length) && length >= 0 && length <= MAX_TRACKED_BODY_BYTES) {
        this.bodyLeft = length
        if (length === 0) {
          out.push(this.current)
          this.current = undefined
        }
        continue
      }
      if (noBody) {
        out.push(this.current)
        this.current = undefined
      }
      // else: a response that lasts until the connection closes (see end()).
    }
    return out
  }
}

function sniff(chunk: Buffer): StreamKind {
  if (chunk.length >= 6 && chunk.subarray(4, 6).equals(FRAME_MAGIC)) return 'frames'
  const start = chunk.toString('latin1', 0, Math.min(chunk.length, 16))
  if (HTTP_REQUEST.test(start)) return 'http-request'
  if (start.startsWith('HTTP/1.')) return 'http-response'
  if (/^(SENDLINE|SUBMIT|SESSION RESET)\r?\n/.test(start)) return 'lines'
  return 'data'
}

/** Whether `ip` is an IPv4 multicast group (224.0.0.0/4). */
export const isMulticast = (ip: string) => {
  const first = Number(ip.split('.')[0])
  return first >= 224 && first <= 239
}

/**
 * One datagram: a distlab frame, seed 001's JSON or binary group datagram, seed 004's gbn/dv
 * packet (binary course format or a student's JSON), else a datagram.
 */
export function observeDatagram(payload: Buffer, dstIp: string): ObservedMessage {
  if (payload.length >= 2 && payload.subarray(0, 2).equals(FRAME_MAGIC)) {
    try {
      const env = decodeFrame(payload)
      return { proto: env.proto, type: env.type, bytes: payload.length, msgId: env.id }
    } catch {
      // not a frame after all
    }
  }
  if (!isMulticast(dstIp)) {
    const course = observeCourse(payload)
    if (course) return { ...course, bytes: payload.length }
  }
  let json = false
  if (payload.length > 0 && (payload[0] === 0x7b || payload[0] === 0x5b)) {
    try {
      JSON.parse(payload.toString('utf8'))
      json = true
    } catch {
      // binary
    }
  }
  return {
    proto: isMulticast(dstIp) ? 'ip-multicast' : 'udp',
    type: json ? 'json' : isMulticast(dstIp) ? 'binary' : 'datagram',
    bytes: payload.length,
  }
}
