import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { crc32 } from 'node:zlib'
import {
  encodeFrame,
  decodeFrame,
  FrameReader,
  lengthPrefixed,
  MAX_HEADER_BYTES,
} from '../../src/core/frame.js'
import { createEnvelope, type Envelope } from '../../src/core/envelope.js'
import { FrameDecodeError } from '../../src/core/errors.js'

const env = (body: unknown = { hello: 'world', n: 1 }): Envelope =>
  createEnvelope({ proto: 'unicast', type: 'data', src: 'node1', dst: 'node2', body, ttl: 3 })

function decodeFailure(buf: Buffer): string {
  try {
    decodeFrame(buf)
  } catch (err) {
    assert.ok(err instanceof FrameDecodeError, `expected FrameDecodeError, got ${String(err)}`)
    assert.equal(err.code, 'ERR_FRAME_DECODE')
    return err.reason
  }
  assert.fail('decoded a frame that should have been rejected')
}

/** Rewrites the trailing CRC so that a deliberately altered frame passes the checksum. */
function fixCrc(buf: Buffer): Buffer {
  buf.writeUInt32BE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4)
  return buf
}

describe('frame codec', () => {
  test('a JSON envelope survives encode and decode unchanged', () => {
    const e = env()
    assert.deepEqual(decodeFrame(encodeFrame(e)), e)
  })

  test('a raw body comes back as the same bytes', () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254])
    const d = decodeFrame(encodeFrame(env(bytes)))
    assert.ok(Buffer.isBuffer(d.body))
    assert.deepEqual([...(d.body as Buffer)], [0, 1, 2, 255, 254])
  })

  test('every kind of damage is rejected with its own reason', () => {
    const good = encodeFrame(env())
    assert.equal(decodeFailure(good.subarray(0, 5)), 'too_short')
    const magic = Buffer.from(good)
    magic[0] = 0x00
    assert.equal(decodeFailure(magic), 'bad_magic')
    const version = fixCrc(Buffer.from(good).fill(9, 2, 3))
    assert.equal(decodeFailure(version), 'bad_version')
    const flipped = Buffer.from(good)
    flipped[20] = flipped[20]! ^ 0xff
    assert.equal(decodeFailure(flipped), 'bad_crc')
    assert.equal(decodeFailure(good.subarray(0, good.length - 1)), 'too_short')
    assert.equal(decodeFailure(Buffer.concat([good, Buffer.from([1])])), 'too_short')
  })

  test('a header that is not a valid envelope is rejected as bad_header', () => {
    const header = Buffer.from(
      JSON.stringify({ v: 1, id: 'x', proto: 'p', type: 't', src: 's', dst: 'd', ts: 'not a number' }),
    )
    const body = Buffer.from('null')
    const buf = Buffer.alloc(2 + 1 + 1 + 2 + header.length + 4 + body.length + 4)
    let o = buf.writeUInt16BE(0x444c, 0)
    o = buf.writeUInt8(1, o)
    o = buf.writeUInt8(0, o)
    o = buf.writeUInt16BE(header.length, o)
    o += header.copy(buf, o)
    o = buf.writeUInt32BE(body.length, o)
    body.copy(buf, o)
    assert.equal(decodeFailure(fixCrc(buf)), 'bad_header')
  })

  test('oversized frames are refused on both sides', () => {
    assert.throws(() => encodeFrame(env('x'.repeat(2000)), { maxFrameBytes: 1000 }), {
      code: 'ERR_FRAME_TOO_LARGE',
    })
    assert.throws(() => encodeFrame({ ...env(), src: 'n'.repeat(MAX_HEADER_BYTES) }), {
      code: 'ERR_FRAME_TOO_LARGE',
    })
    const big = encodeFrame(env('x'.repeat(2000)))
    assert.equal(
      (() => {
        try {
          decodeFrame(big, { maxFrameBytes: 1000 })
        } catch (err) {
          return (err as FrameDecodeError).reason
        }
      })(),
      'too_large',
    )
  })

  test('random bytes never decode and never throw anything but FrameDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeFrame(Buffer.from(bytes))
          return false
        } catch (err) {
          return err instanceof FrameDecodeError
        }
      }),
      { numRuns: 2000 },
    )
  })

  test('any JSON body round-trips', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const e = env(body)
        const d = decodeFrame(encodeFrame(e))
        assert.deepEqual(d.body, JSON.parse(JSON.stringify(body ?? null)))
      }),
      { numRuns: 300 },
    )
  })
})

/** A frame with a binary header (flags bit 2) of exactly these header bytes and a `null` body. */
function binaryHeaderFrame(header: Buffer): Buffer {
  const body = Buffer.from('null')
  const buf = Buffer.alloc(6 + header.length + 4 + body.length + 4)
  let o = buf.writeUInt16BE(0x444c, 0)
  o = buf.writeUInt8(1, o)
  o = buf.writeUInt8(0x04, o)
  o = buf.writeUInt16BE(header.length, o)
  o += header.copy(buf, o)
  o = buf.writeUInt32BE(body.length, o)
  body.copy(buf, o)
  return fixCrc(buf)
}

/** Binary header bytes: each string behind its length byte, then ts as a float64, then `tail`. */
function binaryHeader(fields: Array<string | Buffer>, ts: number, tail: number[] = []): Buffer {
  const parts: Buffer[] = []
  for (const f of fields) {
    const b = typeof f === 'string' ? Buffer.from(f, 'latin1') : f
    parts.push(Buffer.from([b.length]), b)
  }
  const t = Buffer.alloc(8)
  t.writeDoubleBE(ts)
  parts.push(t, Buffer.from(tail))
  return Buffer.concat(parts)
}

describe('binary header', () => {
  const names = ['id-1', 'unicast', 'data', 'node1', 'node2']

  test('nodes send the binary header, and it decodes to the same envelope with and without ttl', () => {
    for (const ttl of [undefined, 0, 255]) {
      const e = createEnvelope({
        proto: 'unicast',
        type: 'data',
        src: 'node1',
        dst: '*',
        body: { a: [1] },
        ttl,
      })
      const frame = encodeFrame(e)
      assert.equal(frame[3]! & 0x04, 0x04)
      assert.deepEqual(decodeFrame(frame), e)
    }
  })

  test('a header the binary form cannot carry goes as JSON and still round-trips', () => {
    const wide = createEnvelope({ proto: 'unicast', type: 'data', src: 'nœud-1', dst: 'node2', body: 1 })
    const frame = encodeFrame(wide)
    assert.equal(frame[3]! & 0x04, 0, 'a non-ASCII name goes as JSON')
    assert.deepEqual(decodeFrame(frame), wide)
    const e = env()
    const json = encodeFrame(e, { header: 'json' })
    assert.equal(json[3]! & 0x04, 0)
    assert.deepEqual(decodeFrame(json), e)
  })

  test('a JSON-header frame made the old way is still accepted', () => {
    const header = Buffer.from(
      JSON.stringify({ v: 1, id: 'x', proto: 'p', type: 't', src: 's', dst: 'd', ts: 5, ttl: 2 }),
    )
    const body = Buffer.from('{"k":[1,2]}')
    const buf = Buffer.alloc(6 + header.length + 4 + body.length + 4)
    let o = buf.writeUInt16BE(0x444c, 0)
    o = buf.writeUInt8(1, o)
    o = buf.writeUInt8(0, o)
    o = buf.writeUInt16BE(header.length, o)
    o += header.copy(buf, o)
    o = buf.writeUInt32BE(body.length, o)
    body.copy(buf, o)
    assert.deepEqual(decodeFrame(fixCrc(buf)), {
      v: 1,
      id: 'x',
      proto: 'p',
      type: 't',
      src: 's',
      dst: 'd',
      ts: 5,
      ttl: 2,
      body: { k: [1, 2] },
    })
  })

  test('a well-formed binary header made by hand decodes', () => {
    const d = decodeFrame(binaryHeaderFrame(binaryHeader(names, 12.5, [7])))
    assert.deepEqual(d, {
      v: 1,
      id: 'id-1',
      proto: 'unicast',
      type: 'data',
      src: 'node1',
      dst: 'node2',
      ts: 12.5,
      ttl: 7,
      body: null,
    })
  })

  test('every malformed binary header is refused as bad_header', () => {
    const bad: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['an empty id', binaryHeader(['', ...names.slice(1)], 1)],
      ['an id of 65 bytes', binaryHeader(['i'.repeat(65), ...names.slice(1)], 1)],
      ['a proto of 33 bytes', binaryHeader([names[0]!, 'p'.repeat(33), ...names.slice(2)], 1)],
      ['a type of 33 bytes', binaryHeader([...names.slice(0, 2), 't'.repeat(33), ...names.slice(3)], 1)],
      ['a src of 129 bytes', binaryHeader([...names.slice(0, 3), 's'.repeat(129), names[4]!], 1)],
      ['a dst of 129 bytes', binaryHeader([...names.slice(0, 4), 'd'.repeat(129)], 1)],
      [
        'a non-ASCII byte',
        binaryHeader([...names.slice(0, 3), Buffer.from([0x6e, 0xc3, 0xa9]), names[4]!], 1),
      ],
      ['a length past the header', binaryHeader(names, 1).subarray(0, 10)],
      ['no ts', binaryHeader(names, 1).subarray(0, -8)],
      ['a ts of NaN', binaryHeader(names, Number.NaN)],
      ['a ts of Infinity', binaryHeader(names, Number.POSITIVE_INFINITY)],
      ['a negative ts', binaryHeader(names, -1)],
      ['two bytes after ts', binaryHeader(names, 1, [1, 2])],
    ]
    for (const [what, header] of bad)
      assert.equal(decodeFailure(binaryHeaderFrame(header)), 'bad_header', what)
  })

  test('random binary headers never decode to anything but a valid envelope or FrameDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          const d = decodeFrame(binaryHeaderFrame(Buffer.from(bytes)))
          return (
            [d.id, d.proto, d.type, d.src, d.dst].every((s) =>
              [...s].every((ch) => ch.charCodeAt(0) <= 0x7f),
            ) && d.ts >= 0
          )
        } catch (err) {
          return err instanceof FrameDecodeError && err.reason === 'bad_header'
        }
      }),
      { numRuns: 2000 },
    )
  })

  test('a body nested past the limit is refused as too_deep; brackets inside strings do not count', () => {
    const deep = encodeFrame(env(JSON.parse('['.repeat(65) + ']'.repeat(65)) as unknown))
    assert.equal(decodeFailure(deep), 'too_deep')
    const flat = env({ s: '['.repeat(500), list: Array.from({ length: 200 }, (_, i) => [i]) })
    assert.deepEqual(decodeFrame(encodeFrame(flat)), flat)
  })
})

describe('stream framing', () => {
  test('frames split at every byte boundary are reassembled', () => {
    const frames = [
      encodeFrame(env({ a: 1 })),
      encodeFrame(env({ b: 2 })),
      encodeFrame(env(Buffer.from('raw'))),
    ]
    const stream = Buffer.concat(frames.map(lengthPrefixed))
    for (let cut = 1; cut < stream.length; cut += 7) {
      const r = new FrameReader()
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))]
      assert.equal(got.length, 3)
      assert.deepEqual(
        got.map((g) => decodeFrame(g).body),
        [{ a: 1 }, { b: 2 }, Buffer.from('raw')],
      )
    }
  })

  test('a length over the limit is refused before anything is buffered', () => {
    const r = new FrameReader(1024)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(100 * 1024 * 1024)
    assert.throws(() => r.push(prefix), { code: 'ERR_FRAME_DECODE', reason: 'too_large' })
  })
})
