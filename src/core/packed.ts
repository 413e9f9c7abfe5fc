// Packed body (frame flags bit 3): a JSON value in binary, for the frames nodes send most. Decoding
// gives what JSON.parse gives for the JSON text of the value, so protocols see no difference; it is
// cheaper to encode and decode than JSON text (bench/frames.ts) and smaller. Strings keep their
// bytes (ASCII or UTF-8), so a capture or a string match still finds them.
// Every value starts with a tag byte; integers are big-endian:
//   0x00 null | 0x01 false | 0x02 true
//   0x03 integer 0-255 (1) | 0x04 integer 0-65535 (2) | 0x05 integer 0-2^32-1 (4)
//   0x06 float64 (8), finite (any other number)
//   0x07 string of 0-255 ASCII bytes: length (1) | bytes, each ≤ 0x7f
//   0x08 any other string: length (4) | UTF-8 bytes (invalid sequences read as U+FFFD, as JSON
//        text's bytes are)
//   0x09 array: count (1) | values             0x0a array: count (4) | values
//   0x0b object: count (2) | (key, value) pairs, each key a string value (tag 0x07 or 0x08)
//   0x0c object of a known shape: shape id (1) | its values, in the shape's key order
// The body is exactly one value; arrays and objects nest at most MAX_JSON_DEPTH (64) deep, the
// outermost counting 1. The known shapes (SHAPES below) are the bodies distlab's protocols send
// most; the table is part of the format: a node refuses a shape id it does not know, so adding one
// is a wire change like any other (ids are only appended). An object whose keys are not exactly a
// shape's, in order, is written as 0x0b.
// The encoder writes this form only for plain data (null, booleans, numbers, strings, arrays, plain
// objects; an object's undefined members and an array's undefined items as JSON.stringify treats
// them); anything else (a Date, a Buffer, a toJSON method, a lone surrogate, nesting deeper than
// MAX_JSON_DEPTH) makes it give up, and the caller sends JSON text. The decoder checks every length
// against the bytes left before it allocates, bounds the nesting, and refuses a non-finite float,
// an unknown tag or shape, and trailing bytes (FrameDecodeError).
import { FrameDecodeError } from './errors.js'

export const TAG_NULL = 0x00
const TAG_FALSE = 0x01
const TAG_TRUE = 0x02
const TAG_U8 = 0x03
const TAG_U16 = 0x04
const TAG_U32 = 0x05
const TAG_F64 = 0x06
const TAG_ASCII = 0x07
const TAG_UTF8 = 0x08
const TAG_ARRAY8 = 0x09
const TAG_ARRAY32 = 0x0a
const TAG_OBJECT = 0x0b
const TAG_SHAPED = 0x0c

const MAX_OBJECT_KEYS = 0xffff
const MAX_ASCII_INLINE = 255

interface Shape {
  keys: readonly string[]
  /** The object with the next values read in key order (a literal, so every one has one hidden class). */
  make: (r: Reader, depth: number) => Record<string, unknown>
}

/** Known shapes, by id (the index). Append only: ids are on the wire. */
export const SHAPES: readonly Shape[] = [
  // membership (src/protocols/membership/wire.ts): ping and ack, a member, a suspected member, a
  // message, ping-req and its target, gossip, a ping without updates
  { keys: ['seq', 'u'], make: (r, d) => ({ seq: r.value(d), u: r.value(d) }) },
  {
    keys: ['s', 'n', 'u', 'i', 'h', 'p', 'g', 'c'],
    make: (r, d) => ({
      s: r.value(d),
      n: r.value(d),
      u: r.value(d),
      i: r.value(d),
      h: r.value(d),
      p: r.value(d),
      g: r.value(d),
      c: r.value(d),
    }),
  },
  {
    keys: ['s', 'n', 'u', 'i', 'h', 'p', 'g', 'c', 'f'],
    make: (r, d) => ({
      s: r.value(d),
      n: r.value(d),
      u: r.value(d),
      i: r.value(d),
      h: r.value(d),
      p: r.value(d),
      g: r.value(d),
      c: r.value(d),
      f: r.value(d),
    }),
  },
  {
    keys: ['s', 'm', 'f', 't'],
    make: (r, d) => ({ s: r.value(d), m: r.value(d), f: r.value(d), t: r.value(d) }),
  },
  { keys: ['seq', 't', 'u'], make: (r, d) => ({ seq: r.value(d), t: r.value(d), u: r.value(d) }) },
  { keys: ['n', 'h', 'p'], make: (r, d) => ({ n: r.value(d), h: r.value(d), p: r.value(d) }) },
  { keys: ['u'], make: (r, d) => ({ u: r.value(d) }) },
  { keys: ['seq'], make: (r, d) => ({ seq: r.value(d) }) },
  // unicast (src/protocols/unicast/wire.ts): data, ack, skip
  {
    keys: ['s', 'q', 'b', 'm'],
    make: (r, d) => ({ s: r.value(d), q: r.value(d), b: r.value(d), m: r.value(d) }),
  },
  { keys: ['s', 'q', 'c'], make: (r, d) => ({ s: r.value(d), q: r.value(d), c: r.value(d) }) },
  { keys: ['s', 'b'], make: (r, d) => ({ s: r.value(d), b: r.value(d) }) },
  // broadcast (src/protocols/broadcast/wire.ts): msg, an item, ihave, graft
  { keys: ['m'], make: (r, d) => ({ m: r.value(d) }) },
  {
    keys: ['o', 'q', 'v', 's', 't', 'h'],
    make: (r, d) => ({
      o: r.value(d),
      q: r.value(d),
      v: r.value(d),
      s: r.value(d),
      t: r.value(d),
      h: r.value(d),
    }),
  },
  { keys: ['i', 'h'], make: (r, d) => ({ i: r.value(d), h: r.value(d) }) },
  { keys: ['i'], make: (r, d) => ({ i: r.value(d) }) },
]

type Candidates = Array<{ id: number; keys: readonly string[] }>
/** Shapes by their first key, for the encoder; the last lookup is kept (bodies repeat a shape). */
const SHAPES_BY_FIRST = new Map<string, Candidates>()
let lastFirst: string | undefined
let lastCandidates: Candidates | undefined
SHAPES.forEach(({ keys }, id) => {
  const list = SHAPES_BY_FIRST.get(keys[0]!) ?? []
  list.push({ id, keys })
  SHAPES_BY_FIRST.set(keys[0]!, list)
})

/** Whether `obj`'s members are exactly `keys`, in order, none of them left out by JSON. */
function fits(obj: Record<string, unknown>, keys: readonly string[]): boolean {
  let i = 0
  for (const key in obj) {
    if (i >= keys.length || key !== keys[i] || skipped(obj[key])) return false
    i++
  }
  return i === keys.length
}

const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol'

/** Thrown inside the encoder when a value has no packed form; the caller falls back to JSON. */
const GIVE_UP = Symbol('packed: give up')

// The encoder writes into one scratch buffer that grows (to `limit`) and is reused: encoding is
// synchronous, and the caller copies the bytes into the frame.
let scratch = Buffer.allocUnsafe(4096)
let limit = 0
/** The bytes the encoder may write without a look at `limit` or a new buffer: min(scratch, limit). */
let capacity = 0

function room(o: number, n: number): void {
  if (o + n <= capacity) return
  if (o + n > limit) throw GIVE_UP
  let size = scratch.length * 2
  while (size < o + n) size *= 2
  const grown = Buffer.allocUnsafe(Math.min(size, limit))
  scratch.copy(grown, 0, 0, o)
  scratch = grown
  capacity = Math.min(scratch.length, limit)
}

function writeString(s: string, o: number): number {
  const n = s.length
  if (n <= MAX_ASCII_INLINE) {
    room(o, 2 + n)
    const out = scratch
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) break
      out[o + 2 + i] = c
    }
    if (i === n) {
      out[o] = TAG_ASCII
      out[o + 1] = n
      return o + 2 + n
    }
  }
  if (!(s as WellFormed).isWellFormed()) throw GIVE_UP // a lone surrogate: UTF-8 cannot carry it, JSON text can
  const bytes = Buffer.byteLength(s, 'utf8')
  room(o, 5 + bytes)
  scratch[o] = TAG_UTF8
  scratch.writeUInt32BE(bytes, o + 1)
  scratch.write(s, o + 5, bytes, 'utf8')
  return o + 5 + bytes
}

function writeNumber(v: number, o: number): number {
  room(o, 9)
  const out = scratch
  if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
    if (v <= 0xff) {
      out[o] = TAG_U8
      out[o + 1] = v
      return o + 2
    }
    if (v <= 0xffff) {
      out[o] = TAG_U16
      out[o + 1] = v >>> 8
      out[o + 2] = v & 0xff
      return o + 3
    }
    out[o] = TAG_U32
    out.writeUInt32BE(v, o + 1)
    return o + 5
  }
  if (!Number.isFinite(v)) {
    out[o] = TAG_NULL // as JSON.stringify writes NaN and the infinities
    return o + 1
  }
  out[o] = TAG_F64
  out.writeDoubleBE(v, o + 1)
  return o + 9
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown
  return (
    (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function'
  )
}

function writeValue(v: unknown, o: number, depth: number): number {
  switch (typeof v) {
    case 'string':
      return writeString(v, o)
    case 'number':
      return writeNumber(v, o)
    case 'boolean':
      room(o, 1)
      scratch[o] = v ? TAG_TRUE : TAG_FALSE
      return o + 1
    case 'object':
      if (v === null) {
        room(o, 1)
        scratch[o] = TAG_NULL
        return o + 1
      }
      if (depth >= maxDepth) throw GIVE_UP
      if (Array.isArray(v)) return writeArray(v, o, depth + 1)
      if (!isPlainObject(v)) throw GIVE_UP
      return writeObject(v as Record<string, unknown>, o, depth + 1)
    default:
      throw GIVE_UP // undefined, a function, a symbol or a bigint where a value must be
  }
}

function writeArray(a: unknown[], o: number, depth: number): number {
  if (typeof (a as { toJSON?: unknown }).toJSON === 'function') throw GIVE_UP
  const n = a.length
  room(o, 5)
  if (n <= 0xff) {
    scratch[o] = TAG_ARRAY8
    scratch[o + 1] = n
    o += 2
  } else {
    scratch[o] = TAG_ARRAY32
    scratch.writeUInt32BE(n, o + 1)
    o += 5
  }
  for (let i = 0; i < n; i++) {
    const item = a[i]
    if (skipped(item)) {
      room(o, 1)
      scratch[o++] = TAG_NULL // as JSON.stringify writes them in an array
    } else o = writeValue(item, o, depth)
  }
  return o
}

// Objects are walked with for...in, which V8 serves from the object's enum cache: packValue gives up
// when Object.prototype has an enumerable member, so for...in sees own members only, in
// JSON.stringify's order.
function writeObject(obj: Record<string, unknown>, o: number, depth: number): number {
  let first: string | undefined
  for (const key in obj) {
    first = key
    break
  }
  let candidates: Candidates | undefined
  if (first === lastFirst) candidates = lastCandidates
  else if (first !== undefined) {
    candidates = SHAPES_BY_FIRST.get(first)
    lastFirst = first
    lastCandidates = candidates
  }
  if (candidates)
    for (const c of candidates)
      if (fits(obj, c.keys)) {
        room(o, 2)
        scratch[o] = TAG_SHAPED
        scratch[o + 1] = c.id
        o += 2
        for (const key in obj) o = writeValue(obj[key], o, depth)
        return o
      }
  room(o, 3)
  const countAt = o + 1
  scratch[o] = TAG_OBJECT
  o += 3
  let count = 0
  for (const key in obj) {
    const item = obj[key]
    if (skipped(item)) continue // JSON.stringify leaves such members out
    if (++count > MAX_OBJECT_KEYS) throw GIVE_UP
    o = writeString(key, o)
    o = writeValue(item, o, depth)
  }
  scratch[countAt] = count >>> 8
  scratch[countAt + 1] = count & 0xff
  return o
}

let maxDepth = 0
/** String.prototype.isWellFormed (Node 20; ES2024, past this project's lib). */
type WellFormed = string & { isWellFormed(): boolean }

/**
 * The packed bytes of `value`, or undefined when it has no packed form or they would exceed
 * `maxBytes` (the caller sends JSON text). The bytes are a view of a buffer that the next call
 * overwrites: copy them before encoding again.
 */
export function packValue(value: unknown, maxBytes: number, depthLimit: number): Buffer | undefined {
  limit = maxBytes
  capacity = Math.min(scratch.length, limit)
  maxDepth = depthLimit
  for (const _ in Object.prototype) return undefined // polluted: for...in would see its members
  try {
    const end = writeValue(value ?? null, 0, 0)
    return scratch.subarray(0, end)
  } catch (err) {
    if (err === GIVE_UP) return undefined
    throw err
  }
}

// ---- decoding ----

// Short ASCII strings repeat from frame to frame (keys, names, addresses, ids): a direct-mapped
// table of the strings last decoded, found by a hash of their bytes and confirmed byte by byte,
// gives them back without allocating. Its size is fixed, so hostile input can only evict entries.
const CACHE_SLOTS = 4096
const CACHE_MAX_CHARS = 48
const cache: string[] = new Array<string>(CACHE_SLOTS).fill('')
const cacheBytes = new Uint8Array(CACHE_SLOTS * CACHE_MAX_CHARS)

/**
 * The ASCII string of the `n` bytes of `b` at `at`, from the table when it was decoded lately (not
 * when `cached` is false: a string new in every frame would only evict others); undefined when a
 * byte is over 0x7f. The caller has checked that the bytes are there.
 */
export function asciiAt(b: Buffer, at: number, n: number, cached = true): string | undefined {
  if (n === 0) return ''
  if (cached && n <= CACHE_MAX_CHARS) {
    // the slot: a hash of the length and five of the bytes; the compare decides
    const end = at + n - 1
    const h =
      Math.imul(n ^ (b[at]! << 8) ^ (b[end]! << 16) ^ (b[at + ((3 * n) >> 2)]! << 24), 0x9e3779b1) ^
      Math.imul(b[at + (n >> 1)]! ^ (b[at + (n >> 2)]! << 8) ^ (b[end - (n >> 3)]! << 16), 0x85ebca6b)
    const slot = (h ^ (h >>> 15)) & (CACHE_SLOTS - 1)
    const known = cache[slot]!
    if (known.length === n) {
      // compared byte to byte with the copy kept beside it (cheaper than charCodeAt)
      const base = slot * CACHE_MAX_CHARS
      let i = 0
      while (i < n && cacheBytes[base + i] === b[at + i]) i++
      if (i === n) return known // equal to an ASCII string, so ASCII
    }
    const s = ascii(b, at, n)
    if (s !== undefined) {
      cache[slot] = s
      cacheBytes.set(view(b, at, at + n), slot * CACHE_MAX_CHARS)
    }
    return s
  }
  return ascii(b, at, n)
}

/** Bytes `start` to `end` of `b` as a plain Uint8Array (cheaper to make than Buffer#subarray). */
export const view = (b: Buffer, start: number, end: number) =>
  new Uint8Array(b.buffer, b.byteOffset + start, end - start)

function ascii(b: Buffer, at: number, n: number): string | undefined {
  for (let i = at; i < at + n; i++) if (b[i]! > 0x7f) return undefined
  return b.toString('latin1', at, at + n)
}

function bad(what: string): FrameDecodeError {
  return new FrameDecodeError(`frame body (packed): ${what}`, 'bad_header')
}

class Reader {
  o: number
  constructor(
    readonly b: Buffer,
    start: number,
    readonly end: number,
    readonly maxDepth: number,
  ) {
    this.o = start
  }

  need(n: number, what: string): void {
    if (this.o + n > this.end) throw bad(`${what} runs past the body`)
  }

  ascii(n: number): string {
    this.need(n, 'a string')
    const at = this.o
    this.o = at + n
    const s = asciiAt(this.b, at, n)
    if (s === undefined) throw bad('an ASCII string has a byte over 0x7f')
    return s
  }

  string(tag: number): string {
    const b = this.b
    if (tag === TAG_ASCII) {
      this.need(1, 'a string length')
      return this.ascii(b[this.o++]!)
    }
    this.need(4, 'a string length')
    const n = b.readUInt32BE(this.o)
    this.o += 4
    this.need(n, 'a string')
    const s = b.toString('utf8', this.o, this.o + n)
    this.o += n
    return s
  }

  value(depth: number): unknown {
    this.need(1, 'a value')
    const b = this.b
    const tag = b[this.o++]!
    switch (tag) {
      case TAG_NULL:
        return null
      case TAG_FALSE:
        return false
      case TAG_TRUE:
        return true
      case TAG_U8:
        this.need(1, 'an integer')
        return b[this.o++]!
      case TAG_U16: {
        this.need(2, 'an integer')
        const v = (b[this.o]! << 8) | b[this.o + 1]!
        this.o += 2
        return v
      }
      case TAG_U32: {
        this.need(4, 'an integer')
        const v = b.readUInt32BE(this.o)
        this.o += 4
        return v
      }
      case TAG_F64: {
        this.need(8, 'a number')
        const v = b.readDoubleBE(this.o)
        this.o += 8
        if (!Number.isFinite(v)) throw bad('a number is not finite')
        return v
      }
      case TAG_ASCII:
      case TAG_UTF8:
        return this.string(tag)
      case TAG_ARRAY8:
      case TAG_ARRAY32:
      case TAG_OBJECT:
      case TAG_SHAPED:
        if (depth >= this.maxDepth)
          throw new FrameDecodeError(`frame body nests deeper than ${this.maxDepth}`, 'too_deep')
        if (tag === TAG_OBJECT) return this.object(depth + 1)
        if (tag === TAG_SHAPED) return this.shaped(depth + 1)
        return this.array(tag, depth + 1)
      default:
        throw bad(`unknown tag 0x${tag.toString(16)}`)
    }
  }

  array(tag: number, depth: number): unknown[] {
    const b = this.b
    let n: number
    if (tag === TAG_ARRAY8) {
      this.need(1, 'an array length')
      n = b[this.o++]!
    } else {
      this.need(4, 'an array length')
      n = b.readUInt32BE(this.o)
      this.o += 4
    }
    // every item takes at least one byte, so no count allocates more than the body's size
    if (n > this.end - this.o) throw bad(`an array of ${n} items runs past the body`)
    const a: unknown[] = []
    for (let i = 0; i < n; i++) a.push(this.value(depth))
    return a
  }

  shaped(depth: number): Record<string, unknown> {
    this.need(1, 'a shape')
    const shape = SHAPES[this.b[this.o++]!]
    if (!shape) throw bad(`unknown shape ${this.b[this.o - 1]!}`)
    return shape.make(this, depth)
  }

  object(depth: number): Record<string, unknown> {
    const b = this.b
    this.need(2, 'an object size')
    const n = (b[this.o]! << 8) | b[this.o + 1]!
    this.o += 2
    if (n * 3 > this.end - this.o) throw bad(`an object of ${n} members runs past the body`)
    const obj: Record<string, unknown> = {}
    for (let i = 0; i < n; i++) {
      this.need(1, 'a key')
      const tag = b[this.o++]!
      if (tag !== TAG_ASCII && tag !== TAG_UTF8) throw bad('a key is not a string')
      const key = this.string(tag)
      const v = this.value(depth)
      // JSON.parse makes "__proto__" an own member; an assignment would set the prototype
      if (key === '__proto__')
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true })
      else obj[key] = v
    }
    return obj
  }
}

/** The value of the packed bytes `b[start, end)`; FrameDecodeError when they are not one packed value. */
export function unpackValue(b: Buffer, start: number, end: number, maxDepth: number): unknown {
  const r = new Reader(b, start, end, maxDepth)
  const v = r.value(0)
  if (r.o !== end) throw bad(`${end - r.o} bytes after the value`)
  return v
}
