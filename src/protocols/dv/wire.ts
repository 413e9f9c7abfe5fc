// Payloads of DV and COST packets (the course packet format is in ../gbn/wire.ts):
//   DV:   link cost (float64, NaN = not told) | entry count (u16) | count × (port u16, distance float64)
//   COST: the new cost of the link (float64; Infinity = the link is down)
import { FrameDecodeError } from '../../core/errors.js'
import { MAX_VECTOR_ENTRIES } from './constants.js'

export interface VectorMessage {
  /** The sender's cost for the link this message crosses (cnnode: the measured loss rate), if it says. */
  linkCost?: number
  entries: Array<[port: number, distance: number]>
}

export function encodeVector(m: VectorMessage): Buffer {
  if (m.entries.length > MAX_VECTOR_ENTRIES) throw new RangeError(`over ${MAX_VECTOR_ENTRIES} destinations`)
  const out = Buffer.allocUnsafe(10 + m.entries.length * 10)
  out.writeDoubleBE(m.linkCost ?? Number.NaN, 0)
  out.writeUInt16BE(m.entries.length, 8)
  let o = 10
  for (const [port, d] of m.entries) {
    out.writeUInt16BE(port, o)
    out.writeDoubleBE(d, o + 2)
    o += 10
  }
  return out
}

const validDistance = (d: number) => d >= 0 // rejects NaN and negatives, keeps Infinity

export function decodeVector(b: Uint8Array): VectorMessage {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  if (buf.length < 10) throw new FrameDecodeError('distance vector shorter than its header', 'too_short')
  const count = buf.readUInt16BE(8)
  if (count > MAX_VECTOR_ENTRIES)
    throw new FrameDecodeError(`${count} entries is over the limit`, 'too_large')
  if (buf.length !== 10 + count * 10)
    throw new FrameDecodeError('distance vector length does not match its count', 'bad_header')
  const linkCost = buf.readDoubleBE(0)
  if (!Number.isNaN(linkCost) && !validDistance(linkCost))
    throw new FrameDecodeError('negative link cost', 'bad_header')
  const entries: Array<[number, number]> = []
  for (let o = 10; o < buf.length; o += 10) {
    const port = buf.readUInt16BE(o)
    const d = buf.readDoubleBE(o + 2)
    if (port === 0 || !validDistance(d)) throw new FrameDecodeError('bad distance vector entry', 'bad_header')
    entries.push([port, d])
  }
  return { linkCost: Number.isNaN(linkCost) ? undefined : linkCost, entries }
}

export function encodeCost(cost: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeDoubleBE(cost, 0)
  return out
}

export function decodeCost(b: Uint8Array): number {
  if (b.length !== 8) throw new FrameDecodeError('cost payload must be 8 bytes', 'bad_header')
  const cost = Buffer.from(b.buffer, b.byteOffset, 8).readDoubleBE(0)
  if (!validDistance(cost)) throw new FrameDecodeError('bad link cost', 'bad_header')
  return cost
}
