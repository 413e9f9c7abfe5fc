// Packet captures: a pcap writer that turns a run's messages into Ethernet/IPv4/UDP or TCP packets
// carrying real distlab frames (so Wireshark, tshark, contrib/distlab.lua and `distlab analyze`
// read them), and a reader for pcap and pcapng files as tcpdump and dumpcap write them.
// Formats: the libpcap file format and pcapng (IETF draft-ietf-opsawg-pcapng); link types from
// tcpdump.org's LINKTYPE list (1 Ethernet, 0 BSD loopback, 101 raw IP, 113 Linux SLL, 276 SLL2).
import { PcapFormatError } from '../core/errors.js'

export { PcapFormatError }

export const LINKTYPE_NULL = 0
export const LINKTYPE_ETHERNET = 1
export const LINKTYPE_RAW = 101
export const LINKTYPE_LINUX_SLL = 113
export const LINKTYPE_LINUX_SLL2 = 276
const PCAP_MAGIC_USEC = 0xa1b2c3d4
const PCAP_MAGIC_NSEC = 0xa1b23c4d
const PCAPNG_SHB = 0x0a0d0d0a
const SNAPLEN = 262_144

// ---- writing ----

/** What a packet written and a packet read both are: a UDP or TCP segment between two IPv4 ends. */
export interface IpSegment {
  /** Milliseconds since the epoch (written with fractions kept to the microsecond). */
  ts: number
  protocol: 'udp' | 'tcp'
  srcIp: string
  dstIp: string
  srcPort: number
  dstPort: number
  payload: Buffer
}

export interface OutPacket extends IpSegment {
  /** TCP only: sequence number of the first payload byte. */
  seq?: number
  ack?: number
}

function ipBytes(ip: string): number[] {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new PcapFormatError(`not an IPv4 address: ${ip}`)
  return parts
}

function macFor(ip: number[]): number[] {
  if (ip[0]! >= 224 && ip[0]! <= 239) return [0x01, 0x00, 0x5e, ip[1]! & 0x7f, ip[2]!, ip[3]!]
  if (ip[3] === 255) return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
  return [0x02, 0x00, ...ip] // locally administered, derived from the address
}

function checksum16(buf: Buffer, initial = 0): number {
  let sum = initial
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i)
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

let ipId = 0

/** One Ethernet frame with an IPv4 header and a UDP or TCP segment around `payload`. */
export function buildPacket(p: OutPacket): Buffer {
  const src = ipBytes(p.srcIp)
  const dst = ipBytes(p.dstIp)
  const l4Len = (p.protocol === 'udp' ? 8 : 20) + p.payload.length
  const ipLen = 20 + l4Len
  if (ipLen > 65_535) throw new PcapFormatError(`packet of ${ipLen} bytes does not fit IPv4`)
  const out = Buffer.alloc(14 + ipLen)
  Buffer.from(macFor(dst)).copy(out, 0)
  Buffer.from(macFor(src)).copy(out, 6)
  out.writeUInt16BE(0x0800, 12)
  const ip = out.subarray(14, 34)
  ip[0] = 0x45
  ip.writeUInt16BE(ipLen, 2)
  ip.writeUInt16BE(ipId++ & 0xffff, 4)
  ip.writeUInt16BE(0x4000, 6) // don't fragment
  ip[8] = dst[0]! >= 224 && dst[0]! <= 239 ? 1 : 64
  ip[9] = p.protocol === 'udp' ? 17 : 6
  Buffer.from(src).copy(ip, 12)
  Buffer.from(dst).copy(ip, 16)
  ip.writeUInt16BE(checksum16(ip), 10)
  const l4 = out.subarray(34)
  l4.writeUInt16BE(p.srcPort, 0)
  l4.writeUInt16BE(p.dstPort, 2)
  if (p.protocol === 'udp') {
    l4.writeUInt16BE(l4Len, 4)
    p.payload.copy(l4, 8)
  } else {
    l4.writeUInt32BE((p.seq ?? 0) >>> 0, 4)
    l4.writeUInt32BE((p.ack ?? 0) >>> 0, 8)
    l4[12] = 5 << 4
    l4[13] = 0x18 // PSH, ACK
    l4.writeUInt16BE(65_535, 14)
    p.payload.copy(l4, 20)
  }
  // Checksum over the IPv4 pseudo-header and the segment.
  let pseudo = 0
  for (let i = 0; i < 4; i += 2) pseudo += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!)
  pseudo += ip[9]! + l4Len
  const sum = checksum16(l4, pseudo)
  l4.writeUInt16BE(p.protocol === 'udp' ? sum || 0xffff : sum, p.protocol === 'udp' ? 6 : 16)
  return out
}

/** Collects packets and returns a classic pcap file (microsecond timestamps, Ethernet). */
export class PcapWriter {
  private readonly parts: Buffer[] = []
  count = 0

  constructor() {
    const h = Buffer.alloc(24)
    h.writeUInt32LE(PCAP_MAGIC_USEC, 0)
    h.writeUInt16LE(2, 4)
    h.writeUInt16LE(4, 6)
    h.writeUInt32LE(SNAPLEN, 16)
    h.writeUInt32LE(LINKTYPE_ETHERNET, 20)
    this.parts.push(h)
  }

  add(p: OutPacket): void {
    const frame = buildPacket(p)
    const rec = Buffer.alloc(16)
    const usec = Math.round(p.ts * 1000)
    rec.writeUInt32LE(Math.floor(usec / 1e6), 0)
    rec.writeUInt32LE(usec % 1e6, 4)
    rec.writeUInt32LE(frame.length, 8)
    rec.writeUInt32LE(frame.length, 12)
    this.parts.push(rec, frame)
    this.count++
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts)
  }
}

// ---- reading ----

export interface CapturedPacket extends IpSegment {
  seq: number
  /** TCP flags byte (SYN 0x02, FIN 0x01, RST 0x04). */
  flags: number
}

export interface ReadResult {
  packets: CapturedPacket[]
  /** Frames that were not IPv4 UDP/TCP (ARP, IPv6, ICMP, fragments...). */
  other: number
  linkType: number
}

/**
 * Reads a pcap or pcapng file's IPv4 UDP and TCP packets. A malformed file (a block cut short, a
 * length that does not add up) is a PcapFormatError naming the offset, never a RangeError.
 */
export function readCapture(buf: Buffer): ReadResult {
  try {
    return readCaptureUnchecked(buf)
  } catch (err) {
    if (err instanceof PcapFormatError) throw err
    // Every read is bounds-checked above; this is the last line of defence for a case missed.
    throw new PcapFormatError(`the capture is malformed (${(err as Error).message})`)
  }
}

/** Smallest total length of each pcapng block type read here, in bytes. */
const PCAPNG_MIN_BLOCK = new Map<number, number>([
  [PCAPNG_SHB, 28],
  [1, 20], // Interface Description Block
  [6, 32], // Enhanced Packet Block
  [3, 16], // Simple Packet Block
])

interface PcapHeader {
  /** Little-endian fields. */
  le: boolean
  /** Record times in nanoseconds (else microseconds). */
  nano: boolean
  linkType: number
}

/** A pcap global header (the first 24 bytes of `buf`); undefined when its magic number is not pcap's. */
function pcapHeader(buf: Buffer): PcapHeader | undefined {
  const magicLE = buf.readUInt32LE(0)
  const magicBE = buf.readUInt32BE(0)
  const le = magicLE === PCAP_MAGIC_USEC || magicLE === PCAP_MAGIC_NSEC
  if (!le && magicBE !== PCAP_MAGIC_USEC && magicBE !== PCAP_MAGIC_NSEC) return undefined
  const linkType = (le ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0x0fffffff
  return { le, nano: (le ? magicLE : magicBE) === PCAP_MAGIC_NSEC, linkType }
}

/** A pcap record's time in ms: its seconds and their fraction (µs or ns, as the header says). */
const recordTimeMs = (sec: number, frac: number, nano: boolean) =>
  sec * 1000 + (nano ? frac / 1e6 : frac / 1e3)

function readCaptureUnchecked(buf: Buffer): ReadResult {
  const magicLE = buf.length >= 4 ? buf.readUInt32LE(0) : 0
  if (buf.length < 24) {
    const magicBE = buf.length >= 4 ? buf.readUInt32BE(0) : 0
    const pcap = [PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC].some((m) => m === magicLE || m === magicBE)
    throw new PcapFormatError(
      pcap
        ? `pcap file header is cut short: ${buf.length} of its 24 bytes are in the file`
        : 'file is too short to be a capture',
    )
  }
  if (magicLE === PCAPNG_SHB) return readPcapng(buf)
  const header = pcapHeader(buf)
  if (!header) throw new PcapFormatError('not a pcap or pcapng file (unknown magic number)')
  const { le, nano, linkType } = header
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))
  const out: ReadResult = { packets: [], other: 0, linkType }
  let o = 24
  // A file cut short (a capture killed mid-write, a partial copy) is an error naming where it
  // ends, never a silent end: what was read would look like a complete run.
  while (o < buf.length) {
    if (o + 16 > buf.length)
      throw new PcapFormatError(
        `pcap packet record at offset ${o} is cut short: ${buf.length - o} bytes, a record header needs 16`,
      )
    const sec = u32(o)
    const frac = u32(o + 4)
    const incl = u32(o + 8)
    if (o + 16 + incl > buf.length)
      throw new PcapFormatError(
        `pcap packet at offset ${o} is cut short: ${buf.length - o - 16} of its ${incl} captured bytes are in the file`,
      )
    o += 16
    decodeLink(buf.subarray(o, o + incl), linkType, recordTimeMs(sec, frac, nano), out)
    o += incl
  }
  return out
}

function readPcapng(buf: Buffer): ReadResult {
  const out: ReadResult = { packets: [], other: 0, linkType: -1 }
  let le = true
  let interfaces: Array<{ linkType: number; tsDivisor: number }> = []
  let o = 0
  while (o < buf.length) {
    if (o + 12 > buf.length)
      throw new PcapFormatError(
        `pcapng block at offset ${o} is cut short: ${buf.length - o} bytes, a block header needs 12`,
      )
    const type = buf.readUInt32LE(o)
    if (type === PCAPNG_SHB) {
      const bom = buf.readUInt32LE(o + 8)
      le = bom === 0x1a2b3c4d
      interfaces = []
    }
    const u32 = (x: number) => (le ? buf.readUInt32LE(x) : buf.readUInt32BE(x))
    const u16 = (x: number) => (le ? buf.readUInt16LE(x) : buf.readUInt16BE(x))
    const len = u32(o + 4)
    const blockType = type === PCAPNG_SHB ? type : u32(o)
    const min = Math.max(12, PCAPNG_MIN_BLOCK.get(blockType) ?? 12)
    if (len < min || len % 4 !== 0)
      throw new PcapFormatError(
        `pcapng block of type ${blockType} at offset ${o} has a bad length ${len} (at least ${min}, a multiple of 4)`,
      )
    if (o + len > buf.length)
      throw new PcapFormatError(
        `pcapng block of type ${blockType} at offset ${o} is cut short: ${buf.length - o} of its ${len} bytes are in the file`,
      )
    if (u32(o + len - 4) !== len)
      throw new PcapFormatError(`pcapng block at offset ${o}: its trailing length does not match ${len}`)
    if (blockType === 1) {
      // Interface Description Block: link type, then options (if_tsresol = 9).
      const linkType = u16(o + 8)
      let tsDivisor = 1e3 // microseconds → ms
      let p = o + 16
      while (p + 4 <= o + len - 4) {
        const code = u16(p)
        const olen = u16(p + 2)
        if (code === 0) break
        if (code === 9 && olen >= 1) {
          const v = buf[p + 4]!
          const unitsPerSecond = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v
          tsDivisor = unitsPerSecond / 1000
        }
        p += 4 + Math.ceil(olen / 4) * 4
      }
      interfaces.push({ linkType, tsDivisor })
      if (out.linkType < 0) out.linkType = linkType
    } else if (blockType === 6) {
      // Enhanced Packet Block.
      const iface = interfaces[u32(o + 8)]
      const ts64 = u32(o + 12) * 2 ** 32 + u32(o + 16)
      const capLen = u32(o + 20)
      if (o + 28 + capLen > o + len - 4)
        throw new PcapFormatError(`pcapng packet at offset ${o} claims ${capLen} bytes in a block of ${len}`)
      if (iface)
        decodeLink(buf.subarray(o + 28, o + 28 + capLen), iface.linkType, ts64 / iface.tsDivisor, out)
    } else if (blockType === 3) {
      // Simple Packet Block: no timestamp.
      const iface = interfaces[0]
      const capLen = Math.max(0, Math.min(u32(o + 8), len - 16))
      if (iface) decodeLink(buf.subarray(o + 12, o + 12 + capLen), iface.linkType, 0, out)
    }
    o += len
  }
  return out
}

function decodeLink(frame: Buffer, linkType: number, ts: number, out: ReadResult): void {
  let off: number
  let etherType: number | undefined
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (frame.length < 14) return void out.other++
      etherType = frame.readUInt16BE(12)
      off = 14
      while ((etherType === 0x8100 || etherType === 0x88a8) && frame.length >= off + 4) {
        etherType = frame.readUInt16BE(off + 2)
        off += 4
      }
      break
    }
    case LINKTYPE_NULL:
      off = 4
      break
    case LINKTYPE_RAW:
    case 12:
      off = 0
      break
    case LINKTYPE_LINUX_SLL:
      if (frame.length < 16) return void out.other++
      etherType = frame.readUInt16BE(14)
      off = 16
      break
    case LINKTYPE_LINUX_SLL2:
      if (frame.length < 20) return void out.other++
      etherType = frame.readUInt16BE(0)
      off = 20
      break
    default:
      throw new PcapFormatError(
        `link type ${linkType} is not supported (Ethernet, loopback, raw IP, Linux SLL)`,
      )
  }
  if (etherType !== undefined && etherType !== 0x0800) return void out.other++
  const ip = frame.subarray(off)
  if (ip.length < 20 || ip[0]! >> 4 !== 4) return void out.other++
  const ihl = (ip[0]! & 0x0f) * 4
  const total = Math.min(ip.readUInt16BE(2), ip.length)
  const fragment = ip.readUInt16BE(6) & 0x3fff
  const proto = ip[9]!
  if (fragment !== 0 || (proto !== 6 && proto !== 17) || total < ihl) return void out.other++
  const srcIp = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`
  const dstIp = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`
  const l4 = ip.subarray(ihl, total)
  if (proto === 17) {
    if (l4.length < 8) return void out.other++
    const len = Math.min(l4.readUInt16BE(4), l4.length)
    out.packets.push({
      ts,
      protocol: 'udp',
      srcIp,
      dstIp,
      srcPort: l4.readUInt16BE(0),
      dstPort: l4.readUInt16BE(2),
      payload: l4.subarray(8, Math.max(8, len)),
      seq: 0,
      flags: 0,
    })
  } else {
    if (l4.length < 20) return void out.other++
    const dataOff = (l4[12]! >> 4) * 4
    out.packets.push({
      ts,
      protocol: 'tcp',
      srcIp,
      dstIp,
      srcPort: l4.readUInt16BE(0),
      dstPort: l4.readUInt16BE(2),
      payload: l4.subarray(Math.min(dataOff, l4.length)),
      seq: l4.readUInt32BE(4),
      flags: l4[13]!,
    })
  }
}

/**
 * A pcap file as it arrives on a pipe (`tcpdump -w -`): the global header, then one record after
 * another, each turned into its IPv4 UDP or TCP packet as soon as it is complete. Holds at most one
 * record's bytes; a record longer than the snap length is a PcapFormatError (the stream is lost).
 */
export class PcapStreamReader {
  private buf: Buffer = Buffer.alloc(0)
  private header?: PcapHeader
  /** Frames that were not IPv4 UDP/TCP. */
  other = 0

  /** Feeds bytes; returns the packets they completed. */
  push(chunk: Buffer): CapturedPacket[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const out: ReadResult = { packets: [], other: 0, linkType: this.header?.linkType ?? -1 }
    if (!this.header) {
      if (this.buf.length < 24) return []
      this.header = pcapHeader(this.buf)
      if (!this.header) throw new PcapFormatError('the capture stream is not pcap (unknown magic number)')
      this.buf = this.buf.subarray(24)
    }
    const { le, nano, linkType } = this.header
    const u32 = (o: number) => (le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o))
    let o = 0
    while (o + 16 <= this.buf.length) {
      const incl = u32(o + 8)
      if (incl > SNAPLEN) throw new PcapFormatError(`pcap record of ${incl} bytes is over the snap length`)
      if (o + 16 + incl > this.buf.length) break
      const ts = recordTimeMs(u32(o), u32(o + 4), nano)
      try {
        decodeLink(this.buf.subarray(o + 16, o + 16 + incl), linkType, ts, out)
      } catch (err) {
        if (err instanceof PcapFormatError) throw err
        out.other++
      }
      o += 16 + incl
    }
    this.buf = this.buf.subarray(o)
    this.other += out.other
    // Packets keep views into the bytes: copy the payloads so the buffer can go.
    return out.packets.map((p) => ({ ...p, payload: Buffer.from(p.payload) }))
  }
}
