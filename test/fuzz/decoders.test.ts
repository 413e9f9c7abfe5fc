// Property-based tests (fast-check) for every decoder that reads bytes or JSON from the network:
// the distlab frame and its TCP stream reader, authenticated frames, the course packet (Go-Back-N,
// DV, CN), distance vectors and costs, and the membership protocol's wire bodies. The property is
// always the same: valid input round-trips, and anything else is rejected with the decoder's own
// error (a `reason` for the drop counter), never another exception.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeFrame, decodeFrame, FrameReader, lengthPrefixed } from '../../src/core/frame.js'
import { createEnvelope, type Envelope } from '../../src/core/envelope.js'
import { FrameDecodeError } from '../../src/core/errors.js'
import { FrameGuard } from '../../src/core/auth.js'
import { encodePacket, decodePacket, PacketType, type PacketTypeName } from '../../src/protocols/gbn/wire.js'
import { encodeVector, decodeVector, encodeCost, decodeCost } from '../../src/protocols/dv/wire.js'
import {
  checkGossip,
  checkProbe,
  checkPingReq,
  checkPushPull,
  checkUpdate,
} from '../../src/protocols/membership/wire.js'
import { mutate } from '../../src/scenario/fuzz.js'
import { seededRandom } from '../../src/core/random.js'

const RUNS = 400

/** Runs `fn`; passes when it returns, or throws an error with the given code. */
function onlyThrows(code: string, fn: () => unknown): unknown {
  try {
    return fn()
  } catch (err) {
    assert.equal((err as { code?: string }).code, code, `unexpected ${String(err)}`)
    return undefined
  }
}

const name = fc.stringMatching(/^[a-z][a-z0-9]{0,11}$/)
const envelopeArb: fc.Arbitrary<Envelope> = fc
  .record({
    proto: fc.constantFrom('unicast', 'broadcast', 'ping', 'membership'),
    type: fc.constantFrom('data', 'ack', 'ping', 'gossip'),
    src: name,
    dst: name,
    ttl: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    body: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
    ),
  })
  .map((r) => createEnvelope(r))

/** A byte array and a mutation of it drawn from the same seed. */
const mutation = fc.integer({ min: 1, max: 2 ** 31 - 1 })

describe('distlab frame', () => {
  test('every envelope round-trips through the codec', () => {
    fc.assert(
      fc.property(envelopeArb, (env) => {
        const back = decodeFrame(encodeFrame(env))
        assert.deepEqual(
          { ...back, body: Buffer.isBuffer(back.body) ? [...back.body] : back.body },
          {
            ...JSON.parse(JSON.stringify({ ...env, body: null })),
            body: env.body instanceof Uint8Array ? [...env.body] : JSON.parse(JSON.stringify(env.body)),
          },
        )
      }),
      { numRuns: RUNS },
    )
  })

  test('random bytes are rejected with FrameDecodeError and a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        try {
          decodeFrame(Buffer.from(bytes))
        } catch (err) {
          assert.ok(err instanceof FrameDecodeError)
          assert.match(err.reason, /^(too_short|too_large|bad_magic|bad_version|bad_crc|bad_header)$/)
        }
      }),
      { numRuns: RUNS },
    )
  })

  test('mutated frames either decode or are rejected; never another error', () => {
    fc.assert(
      fc.property(envelopeArb, mutation, (env, seed) => {
        const bytes = mutate(encodeFrame(env), seededRandom(seed))
        onlyThrows('ERR_FRAME_DECODE', () => decodeFrame(bytes))
      }),
      { numRuns: RUNS },
    )
  })

  test('the TCP stream reader splits any chunking of valid frames, and refuses bad lengths', () => {
    fc.assert(
      fc.property(
        fc.array(envelopeArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (envs, cuts) => {
          const stream = Buffer.concat(envs.map((e) => lengthPrefixed(encodeFrame(e))))
          const reader = new FrameReader()
          const frames: Buffer[] = []
          let at = 0
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!
            frames.push(...reader.push(stream.subarray(at, at + n)))
            at += n
          }
          assert.equal(frames.length, envs.length)
          frames.forEach((f, i) => assert.equal(decodeFrame(f).id, envs[i]!.id))
        },
      ),
      { numRuns: 200 },
    )
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 8 }), (chunks) => {
        const reader = new FrameReader(64 * 1024)
        onlyThrows('ERR_FRAME_DECODE', () => {
          for (const c of chunks)
            for (const f of reader.push(Buffer.from(c))) onlyThrows('ERR_FRAME_DECODE', () => decodeFrame(f))
        })
      }),
      { numRuns: RUNS },
    )
  })

  test('no mutation of an authenticated frame is accepted as anything but the original', () => {
    const KEY = 'property test key'
    fc.assert(
      fc.property(envelopeArb, mutation, (env, seed) => {
        const signer = new FrameGuard({ keyring: KEY })
        const receiver = new FrameGuard({ keyring: KEY })
        const sealed = signer.sealFrame(env)
        const bytes = mutate(sealed, seededRandom(seed))
        const r = receiver.openFrame(bytes)
        if ('env' in r) {
          // Only a mutation that changed nothing the MAC covers gets through, and then the content is the original.
          const original = receiver.openFrame(sealed)
          assert.ok('reason' in original && original.reason === 'replay')
          assert.deepEqual(r.env.id, env.id)
          assert.deepEqual(
            JSON.stringify(r.env.body instanceof Uint8Array ? [...r.env.body] : r.env.body),
            JSON.stringify(env.body instanceof Uint8Array ? [...env.body] : env.body),
          )
        } else
          assert.match(
            r.reason,
            /^(no_mac|unknown_key|bad_mac|stale|replay|too_short|too_large|bad_magic|bad_version|bad_crc)$/,
          )
      }),
      { numRuns: RUNS },
    )
  })
})

const packetArb = fc.record({
  type: fc.constantFrom(...(Object.keys(PacketType) as PacketTypeName[])),
  flags: fc.integer({ min: 0, max: 255 }),
  seq: fc.nat(),
  tx: fc.nat(),
  aux: fc.nat(),
  payload: fc.uint8Array({ maxLength: 300 }),
})

describe('course packet (gbnnode, dvnode, cnnode)', () => {
  test('every packet round-trips', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const back = decodePacket(encodePacket(p))
        assert.deepEqual({ ...back, payload: [...back.payload] }, { ...p, payload: [...p.payload] })
      }),
      { numRuns: RUNS },
    )
  })

  test('random and mutated datagrams are rejected with FrameDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        onlyThrows('ERR_FRAME_DECODE', () => decodePacket(bytes))
      }),
      { numRuns: RUNS },
    )
    fc.assert(
      fc.property(packetArb, mutation, (p, seed) => {
        onlyThrows('ERR_FRAME_DECODE', () => decodePacket(mutate(encodePacket(p), seededRandom(seed))))
      }),
      { numRuns: RUNS },
    )
  })
})

describe('distance-vector message', () => {
  const distance = fc.oneof(
    fc.double({ min: 0, max: 1e6, noNaN: true }),
    fc.constant(Number.POSITIVE_INFINITY),
  )
  const vectorArb = fc.record({
    linkCost: fc.option(distance, { nil: undefined }),
    entries: fc.array(fc.tuple(fc.integer({ min: 1, max: 65535 }), distance), { maxLength: 50 }),
  })

  test('every vector and cost round-trips', () => {
    fc.assert(
      fc.property(vectorArb, (v) => {
        const back = decodeVector(encodeVector(v))
        assert.deepEqual(back.entries, v.entries)
        assert.equal(back.linkCost, v.linkCost)
      }),
      { numRuns: RUNS },
    )
    fc.assert(
      fc.property(distance, (c) => assert.equal(decodeCost(encodeCost(c)), c)),
      { numRuns: RUNS },
    )
  })

  test('random and mutated payloads decode to valid vectors or are rejected', () => {
    const valid = (v: { linkCost?: number; entries: Array<[number, number]> }) => {
      assert.ok(v.linkCost === undefined || v.linkCost >= 0)
      for (const [port, d] of v.entries) assert.ok(port > 0 && port <= 65535 && d >= 0)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (bytes) => {
        const v = onlyThrows('ERR_FRAME_DECODE', () => decodeVector(bytes)) as ReturnType<typeof decodeVector>
        if (v) valid(v)
        const c = onlyThrows('ERR_FRAME_DECODE', () => decodeCost(bytes.subarray(0, 8)))
        if (c !== undefined) assert.ok((c as number) >= 0)
      }),
      { numRuns: RUNS },
    )
    fc.assert(
      fc.property(vectorArb, mutation, (v, seed) => {
        const r = onlyThrows('ERR_FRAME_DECODE', () =>
          decodeVector(mutate(encodeVector(v), seededRandom(seed))),
        )
        if (r) valid(r as ReturnType<typeof decodeVector>)
      }),
      { numRuns: RUNS },
    )
  })
})

describe('membership wire bodies', () => {
  test('any JSON value is either a valid body or a WireError', () => {
    const codes = new Set<string>()
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (x) => {
        for (const check of [checkProbe, checkPingReq, checkGossip, checkPushPull, checkUpdate])
          try {
            check(x)
          } catch (err) {
            assert.ok(err instanceof Error)
            codes.add((err as { code?: string }).code ?? err.name)
          }
      }),
      { numRuns: RUNS },
    )
    assert.equal(codes.size, 1, `one error type, got ${[...codes].join(', ')}`)
  })
})
