// Frame codec. Layout, all integers big-endian:
//   magic "DL" (2) | version (1) | flags (1) | header length (2) | header |
//   body length (4) | body | [auth trailer] | CRC-32 of everything before it (4)
// flags bit 0: the body is raw bytes; otherwise it is JSON.
// flags bit 1: the frame is sealed with the cluster key; the auth trailer is
//   key id length (1) | key id (ASCII) | signing time, ms since the epoch (6) |
//   nonce length (1) | nonce (ASCII) | HMAC-SHA256 (32)
// and the MAC covers every byte before it (src/core/auth.ts).
// flags bit 2: the header is binary, not JSON:
//   id | proto | type | src | dst, each length (1) | ASCII bytes | ts, float64 (8) | [ttl (1)]
// with the JSON header's limits (id 1-64, proto and type 1-32, src and dst 1-128 bytes); ttl is
// there when one byte follows ts. The encoder writes it whenever the header fits (every header
// distlab makes itself) and JSON otherwise; the decoder reads both, so frames of older nodes and
// hand-made JSON headers are still accepted.
// flags bit 3: the body is packed, a binary form of its JSON value (src/core/packed.ts) that
// decodes to what JSON.parse gives for its JSON text. The encoder packs every body that is plain
// data and writes JSON text otherwise; the decoder reads both, and refuses a frame with bits 0
// and 3 both set. Strings keep their bytes, so a capture still shows them; `distlab analyze` and
// contrib/distlab.lua show the body as JSON.
// A receiver with a key checks the MAC over the received bytes before it parses anything, so an
// unauthenticated frame costs it one HMAC and nothing more. Every limit is checked before any
// allocation that depends on it, and JSON nesting is bounded on the raw bytes before JSON.parse, so
// a hostile length field or a body nested thousands deep cannot make a node allocate or recurse.
import { crc32 } from 'node:zlib'
import { timingSafeEqual } from 'node:crypto'
import { FrameDecodeError, FrameTooLargeError } from './errors.js'
import { type Envelope, type Header, HeaderSchema, ENVELOPE_VERSION } from './envelope.js'
import { asciiAt, packValue, unpackValue, view } from './packed.js'

export const FRAME_MAGIC = 0x444c // "DL"
export const FRAME_VERSION = 1
const FLAG_RAW_BODY = 0x01
const FLAG_SEALED = 0x02
const FLAG_BINARY_HEADER = 0x04
const FLAG_PACKED_BODY = 0x08
const FIXED_BYTES = 2 + 1 + 1 + 2 + 4 + 4
/** Bytes of the MAC at the end of a sealed frame's trailer (HMAC-SHA256). */
export const FRAME_MAC_BYTES = 32
const MAX_KEY_ID_BYTES = 16
const MAX_NONCE_BYTES = 32

/** Largest frame a decoder accepts and an encoder produces, in bytes. */
export const MAX_FRAME_BYTES = 1024 * 1024
/** Largest header, in bytes. */
export const MAX_HEADER_BYTES = 4096
/** Largest frame that fits one UDP datagram over IPv4. */
export const MAX_DATAGRAM_BYTES = 65_507
/**
 * Deepest nesting of arrays and objects accepted in a JSON header or body. distlab's own bodies
 * nest 5 deep at most; the bound keeps every recursive walk of a body (JSON.stringify, schemas,
 * telemetry) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64

/** What a sealed frame carries besides the envelope. */
export interface FrameStamp {
  /** Key id (1-16 ASCII characters). */
  keyId: string
  /** Signing time, ms since the epoch. */
  signedAt: number
  /** Unique per sender (8-32 ASCII characters). */
  nonce: string
}

/** Why a node with a key refused a frame; each is a `reason` label on the drop counter. */
export type AuthFailure = 'no_mac' | 'unknown_key' | 'bad_mac' | 'stale' | 'replay'

/**
 * Seals and opens frames for the codec (implemented by FrameGuard in src/core/auth.ts): the codec
 * lays out the bytes, the authenticator holds the keys and the replay window.
 */
export interface FrameAuthenticator {
  /** Key id, signing time and nonce of the next frame sent. */
  stamp(): FrameStamp
  /** HMAC-SHA256 of `signed` under the key `keyId`; undefined when the key is not in the ring. */
  mac(keyId: string, signed: Uint8Array): Buffer | undefined
  /** Called once the MAC checked out: refuses a stale or replayed frame, else records it. */
  admit(src: string, signedAt: number, nonce: string): 'stale' | 'replay' | undefined
}

export interface CodecLimits {
  maxFrameBytes?: number
  /**
   * How the encoder writes the header: `binary` (flags bit 2) when every field fits it, else JSON;
   * `json` always JSON (what nodes before the binary header read). The decoder reads both.
   * @default 'binary'
   */
  header?: 'binary' | 'json'
  /**
   * How the encoder writes a body that is not raw bytes: `packed` (flags bit 3) when it is plain
   * data, else JSON text; `json` always JSON text (what nodes before the packed body read). The
   * decoder reads both.
   * @default 'packed'
   */
  body?: 'packed' | 'json'
  /** Seal on encode; on decode refuse every frame that is not sealed with a key of the ring. */
  auth?: FrameAuthenticator
}

const ASCII_TOKEN = /^[\x21-\x7e]+$/

// The binary header's string fields in order, with their limits in bytes (the JSON header's limits
// in characters, HeaderSchema in envelope.ts: an ASCII character is one byte).
const BIN_ID_MAX = 64
const BIN_PROTO_MAX = 32
const BIN_TYPE_MAX = 32
const BIN_NAME_MAX = 128
// Byte lengths of the five strings of the header being encoded (the encoder is synchronous).
const binLengths = new Int32Array(5)

/**
 * Length of `s` in bytes as a binary header field if it is ASCII (writeAscii finds out), or -1 when
 * it is not a string of 1-`max` characters.
 */
function asciiLength(s: unknown, max: number): number {
  if (typeof s !== 'string' || s.length < 1 || s.length > max) return -1
  return s.length
}

/**
 * Bytes of `env`'s binary header if its strings are ASCII, or -1 when a field does not fit it (the
 * header is sent as JSON).
 */
function binaryHeaderLength(env: Envelope): number {
  const l0 = (binLengths[0] = asciiLength(env.id, BIN_ID_MAX))
  const l1 = (binLengths[1] = asciiLength(env.proto, BIN_PROTO_MAX))
  const l2 = (binLengths[2] = asciiLength(env.type, BIN_TYPE_MAX))
  const l3 = (binLengths[3] = asciiLength(env.src, BIN_NAME_MAX))
  const l4 = (binLengths[4] = asciiLength(env.dst, BIN_NAME_MAX))
  if (l0 < 0 || l1 < 0 || l2 < 0 || l3 < 0 || l4 < 0) return -1
  const ts = env.ts
  if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) return -1
  const ttl = env.ttl
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 255))
    return -1
  return 5 + l0 + l1 + l2 + l3 + l4 + 8 + (ttl === undefined ? 0 : 1)
}

/** Writes `s` behind its length byte; -1 when a character is not ASCII. */
function writeAscii(out: Buffer, o: number, s: string, length: number): number {
  if (o < 0) return o
  out[o++] = length
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) return -1
    out[o++] = c
  }
  return o
}

/** Writes the binary header; -1 when a string is not ASCII (the frame is made again, JSON header). */
function writeBinaryHeader(out: Buffer, o: number, env: Envelope): number {
  o = writeAscii(out, o, env.id, binLengths[0]!)
  o = writeAscii(out, o, env.proto, binLengths[1]!)
  o = writeAscii(out, o, env.type, binLengths[2]!)
  o = writeAscii(out, o, env.src, binLengths[3]!)
  o = writeAscii(out, o, env.dst, binLengths[4]!)
  if (o < 0) return o
  o = out.writeDoubleBE(env.ts, o)
  if (env.ttl !== undefined) out[o++] = env.ttl
  return o
}

function jsonHeader(env: Envelope): Buffer {
  const { body: _body, ...header } = env
  delete (header as { auth?: unknown }).auth // a field of the old format; never sent
  return Buffer.from(JSON.stringify(header), 'utf8')
}

export function encodeFrame(env: Envelope, limits: CodecLimits = {}): Buffer {
  const maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES
  const body = env.body
  const binaryLength = limits.header === 'json' ? -1 : binaryHeaderLength(env)
  const headerJson = binaryLength < 0 ? jsonHeader(env) : undefined
  const headerLength = headerJson ? headerJson.length : binaryLength
  if (headerLength > MAX_HEADER_BYTES)
    throw new FrameTooLargeError(`frame header is ${headerLength} bytes, the limit is ${MAX_HEADER_BYTES}`)
  const raw = body instanceof Uint8Array
  // A packed body is a view of the packer's scratch buffer, copied into the frame below.
  const packed = raw || limits.body === 'json' ? undefined : packValue(body, maxFrameBytes, MAX_JSON_DEPTH)
  // A JSON body is written straight into the frame: no intermediate Buffer.
  const bodyText = raw || packed ? '' : JSON.stringify(body ?? null)
  if (typeof bodyText !== 'string') throw new FrameTooLargeError('the frame body cannot be written as JSON')
  const bodyLength = raw ? body.length : packed ? packed.length : Buffer.byteLength(bodyText, 'utf8')
  const stamp = limits.auth?.stamp()
  let trailerBytes = 0
  if (stamp) {
    if (stamp.keyId.length > MAX_KEY_ID_BYTES || !ASCII_TOKEN.test(stamp.keyId))
      throw new FrameTooLargeError(`key id ${JSON.stringify(stamp.keyId)} cannot be sent`)
    if (stamp.nonce.length > MAX_NONCE_BYTES || !ASCII_TOKEN.test(stamp.nonce))
      throw new FrameTooLargeError(`nonce ${JSON.stringify(stamp.nonce)} cannot be sent`)
    trailerBytes = 1 + stamp.keyId.length + 6 + 1 + stamp.nonce.length + FRAME_MAC_BYTES
  }
  const total = FIXED_BYTES + headerLength + bodyLength + trailerBytes
  if (total > maxFrameBytes)
    throw new FrameTooLargeError(`frame is ${total} bytes, the limit is ${maxFrameBytes}`)

  const out = Buffer.allocUnsafe(total)
  let o = out.writeUInt16BE(FRAME_MAGIC, 0)
  o = out.writeUInt8(FRAME_VERSION, o)
  o = out.writeUInt8(
    (raw ? FLAG_RAW_BODY : 0) |
      (packed ? FLAG_PACKED_BODY : 0) |
      (stamp ? FLAG_SEALED : 0) |
      (headerJson ? 0 : FLAG_BINARY_HEADER),
    o,
  )
  o = out.writeUInt16BE(headerLength, o)
  if (headerJson) o += headerJson.copy(out, o)
  else {
    o = writeBinaryHeader(out, o, env)
    if (o < 0) return encodeFrame(env, { ...limits, header: 'json' })
  }
  o = out.writeUInt32BE(bodyLength, o)
  if (raw) out.set(body, o)
  else if (packed) packed.copy(out, o)
  else out.write(bodyText, o, bodyLength, 'utf8')
  o += bodyLength
  if (stamp && limits.auth) {
    o = out.writeUInt8(stamp.keyId.length, o)
    o += out.write(stamp.keyId, o, 'latin1')
    o = out.writeUIntBE(Math.max(0, Math.floor(stamp.signedAt)), o, 6)
    o = out.writeUInt8(stamp.nonce.length, o)
    o += out.write(stamp.nonce, o, 'latin1')
    const mac = limits.auth.mac(stamp.keyId, out.subarray(0, o))
    if (!mac || mac.length !== FRAME_MAC_BYTES) throw new FrameTooLargeError('the signing key gave no MAC')
    out.set(mac, o)
    o += FRAME_MAC_BYTES
  }
  out.writeUInt32BE(crc32(view(out, 0, o)), o)
  return out
}

/**
 * Deepest nesting of `[`/`{` in JSON text, counted on the bytes (strings skipped) without
 * recursion; stops counting once past `limit`.
 */
export function jsonDepth(b: Uint8Array, start = 0, end = b.length, limit = MAX_JSON_DEPTH): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped byte
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth
        if (max > limit) return max
      }
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return max
}

/**
 * False when JSON text cannot nest deeper than `limit`: it holds no more than `limit` bytes `[`
 * and `{` in all (found by the native byte search, so a typical body costs a few calls). True
 * means the exact count (jsonDepth) must decide.
 */
function mayNestDeeper(text: Buffer, limit: number): boolean {
  let n = 0
  for (let i = text.indexOf(0x7b); i !== -1; i = text.indexOf(0x7b, i + 1)) if (++n > limit) return true
  for (let i = text.indexOf(0x5b); i !== -1; i = text.indexOf(0x5b, i + 1)) if (++n > limit) return true
  return false
}

function parseJson(b: Buffer, start: number, end: number, what: string): unknown {
  const text = b.subarray(start, end)
  if (mayNestDeeper(text, MAX_JSON_DEPTH) && jsonDepth(text) > MAX_JSON_DEPTH)
    throw new FrameDecodeError(`frame ${what} nests deeper than ${MAX_JSON_DEPTH}`, 'too_deep')
  try {
    return JSON.parse(text.toString('utf8'))
  } catch {
    throw new FrameDecodeError(`frame ${what} is not JSON`, 'bad_header')
  }
}

function badHeader(field: string, rule: string): FrameDecodeError {
  return new FrameDecodeError(`frame header field ${field}: ${rule}`, 'bad_header')
}

/**
 * One string of a binary header at `at`: 1-`max` ASCII bytes behind their length byte. All but the
 * id (new in every frame) come from the packed body's table of recent strings.
 */
function readAscii(b: Buffer, at: number, end: number, max: number, field: string, cached = true): string {
  if (at >= end) throw badHeader(field, 'missing')
  const length = b[at]!
  const stop = at + 1 + length
  if (length < 1 || length > max || stop > end) throw badHeader(field, `must be 1-${max} bytes`)
  const s = asciiAt(b, at + 1, length, cached)
  if (s === undefined) throw badHeader(field, 'must be ASCII')
  return s
}

/** The header fields of a binary header (flags bit 2), checked to HeaderSchema's rules. */
function readBinaryHeader(b: Buffer, start: number, end: number): Header {
  let o = start
  const id = readAscii(b, o, end, BIN_ID_MAX, 'id', false)
  o += 1 + id.length
  const proto = readAscii(b, o, end, BIN_PROTO_MAX, 'proto')
  o += 1 + proto.length
  const type = readAscii(b, o, end, BIN_TYPE_MAX, 'type')
  o += 1 + type.length
  const src = readAscii(b, o, end, BIN_NAME_MAX, 'src')
  o += 1 + src.length
  const dst = readAscii(b, o, end, BIN_NAME_MAX, 'dst')
  o += 1 + dst.length
  if (o + 8 > end) throw badHeader('ts', 'missing')
  const ts = b.readDoubleBE(o)
  if (!Number.isFinite(ts) || ts < 0) throw badHeader('ts', 'must be a finite number ≥ 0')
  o += 8
  if (o === end) return { v: ENVELOPE_VERSION, id, proto, type, src, dst, ts }
  if (o + 1 !== end) throw badHeader('ttl', 'the header has bytes after it')
  return { v: ENVELOPE_VERSION, id, proto, type, src, dst, ts, ttl: b[o]! }
}

function readJsonHeader(b: Buffer, start: number, end: number): Header {
  const parsed = HeaderSchema.safeParse(parseJson(b, start, end, 'header'))
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  throw badHeader(issue?.path.join('.') || '?', issue?.message ?? 'invalid')
}

interface Trailer {
  keyId: string
  signedAt: number
  nonce: string
  macAt: number
}

function readTrailer(b: Buffer, at: number, end: number): Trailer | undefined {
  if (at + 1 > end) return undefined
  const keyIdLength = b.readUInt8(at)
  let o = at + 1
  if (keyIdLength < 1 || keyIdLength > MAX_KEY_ID_BYTES || o + keyIdLength + 6 + 1 > end) return undefined
  const keyId = b.toString('latin1', o, o + keyIdLength)
  o += keyIdLength
  const signedAt = b.readUIntBE(o, 6)
  o += 6
  const nonceLength = b.readUInt8(o)
  o += 1
  if (nonceLength < 1 || nonceLength > MAX_NONCE_BYTES || o + nonceLength + FRAME_MAC_BYTES !== end)
    return undefined
  const nonce = b.toString('latin1', o, o + nonceLength)
  o += nonceLength
  return { keyId, signedAt, nonce, macAt: o }
}

export function decodeFrame(buf: Uint8Array, limits: CodecLimits = {}): Envelope {
  const maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES
  const auth = limits.auth
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
  const bodyStart = 6 + headerLength + 4
  const bodyEnd = bodyStart + bodyLength
  const crcAt = b.length - 4
  const sealed = (flags & FLAG_SEALED) !== 0
  if (sealed ? bodyEnd > crcAt : bodyEnd !== crcAt)
    throw new FrameDecodeError(`lengths in the frame do not add up to its ${b.length} bytes`, 'too_short')
  if (crc32(view(b, 0, crcAt)) !== b.readUInt32BE(crcAt))
    throw new FrameDecodeError('frame CRC-32 does not match', 'bad_crc')

  // Authenticate the bytes before any of them is parsed.
  let trailer: Trailer | undefined
  if (sealed) {
    trailer = readTrailer(b, bodyEnd, crcAt)
    if (!trailer) {
      if (auth) throw new FrameDecodeError('frame auth trailer is malformed', 'bad_mac')
      throw new FrameDecodeError(`lengths in the frame do not add up to its ${b.length} bytes`, 'too_short')
    }
  }
  if (auth) {
    if (!trailer) throw new FrameDecodeError('frame carries no MAC', 'no_mac')
    const want = auth.mac(trailer.keyId, b.subarray(0, trailer.macAt))
    if (!want)
      throw new FrameDecodeError(`frame key id ${trailer.keyId} is not in the key ring`, 'unknown_key')
    const given = b.subarray(trailer.macAt, trailer.macAt + FRAME_MAC_BYTES)
    if (want.length !== given.length || !timingSafeEqual(want, given))
      throw new FrameDecodeError('frame MAC does not match', 'bad_mac')
  }

  const header =
    flags & FLAG_BINARY_HEADER
      ? readBinaryHeader(b, 6, 6 + headerLength)
      : readJsonHeader(b, 6, 6 + headerLength)
  if (auth && trailer) {
    const refused = auth.admit(header.src, trailer.signedAt, trailer.nonce)
    if (refused) {
      const err = new FrameDecodeError(`frame from ${header.src} refused: ${refused}`, refused)
      // The MAC checked out, so the header may name its sender in telemetry.
      err.env = { ...header, v: ENVELOPE_VERSION, body: null }
      throw err
    }
  }
  const env = header as Envelope
  env.v = ENVELOPE_VERSION
  if (flags & FLAG_RAW_BODY) {
    if (flags & FLAG_PACKED_BODY)
      throw new FrameDecodeError('frame flags say the body is raw and packed', 'bad_header')
    env.body = Buffer.from(b.subarray(bodyStart, bodyEnd)) // a copy: the datagram buffer may be reused
  } else if (flags & FLAG_PACKED_BODY) env.body = unpackValue(b, bodyStart, bodyEnd, MAX_JSON_DEPTH)
  else env.body = parseJson(b, bodyStart, bodyEnd, 'body')
  return env
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
