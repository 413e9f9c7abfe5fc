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
