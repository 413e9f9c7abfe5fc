// From packets to messages: what `distlab analyze capture.pcap` sees. distlab frames over UDP (one
// per datagram) and TCP (4-byte length prefix, reassembled per flow), and the seeds' own formats:
// plain JSON or binary IP-multicast datagrams (seed 001), HTTP requests to the node API such as
// POST /message (seed 002), and the line server's commands (seed 003). And back: a run's send
// events as packets, for `distlab analyze --pcap`.
import { decodeFrame, encodeFrame, FrameReader, lengthPrefixed } from '../core/frame.js'
import { observeCourse } from './course.js'
import { ENVELOPE_VERSION, BROADCAST_DST, type Envelope } from '../core/envelope.js'
import { loopbackHost, nodeIndex } from '../core/ids.js'
import type { TelemetryEvent } from '../core/telemetry.js'
import type { MemberInfo } from './store.js'
import { PcapWriter, type CapturedPacket, type ReadResult } from './pcap.js'
import { DISTLAB_PORTS, PCAP_FRAME_PORT, PCAP_MAX_IP_PACKET_BYTES } from './constants.js'

export interface WireMessage {
  /** When the packet that completed the message was captured, ms since the epoch. */
  ts: number
  /** For distlab frames: the sender's timestamp in the envelope. */
  sentTs?: number
  proto: string
  type: string
  msgId: string
  /** Node name for frames, `ip:port` otherwise. */
  src: string
  dst: string
  srcAddr: string
  dstAddr: string
  bytes: number
  transport: 'udp' | 'tcp'
}

export interface TrafficStats {
  packets: number
  messages: number
  /** Packets with a payload that no decoder recognised. */
  undecoded: number
  /** Frames that were not IPv4 UDP or TCP. */
  other: number
}

const isMulticast = (ip: string) => {
  const first = Number(ip.split('.')[0])
  return first >= 224 && first <= 239
}

const FRAME_MAGIC_BYTES = Buffer.from('DL')
const LINE_COMMANDS = ['SENDLINE', 'SUBMIT', 'SESSION RESET']
const MAX_STREAM_BUFFER_BYTES = 4 * 1024 * 1024

interface Flow {
  kind: 'frames' | 'http' | 'line' | 'ignore' | 'unknown'
  nextSeq?: number
  reader?: FrameReader
  text: string
  dead: boolean
}

/** Where a message was seen: when its last packet was captured, and the two ends of its flow. */
interface Seen {
  ts: number
  srcAddr: string
  dstAddr: string
}

/** A TCP stream's decoder: takes the flow's next in-order bytes, appends each whole message to `out`. */
type StreamDecoder = (flow: Flow, payload: Buffer, seen: Seen, out: WireMessage[]) => void

/** What a distlab frame says of itself, over UDP or TCP alike. */
const envelopeFields = (env: Envelope) => ({
  sentTs: env.ts,
  proto: env.proto,
  type: env.type,
  msgId: env.id,
  src: env.src,
  dst: env.dst,
})

export function decodeTraffic(read: ReadResult): { messages: WireMessage[]; stats: TrafficStats } {
  const messages: WireMessage[] = []
  const stats: TrafficStats = { packets: read.packets.length, messages: 0, undecoded: 0, other: read.other }
  const flows = new Map<string, Flow>()
  for (const p of read.packets) {
    const srcAddr = `${p.srcIp}:${p.srcPort}`
    const dstAddr = `${p.dstIp}:${p.dstPort}`
    if (p.protocol === 'udp') {
      const m = decodeDatagram(p, { ts: p.ts, srcAddr, dstAddr })
      if (m) messages.push(m)
      else if (p.payload.length > 0) stats.undecoded++
      continue
    }
    const key = `${srcAddr}>${dstAddr}`
    let flow = flows.get(key)
    if (!flow || p.flags & 0x02) {
      flow = { kind: classify(p), text: '', dead: false }
      flows.set(key, flow)
    }
    if (p.flags & 0x02) {
      flow.nextSeq = (p.seq + 1) >>> 0
      continue
    }
    let payload = p.payload
    if (payload.length === 0) continue
    if (flow.nextSeq === undefined) flow.nextSeq = p.seq
    const diff = (p.seq - flow.nextSeq) | 0
    if (diff < 0) {
      payload = payload.subarray(-diff) // a retransmission: keep only the new bytes
      if (payload.length === 0) continue
    } else if (diff > 0) {
      flow.dead = true // bytes missing from the capture: this stream cannot be followed
    }
    flow.nextSeq = (p.seq + Math.max(0, diff) + payload.length + (diff < 0 ? -diff : 0)) >>> 0
    if (flow.kind === 'unknown') flow.kind = sniff(payload)
    if (flow.dead || flow.kind === 'unknown') {
      stats.undecoded++
      continue
    }
    if (flow.kind === 'ignore') continue
    const before = messages.length
    try {
      STREAM_DECODERS[flow.kind](flow, payload, { ts: p.ts, srcAddr, dstAddr }, messages)
    } catch {
      flow.dead = true
    }
    if (flow.dead && messages.length === before) stats.undecoded++
  }
  stats.messages = messages.length
  return { messages, stats }
}

function classify(p: CapturedPacket): Flow['kind'] {
  if (p.dstPort === DISTLAB_PORTS.http) return 'http'
  if (p.srcPort === DISTLAB_PORTS.http) return 'ignore' // responses
  if (p.dstPort === DISTLAB_PORTS.lineServer) return 'line'
  if (p.srcPort === DISTLAB_PORTS.lineServer) return 'ignore'
  if (p.dstPort === DISTLAB_PORTS.frames || p.srcPort === DISTLAB_PORTS.frames) return 'frames'
  return 'unknown'
}

function sniff(payload: Buffer): Flow['kind'] {
  if (payload.length >= 6 && payload.subarray(4, 6).equals(FRAME_MAGIC_BYTES)) return 'frames'
  if (/^(GET|POST|PUT|DELETE|PATCH|HEAD) \//.test(payload.toString('latin1', 0, 8))) return 'http'
  return 'unknown'
}

function decodeDatagram(p: CapturedPacket, seen: Seen): WireMessage | undefined {
  const base = { ...seen, bytes: p.payload.length, transport: 'udp' as const }
  const { srcAddr, dstAddr } = seen
  if (p.payload.length >= 2 && p.payload.subarray(0, 2).equals(FRAME_MAGIC_BYTES)) {
    try {
      return { ...base, ...envelopeFields(decodeFrame(p.payload)) }
    } catch {
      return undefined
    }
  }
  if (p.dstPort === DISTLAB_PORTS.multicast || isMulticast(p.dstIp)) {
    // Seed 001: a JSON document or a binary blob per datagram.
    let type = 'binary'
    try {
      JSON.parse(p.payload.toString('utf8'))
      type = 'json'
    } catch {
      // binary
    }
    return { ...base, proto: 'ip-multicast', type, msgId: '', src: srcAddr, dst: dstAddr }
  }
  const course = observeCourse(p.payload)
  if (course) return { ...base, ...course, msgId: '', src: srcAddr, dst: dstAddr }
  return undefined
}

const decodeFrames: StreamDecoder = (flow, payload, seen, out) => {
  flow.reader ??= new FrameReader()
  for (const frame of flow.reader.push(Buffer.from(payload))) {
    try {
      out.push({ ...seen, ...envelopeFields(decodeFrame(frame)), bytes: frame.length + 4, transport: 'tcp' })
    } catch {
      // one bad frame; the stream itself is still in step
    }
  }
}

/** Appends a text stream's bytes to what the flow holds; a stream that outgrows the bound cannot be followed. */
function followText(flow: Flow, payload: Buffer, tooLarge: string): void {
  flow.text += payload.toString('latin1')
  if (flow.text.length > MAX_STREAM_BUFFER_BYTES) throw new Error(tooLarge)
}

const decodeHttp: StreamDecoder = (flow, payload, seen, out) => {
  followText(flow, payload, 'HTTP request too large to follow')
  for (;;) {
    const end = flow.text.indexOf('\r\n\r\n')
    if (end < 0) return
    const head = flow.text.slice(0, end)
    const [requestLine = '', ...headers] = head.split('\r\n')
    const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine)
    if (!m) throw new Error('not an HTTP request')
    const lengthHeader = headers.find((h) => /^content-length:/i.test(h))
    const bodyLength = lengthHeader ? Number(lengthHeader.split(':')[1]) : 0
    if (!Number.isFinite(bodyLength) || bodyLength < 0) throw new Error('bad content-length')
    if (flow.text.length < end + 4 + bodyLength) return
    const body = flow.text.slice(end + 4, end + 4 + bodyLength)
    flow.text = flow.text.slice(end + 4 + bodyLength)
    const path = m[2]!.split('?')[0]!
    let src = seen.srcAddr
    if (path === '/message') {
      try {
        const parsed = JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as { sender?: unknown }
        if (typeof parsed.sender === 'string') src = parsed.sender
      } catch {
        // not JSON: keep the address
      }
    }
    const type = `${m[1]} ${path}`
    out.push({
      ...seen,
      proto: 'http',
      type,
      msgId: '',
      src,
      dst: seen.dstAddr,
      bytes: end + 4 + bodyLength,
      transport: 'tcp',
    })
  }
}

const decodeLines: StreamDecoder = (flow, payload, seen, out) => {
  followText(flow, payload, 'line too long to follow')
  let i: number
  while ((i = flow.text.indexOf('\n')) >= 0) {
    const line = flow.text.slice(0, i).replace(/\r$/, '')
    flow.text = flow.text.slice(i + 1)
    if (!LINE_COMMANDS.includes(line)) continue // SUBMIT's id, count and lines
    const ends = { src: seen.srcAddr, dst: seen.dstAddr }
    out.push({
      ...seen,
      proto: 'lineserver',
      type: line,
      msgId: '',
      ...ends,
      bytes: line.length + 1,
      transport: 'tcp',
    })
  }
}

const STREAM_DECODERS: Record<'frames' | 'http' | 'line', StreamDecoder> = {
  frames: decodeFrames,
  http: decodeHttp,
  line: decodeLines,
}

/**
 * Each message as a send at its source and a receive at its destination, for the analyzer. A
 * message to `*` or a group is received by the address it went to: a capture cannot tell who took
 * a broadcast datagram off the wire.
 */
export function messagesToEvents(messages: readonly WireMessage[]): TelemetryEvent[] {
  const events: TelemetryEvent[] = []
  messages.forEach((m, i) => {
    const dst = m.dst === BROADCAST_DST || m.dst.startsWith('group:') ? m.dstAddr : m.dst
    const msgId = m.msgId || `capture-${i}`
    const common = {
      proto: m.proto,
      msgId,
      src: m.src,
      dst,
      bytes: m.bytes,
      transport: m.transport,
      type: m.type,
    }
    events.push({ ...common, ts: Math.min(m.sentTs ?? m.ts, m.ts), node: m.src, kind: 'send' })
    events.push({ ...common, ts: m.ts, node: dst, kind: 'recv' })
  })
  return events.sort((a, b) => a.ts - b.ts)
}

// ---- run → pcap ----

function hash(s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

/** Where a node of the run lives: its recorded address, else the local plan's, else a stable made-up one. */
export function addressBook(
  members: readonly MemberInfo[],
): (name: string) => { host: string; port: number } {
  const byName = new Map(members.map((m) => [m.name, m]))
  return (name) => {
    const m = byName.get(name)
    if (m && /^\d+\.\d+\.\d+\.\d+$/.test(m.host))
      return { host: m.host, port: m.framePort || PCAP_FRAME_PORT }
    if (name === BROADCAST_DST) return { host: '127.255.255.255', port: PCAP_FRAME_PORT }
    if (name.startsWith('group:')) {
      const h = hash(name)
      return { host: `239.${(h >>> 16) & 0xff}.${(h >>> 8) & 0xff}.${h & 0xff || 1}`, port: PCAP_FRAME_PORT }
    }
    const i = nodeIndex(name)
    if (i !== undefined && i <= 254 * 250) return { host: loopbackHost(i), port: PCAP_FRAME_PORT }
    const h = hash(name)
    return { host: `127.99.${(h >>> 8) & 0xff}.${h & 0xff || 1}`, port: PCAP_FRAME_PORT }
  }
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s)

/** A frame like the one the event stands for: same header, a raw body padded to the recorded size. */
export function frameFor(e: TelemetryEvent, index: number, maxPayload: number): Buffer {
  const header = {
    v: ENVELOPE_VERSION as typeof ENVELOPE_VERSION,
    id: clip(e.msgId || `${e.node}-${index}`, 64),
    proto: clip(e.proto || 'unknown', 32),
    type: clip(e.type || 'data', 32),
    src: clip(e.src || e.node, 128),
    dst: clip(e.dst || '?', 128),
    ts: Math.max(0, e.ts),
  }
  const prefix = e.transport === 'tcp' ? 4 : 0
  const empty = encodeFrame({ ...header, body: new Uint8Array(0) })
  const want = Math.min(maxPayload - prefix, Math.max(empty.length, e.bytes - prefix))
  const frame = encodeFrame({ ...header, body: new Uint8Array(Math.max(0, want - empty.length)) })
  return prefix ? lengthPrefixed(frame) : frame
}

/** One packet per message a run put on the wire (its `send` events), in time order. */
export function exportPcap(events: Iterable<TelemetryEvent>, members: readonly MemberInfo[]): PcapWriter {
  const where = addressBook(members)
  const writer = new PcapWriter()
  const tcpSeq = new Map<string, number>()
  let i = 0
  for (const e of events) {
    if (e.kind !== 'send') continue
    const src = where(e.node)
    const dst = where(e.dst)
    const ends = { ts: e.ts, srcIp: src.host, dstIp: dst.host, dstPort: dst.port }
    if (e.transport === 'tcp') {
      // A connection from an ephemeral port of the sender to the receiver's frame port.
      const srcPort = 32768 + (hash(`${e.node}>${e.dst}`) % 28000)
      const payload = frameFor(e, i++, PCAP_MAX_IP_PACKET_BYTES - 40)
      const key = `${src.host}:${srcPort}>${dst.host}`
      const seq = tcpSeq.get(key) ?? 1
      tcpSeq.set(key, (seq + payload.length) >>> 0)
      writer.add({ ...ends, protocol: 'tcp', srcPort, payload, seq, ack: 1 })
    } else {
      const payload = frameFor(e, i++, PCAP_MAX_IP_PACKET_BYTES - 28)
      writer.add({ ...ends, protocol: 'udp', srcPort: src.port, payload })
    }
  }
  return writer
}
