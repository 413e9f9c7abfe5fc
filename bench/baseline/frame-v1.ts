// The frame codec as it was before the binary header (commit 3cc7dd8, src/core/frame.ts): JSON
// header checked by zod, MAC by createHmac per frame. bench/frames.ts runs it beside today's codec
// in the same process, so the speed-up is a ratio measured side by side, not two runs compared.
import { crc32 } from 'node:zlib'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { FrameDecodeError, FrameTooLargeError } from '../../src/core/errors.js'
import { type Envelope, HeaderSchema, ENVELOPE_VERSION } from '../../src/core/envelope.js'
import type { CodecLimits, FrameAuthenticator } from '../../src/core/frame.js'
import type { FrameGuard } from '../../src/core/auth.js'

const FRAME_MAGIC = 0x444c
const FRAME_VERSION = 1
const FRAME_MAC_BYTES = 32
const ASCII_TOKEN = /^[\x21-\x7e]+$/
const FLAG_RAW_BODY = 0x01
const FLAG_SEALED = 0x02
const FIXED_BYTES = 2 + 1 + 1 + 2 + 4 + 4
const MAX_KEY_ID_BYTES = 16
const MAX_NONCE_BYTES = 32

/** Largest frame a decoder accepts and an encoder produces, in bytes. */
const MAX_FRAME_BYTES = 1024 * 1024
/** Largest JSON header, in bytes. */
const MAX_HEADER_BYTES = 4096
/**
 * Deepest nesting of arrays and objects accepted in a JSON header or body. distlab's own bodies
 * nest 5 deep at most; the bound keeps every recursive walk of a body (JSON.stringify, schemas,
 * telemetry) far from the stack limit.
 */
const MAX_JSON_DEPTH = 64

export function encodeFrame(env: Envelope, limits: CodecLimits = {}): Buffer {
  const maxFrameBytes = limits.maxFrameBytes ?? MAX_FRAME_BYTES
  const { body, ...header } = env
  delete (header as { auth?: unknown }).auth // a field of the old format; never sent
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8')
  if (headerBytes.length > MAX_HEADER_BYTES)
    throw new FrameTooLargeError(
      `frame header is ${headerBytes.length} bytes, the limit is ${MAX_HEADER_BYTES}`,
    )
  const raw = body instanceof Uint8Array
  const bodyBytes = raw ? body : Buffer.from(JSON.stringify(body ?? null), 'utf8')
  const stamp = limits.auth?.stamp()
  let trailerBytes = 0
  if (stamp) {
    if (stamp.keyId.length > MAX_KEY_ID_BYTES || !ASCII_TOKEN.test(stamp.keyId))
      throw new FrameTooLargeError(`key id ${JSON.stringify(stamp.keyId)} cannot be sent`)
    if (stamp.nonce.length > MAX_NONCE_BYTES || !ASCII_TOKEN.test(stamp.nonce))
      throw new FrameTooLargeError(`nonce ${JSON.stringify(stamp.nonce)} cannot be sent`)
    trailerBytes = 1 + stamp.keyId.length + 6 + 1 + stamp.nonce.length + FRAME_MAC_BYTES
  }
  const total = FIXED_BYTES + headerBytes.length + bodyBytes.length + trailerBytes
  if (total > maxFrameBytes)
    throw new FrameTooLargeError(`frame is ${total} bytes, the limit is ${maxFrameBytes}`)

  const out = Buffer.allocUnsafe(total)
  let o = out.writeUInt16BE(FRAME_MAGIC, 0)
  o = out.writeUInt8(FRAME_VERSION, o)
  o = out.writeUInt8((raw ? FLAG_RAW_BODY : 0) | (stamp ? FLAG_SEALED : 0), o)
  o = out.writeUInt16BE(headerBytes.length, o)
  o += headerBytes.copy(out, o)
  o = out.writeUInt32BE(bodyBytes.length, o)
  out.set(bodyBytes, o)
  o += bodyBytes.length
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
  out.writeUInt32BE(crc32(out.subarray(0, o)), o)
  return out
}

/**
 * Deepest nesting of `[`/`{` in JSON text, counted on the bytes (strings skipped) without
 * recursion; stops counting once past `limit`.
 */
function jsonDepth(b: Uint8Array, start = 0, end = b.length, limit = MAX_JSON_DEPTH): number {
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

function parseJson(b: Buffer, start: number, end: number, what: string): unknown {
  if (jsonDepth(b, start, end) > MAX_JSON_DEPTH)
    throw new FrameDecodeError(`frame ${what} nests deeper than ${MAX_JSON_DEPTH}`, 'too_deep')
  try {
    return JSON.parse(b.toString('utf8', start, end))
  } catch {
    throw new FrameDecodeError(`frame ${what} is not JSON`, 'bad_header')
  }
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
  if (crc32(b.subarray(0, crcAt)) !== b.readUInt32BE(crcAt))
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

  const header = parseJson(b, 6, 6 + headerLength, 'header')
  const parsed = HeaderSchema.safeParse(header)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new FrameDecodeError(
      `frame header field ${issue?.path.join('.') || '?'}: ${issue?.message ?? 'invalid'}`,
      'bad_header',
    )
  }
  if (auth && trailer) {
    const refused = auth.admit(parsed.data.src, trailer.signedAt, trailer.nonce)
    if (refused) {
      const err = new FrameDecodeError(`frame from ${parsed.data.src} refused: ${refused}`, refused)
      // The MAC checked out, so the header may name its sender in telemetry.
      err.env = { ...parsed.data, v: ENVELOPE_VERSION, body: null }
      throw err
    }
  }
  let body: unknown
  if (flags & FLAG_RAW_BODY) {
    body = Buffer.from(b.subarray(bodyStart, bodyEnd)) // a copy: the datagram buffer may be reused
  } else {
    body = parseJson(b, bodyStart, bodyEnd, 'body')
  }
  return { ...parsed.data, v: ENVELOPE_VERSION, body }
}

const MAC_LABEL = 'distlab-frame-mac-v2\n'

/** The old MAC path: one createHmac per frame; stamps and the replay window are the guard's. */
export function baselineAuth(guard: FrameGuard): FrameAuthenticator {
  return {
    stamp: () => guard.stamp(),
    mac: (keyId, signed) => {
      const key = guard.keyring.key(keyId)
      if (!key) return undefined
      return createHmac('sha256', key.frameKey).update(MAC_LABEL).update(signed).digest()
    },
    admit: (src, signedAt, nonce) => guard.admit(src, signedAt, nonce),
  }
}
