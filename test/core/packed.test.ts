// The packed body (frame flags bit 3): what a receiver decodes is exactly what JSON.parse would give
// for the body's JSON text, whatever the sender passed; what it cannot carry goes as JSON text; and
// bytes from the network that are not one packed value are refused with FrameDecodeError before
// they cost more than their own size.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { inspect } from 'node:util'
import { crc32 } from 'node:zlib'
import { packValue, unpackValue, SHAPES } from '../../src/core/packed.js'
import { decodeFrame, encodeFrame, MAX_JSON_DEPTH } from '../../src/core/frame.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { FrameDecodeError } from '../../src/core/errors.js'

const MAX = 1024 * 1024

/** The value a receiver gets for `v`: packed and unpacked. */
function roundTrip(v: unknown): unknown {
  const bytes = packValue(v, MAX, MAX_JSON_DEPTH)
  assert.ok(bytes, `${inspect(v)} has a packed form`)
  return unpackValue(Buffer.from(bytes), 0, bytes.length, MAX_JSON_DEPTH)
}

const viaJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null)) as unknown

function refusal(bytes: number[] | Buffer): string {
  const b = Buffer.from(bytes)
  try {
    unpackValue(b, 0, b.length, MAX_JSON_DEPTH)
  } catch (err) {
    assert.ok(err instanceof FrameDecodeError, `expected FrameDecodeError, got ${String(err)}`)
    return err.reason
  }
  assert.fail(`decoded ${b.toString('hex')}`)
}

describe('packed body', () => {
  test('every value decodes to what JSON.parse gives for its JSON text', () => {
    const withProto = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as unknown
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: [2] })
    const values: unknown[] = [
      null,
      undefined,
      true,
      false,
      0,
      -0,
      1,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      -1,
      1.5,
      Number.MAX_SAFE_INTEGER,
      2 ** 60,
      1e300,
      5e-324,
      NaN,
      Infinity,
      -Infinity,
      '',
      'é',
      'a "quoted"\n\u0000 string',
      '😀 and \u2028',
      'x'.repeat(255),
      'x'.repeat(256),
      'y'.repeat(70_000),
      [],
      {},
      [undefined, () => 1, Symbol('s'), 1],
      { a: undefined, b: () => 1, c: Symbol('s'), d: 1 },
      { 2: 'b', 1: 'a', z: 0, '': 'empty key', ключ: 'non-ASCII key' },
      withProto,
      bare,
      // a shape's keys in another order, and a shape with a member JSON leaves out
      { n: 'node1', s: 'a', u: 'http://x', i: 'id', h: 'h', p: 1, g: 2, c: 3 },
      { seq: 1, u: undefined },
      {
        seq: 4,
        u: [{ s: 'a', n: 'node1', u: 'http://127.0.2.2:5000', i: 'id', h: '127.0.2.2', p: 7000, g: 1, c: 0 }],
      },
      Array.from({ length: 300 }, (_, i) => i * 1000),
    ]
    for (const v of values) assert.deepStrictEqual(roundTrip(v), viaJson(v), inspect(v))
    const back = roundTrip(withProto) as Record<string, unknown>
    assert.deepEqual(
      Object.keys(back),
      ['__proto__', 'a'],
      '"__proto__" is an own member, as JSON.parse makes it',
    )
    assert.equal(Object.getPrototypeOf(back), Object.prototype)
  })

  test('any JSON value, any string, round-trips as through JSON text', () => {
    const anyString = fc.string({ unit: 'binary', maxLength: 40 })
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' }), anyString, (v, s) => {
        const body = { v, s, list: [s, v] }
        const frame = decodeFrame(
          encodeFrame(createEnvelope({ proto: 'p', type: 't', src: 'a', dst: 'b', body })),
        )
        assert.deepStrictEqual(frame.body, viaJson(body))
      }),
      { numRuns: 500 },
    )
  })

  test('each known shape goes as its id and comes back with its keys in order', () => {
    SHAPES.forEach(({ keys }, id) => {
      const obj = Object.fromEntries(keys.map((k, i) => [k, i]))
      const bytes = packValue(obj, MAX, MAX_JSON_DEPTH)!
      assert.deepEqual([bytes[0], bytes[1]], [0x0c, id], `shape ${id} (${keys.join(',')})`)
      const back = unpackValue(Buffer.from(bytes), 0, bytes.length, MAX_JSON_DEPTH) as object
      assert.deepEqual(Object.keys(back), keys)
      assert.deepStrictEqual(back, obj)
    })
  })

  test('strings come back right however many there are (the table of recent strings only saves work)', () => {
    const rand = fc.sample(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 48 }), {
      numRuns: 20_000,
      seed: 17,
    })
    // names that differ in one character in the middle, as a big cluster's addresses do
    const near = Array.from({ length: 5000 }, (_, i) => `http://127.0.${i >> 8}.${i & 255}:5000`)
    for (const list of [rand, near, near, rand]) assert.deepStrictEqual(roundTrip(list), list)
  })

  test('what has no packed form goes as JSON text, and arrives as before', () => {
    class Point {
      constructor(readonly x: number) {}
    }
    const deep: unknown[] = []
    let at = deep
    for (let i = 0; i < MAX_JSON_DEPTH; i++) at.push((at = []))
    const cases: unknown[] = [
      new Date(1_764_900_000_000),
      { bytes: Buffer.from('hi') },
      new Point(3),
      new Map([[1, 2]]),
      { toJSON: () => 'custom' },
      { s: '\ud800 lone surrogate' },
      deep, // one level deeper than the limit: the receiver refuses it as it refused JSON text
    ]
    for (const body of cases) {
      assert.equal(packValue(body, MAX, MAX_JSON_DEPTH), undefined, inspect(body))
      const frame = encodeFrame(createEnvelope({ proto: 'p', type: 't', src: 'a', dst: 'b', body }))
      assert.equal(frame[3]! & 0x08, 0, 'sent as JSON text')
      if (body === deep) assert.throws(() => decodeFrame(frame), { reason: 'too_deep' })
      else assert.deepStrictEqual(decodeFrame(frame).body, viaJson(body))
    }
    const plain = encodeFrame(createEnvelope({ proto: 'p', type: 't', src: 'a', dst: 'b', body: { a: 1 } }))
    assert.equal(plain[3]! & 0x08, 0x08, 'plain data is packed')
    const asked = encodeFrame(createEnvelope({ proto: 'p', type: 't', src: 'a', dst: 'b', body: { a: 1 } }), {
      body: 'json',
    })
    assert.equal(asked[3]! & 0x08, 0, "body: 'json' sends JSON text")
    assert.deepEqual(decodeFrame(asked).body, { a: 1 })
  })

  test('a polluted Object.prototype makes the encoder send JSON text, which ignores inherited members', () => {
    const proto = Object.prototype as Record<string, unknown>
    proto.polluted = 1
    try {
      assert.equal(packValue({ a: 1 }, MAX, MAX_JSON_DEPTH), undefined)
    } finally {
      delete proto.polluted
    }
    assert.ok(packValue({ a: 1 }, MAX, MAX_JSON_DEPTH))
  })

  test('a body over the limit has no packed form', () => {
    assert.equal(packValue('x'.repeat(2000), 1000, MAX_JSON_DEPTH), undefined)
    assert.ok(packValue('x'.repeat(900), 1000, MAX_JSON_DEPTH))
  })

  test('bytes that are not one packed value are refused, never half-read', () => {
    const good = Buffer.from(
      packValue(
        { a: [1, 'two', 3.5, { seq: 1, u: [] }], ü: 'ö', big: 70_000, n: null, t: true },
        MAX,
        MAX_JSON_DEPTH,
      )!,
    )
    for (let cut = 0; cut < good.length; cut++)
      assert.equal(refusal(good.subarray(0, cut)), 'bad_header', `cut at ${cut}`)
    assert.equal(refusal(Buffer.concat([good, Buffer.from([0])])), 'bad_header', 'a byte after the value')
    assert.equal(refusal([0x7f]), 'bad_header', 'an unknown tag')
    assert.equal(refusal([0x0c, SHAPES.length]), 'bad_header', 'an unknown shape')
    assert.equal(refusal([0x07, 2, 0x41, 0xc3]), 'bad_header', 'a byte over 0x7f in an ASCII string')
    const nan = Buffer.alloc(9)
    nan[0] = 0x06
    nan.writeDoubleBE(NaN, 1)
    assert.equal(refusal(nan), 'bad_header', 'a number that is not finite')
    assert.equal(refusal([0x0a, 0xff, 0xff, 0xff, 0xff, 0]), 'bad_header', 'an array count past the body')
    assert.equal(refusal([0x0b, 0xff, 0xff, 0x07, 0]), 'bad_header', 'an object size past the body')
    assert.equal(refusal([0x0b, 0, 1, 0x03, 1, 0x03, 1]), 'bad_header', 'a key that is not a string')
    assert.equal(refusal([0x08, 0xff, 0xff, 0xff, 0xff]), 'bad_header', 'a string length past the body')
    const nest = (n: number) =>
      Buffer.from([
        ...Array<number>(n)
          .fill(0x09)
          .flatMap((t) => [t, 1]),
        0x00,
      ])
    assert.equal(refusal(nest(MAX_JSON_DEPTH + 1)), 'too_deep')
    const ok = nest(MAX_JSON_DEPTH)
    assert.ok(Array.isArray(unpackValue(ok, 0, ok.length, MAX_JSON_DEPTH)))
  })

  test('a frame whose flags say raw and packed is refused', () => {
    const frame = encodeFrame(createEnvelope({ proto: 'p', type: 't', src: 'a', dst: 'b', body: { a: 1 } }))
    frame[3] = frame[3]! | 0x01
    frame.writeUInt32BE(crc32(frame.subarray(0, frame.length - 4)), frame.length - 4)
    assert.throws(() => decodeFrame(frame), { reason: 'bad_header' })
  })
})
