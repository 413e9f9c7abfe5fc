// The course programs' own packet format (not distlab frames), shared by gbn, dv and cn (the DV
// and COST payloads are in ../dv/wire.ts). All integers big-endian:
//   magic 0x67 (1) | version<<4 | type (1) | flags (1) | reserved (1) | seq (4) | tx (4) | aux (4) |
//   payload length (2) | payload | CRC-32 of everything before it (4)
// DATA: seq = sequence number, tx = transmission number on this link, flags bit 0 = end of message.
// ACK:  seq = next sequence number expected (cumulative), tx = highest tx seen, aux = data
//       transmissions received. DV: seq = round. COST: payload = the new cost (float64).
// Every length is checked before use, so garbage is rejected with a reason and never throws
// anything but FrameDecodeError.
import { crc32 } from 'node:zlib'
import { FrameDecodeError, FrameTooLargeError } from '../../core/errors.js'
import { MAX_PAYLOAD_BYTES } from './constants.js'

export const PACKET_MAGIC = 0x67
export const PACKET_VERSION = 1
export const PACKET_HEADER_BYTES = 18
export const PACKET_OVERHEAD_BYTES = PACKET_HEADER_BYTES + 4

export const PacketType = { data: 1, ack: 2, dv: 3, cost: 4 } as const
export type PacketTypeName = keyof typeof PacketType
const TYPE_NAMES: Record<number, PacketTypeName> = { 1: 'data', 2: 'ack', 3: 'dv', 4: 'cost' }

export const FLAG_END_OF_MESSAGE = 0x01

export interface Packet {
  type: PacketTypeName
  flags: number
  seq: number
  tx: number
  aux: number
  payload: Uint8Array
}

export function encodePacket(p: Partial<Packet> & { type: PacketTypeName }): Buffer {
  const payload = p.payload ?? new Uint8Array(0)
  if (payload.length > MAX_PAYLOAD_BYTES)
    throw new FrameTooLargeError(
      `packet payload is ${payload.length} bytes, the limit is ${MAX_PAYLOAD_BYTES}`,
    )
  const out = Buffer.allocUnsafe(PACKET_OVERHEAD_BYTES + payload.length)
  out[0] = PACKET_MAGIC
  out[1] = (PACKET_VERSION << 4) | PacketType[p.type]
  out[2] = (p.flags ?? 0) & 0xff
  out[3] = 0
  out.writeUInt32BE((p.seq ?? 0) >>> 0, 4)
  out.writeUInt32BE((p.tx ?? 0) >>> 0, 8)
  out.writeUInt32BE((p.aux ?? 0) >>> 0, 12)
  out.writeUInt16BE(payload.length, 16)
  out.set(payload, PACKET_HEADER_BYTES)
  const crcAt = PACKET_HEADER_BYTES + payload.length
  out.writeUInt32BE(crc32(out.subarray(0, crcAt)), crcAt)
  return out
}

/** Decodes one datagram; throws FrameDecodeError (with a `reason`) for anything else. */
export function decodePacket(bytes: Uint8Array): Packet {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (b.length < PACKET_OVERHEAD_BYTES)
    throw new FrameDecodeError(`packet is ${b.length} bytes, shorter than a header`, 'too_short')
  if (b.length > PACKET_OVERHEAD_BYTES + MAX_PAYLOAD_BYTES)
    throw new FrameDecodeError(`packet is ${b.length} bytes, over the limit`, 'too_large')
  if (b[0] !== PACKET_MAGIC) throw new FrameDecodeError('not a distlab course packet', 'bad_magic')
  if (b[1]! >> 4 !== PACKET_VERSION)
    throw new FrameDecodeError(`packet version ${b[1]! >> 4} is not ${PACKET_VERSION}`, 'bad_version')
  const type = TYPE_NAMES[b[1]! & 0x0f]
  if (!type) throw new FrameDecodeError(`unknown packet type ${b[1]! & 0x0f}`, 'bad_header')
  const length = b.readUInt16BE(16)
  if (length !== b.length - PACKET_OVERHEAD_BYTES)
    throw new FrameDecodeError(`payload length ${length} does not match the datagram`, 'bad_header')
  const crcAt = PACKET_HEADER_BYTES + length
  if (crc32(b.subarray(0, crcAt)) !== b.readUInt32BE(crcAt))
    throw new FrameDecodeError('packet CRC-32 does not match', 'bad_crc')
  return {
    type,
    flags: b[2]!,
    seq: b.readUInt32BE(4),
    tx: b.readUInt32BE(8),
    aux: b.readUInt32BE(12),
    payload: b.subarray(PACKET_HEADER_BYTES, crcAt),
  }
}
