import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodePacket, encodePacket, PACKET_OVERHEAD_BYTES } from '../../../src/protocols/gbn/wire.js'
import { FrameDecodeError } from '../../../src/core/errors.js'

describe('course packet codec', () => {
  test('round-trips every field', () => {
    const bytes = encodePacket({
      type: 'data',
      seq: 4_000_000_000,
      tx: 7,
      aux: 9,
      flags: 1,
      payload: Buffer.from('abc'),
    })
    const p = decodePacket(bytes)
    assert.equal(p.type, 'data')
    assert.equal(p.seq, 4_000_000_000)
    assert.equal(p.tx, 7)
    assert.equal(p.aux, 9)
    assert.equal(p.flags, 1)
    assert.equal(Buffer.from(p.payload).toString(), 'abc')
  })

  test('any single flipped byte is rejected with a FrameDecodeError', () => {
    const good = encodePacket({ type: 'data', seq: 3, payload: Buffer.from('hello world') })
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good)
      bad[i] = bad[i]! ^ 0x20
      assert.throws(
        () => decodePacket(bad),
        (e: unknown) => e instanceof FrameDecodeError && e.code === 'ERR_FRAME_DECODE',
      )
    }
  })

  test('truncated and garbage datagrams are rejected, never anything else', () => {
    const good = encodePacket({ type: 'ack', seq: 3 })
    assert.throws(() => decodePacket(good.subarray(0, PACKET_OVERHEAD_BYTES - 1)), { reason: 'too_short' })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodePacket(bytes)
        } catch (err) {
          assert.ok(err instanceof FrameDecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })
})
