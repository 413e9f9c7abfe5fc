// Frame codec. Layout, all integers big-endian:
//   magic "DL" (2) | version (1) | flags (1) | header length (2) | header JSON |
//   body length (4) | body | CRC-32 of everything before it (4)
// flags bit 0: the body is raw bytes; otherwise it is JSON. Every limit is checked before any
// allocation that depends on it, so a hostile length field cannot make a node allocate.
import { crc32 } from 'node:zlib'
import { FrameDecodeError, FrameTooLargeError } from './errors.js'
import { type Envelope, HeaderSchema, ENVELOPE_VERSION } from './envelope.js'

export const FRAME_MAGIC = 0x444c // "DL"
export const FRAME_VERSION = 1
const FLAG_RAW_BODY = 0x01
const FIXED_BYTES = 2 + 1 + 1 + 2 + 4 + 4

/** Largest frame a decoder accepts and an encoder produces, in bytes. */
export const MAX_FRAME_BYTES = 1024 * 1024
/** Largest JSON header, in bytes. */
export const MAX_HEADER_BYTES = 4096
/** Largest frame that fits one UDP datagram over IPv4. */
export const MAX_DATAGRAM_BYTES = 65_507

export interface CodecLimits {
  maxFrameBytes?: number
}

export function encodeFrame(env: Envelope, limits: CodecLimits = {}): Buffer {
  const maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES
  const { body, ...header } = env
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8')
  if (headerBytes.length > MAX_HEADER_BYTES)
    throw new FrameTooLargeError(
      `frame header is ${headerBytes.length} bytes, the limit is ${MAX_HEADER_BYTES}`,
    )
  const raw = body instanceof Uint8Array
  const bodyBytes = raw ? body : Buffer.from(JSON.stringify(body ?? null), 'utf8')
  const total = FIXED_BYTES + headerBytes.length + bodyBytes.length
  if (total > maxFrameBytes)
    throw new FrameTooLargeError(`frame is ${total} bytes, the limit is ${maxFrameBytes}`)

  const out = Buffer.allocUnsafe(total)
  let o = out.writeUInt16BE(FRAME_MAGIC, 0)
  o = out.writeUInt8(FRAME_VERSION, o)
  o = out.writeUInt8(raw ? FLAG_RAW_BODY : 0, o)
  o = out.writeUInt16BE(headerBytes.length, o)
  o += headerBytes.copy(out, o)
  o = out.writeUInt32BE(bodyBytes.length, o)
  out.set(bodyBytes, o)
  o += bodyBytes.length
  out.writeUInt32BE(crc32(out.subarray(0, o)), o)
  return out
}

export function decodeFrame(buf: Uint8Array, limits: CodecLimits = {}): Envelope {
  const maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length < FIXED_BYTES)
    throw new FrameDecodeError(`frame of ${b.length} bytes is shorter than ${FIXED_BYTES}`, 'too_short')
  if (b.length > maxFrameBytes)
    throw new FrameDecodeError(`frame of ${b.length} bytes exceeds ${maxFrameBytes}`, 'too_large')
  if (b.readUInt16BE(0) !== FRAME_MAGIC)
    throw new FrameDecodeError('frame does not start with the distlab magic', 'bad_magic')
  if (b.readUInt8(2) !== FRAME_VERSION)
    throw new FrameDecodeError(`frame version ${b.readUInt8(2)} is not ${FRAME_VERSION}`, 'bad_version')
  const flags = b.readUInt8(3)
  const headerLength = b.readUInt16BE(4)
  if (headerLength > MAX_HEADER_BYTES || 6 + headerLength + 4 + 4 > b.length)
    throw new FrameDecodeError(`header length ${headerLength} does not fit the frame`, 'too_short')
  const bodyLength = b.readUInt32BE(6 + headerLength)
  if (FIXED_BYTES + headerLength + bodyLength !== b.length)
    throw new FrameDecodeError(`lengths in the frame do not add up to its ${b.length} bytes`, 'too_short')
  const crcAt = b.length - 4
  if (crc32(b.subarray(0, crcAt)) !== b.readUInt32BE(crcAt))
    throw new FrameDecodeError('frame CRC-32 does not match', 'bad_crc')

  let header: unknown
  try {
    header = JSON.parse(b.toString('utf8', 6, 6 + headerLength))
  } catch {
    throw new FrameDecodeError('frame header is not JSON', 'bad_header')
  }
  const parsed = HeaderSchema.safeParse(header)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new FrameDecodeError(
      `frame header field ${issue?.path.join('.') || '?'}: ${issue?.message ?? 'invalid'}`,
      'bad_header',
    )
  }
  const bodyStart = 6 + headerLength + 4
  const bodySlice = b.subarray(bodyStart, bodyStart + bodyLength)
  let body: unknown
  if (flags & FLAG_RAW_BODY) {
    body = Buffer.from(bodySlice) // a copy: the datagram buffer may be reused
  } else {
    try {
      body = JSON.parse(bodySlice.toString('utf8'))
    } catch {
      throw new FrameDecodeError('frame body is not JSON', 'bad_header')
    }
  }
  return { ...parsed.data, v: ENVELOPE_VERSION, body }
}

/**
 * Splits a TCP byte stream into frames: each is a 4-byte big-endian length, then the frame.
 * A length over the limit is a protocol error: the stream cannot be resynchronised, so the
 * caller closes the connection.
 */
export class FrameReader {
  private chunks: Buffer[] = []
  private buffered = 0

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Feed bytes; returns the complete frames (undecoded). Throws FrameDecodeError on a bad length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    const frames: Buffer[] = []
    while (this.buffered >= 4) {
      const head = this.peek(4)
      const length = head.readUInt32BE(0)
      if (length > this.maxFrameBytes)
        throw new FrameDecodeError(`stream frame length ${length} exceeds ${this.maxFrameBytes}`, 'too_large')
      if (this.buffered < 4 + length) break
      const all = this.take(4 + length)
      frames.push(all.subarray(4))
    }
    return frames
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)]
    return this.chunks[0]!.subarray(0, n)
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)]
    const first = this.chunks[0]!
    const out = first.subarray(0, n)
    if (first.length === n) this.chunks.shift()
    else this.chunks[0] = first.subarray(n)
    this.buffered -= n
    return out
  }
}

export function lengthPrefixed(frame: Buffer): Buffer {
  const prefix = Buffer.allocUnsafe(4)
  prefix.writeUInt32BE(frame.length, 0)
  return Buffer.concat([prefix, frame])
}
