// The pieces a user configures or that guard the wire: option checks naming the field, the
// DISTLAB_MEMBERSHIP tuning, peer URL rules, the registration token bucket, and the fast frame
// checks agreeing with the zod schemas on arbitrary input.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  normalizePeerUrl,
  resolveMembershipOptions,
  TokenBucket,
  PROBE_INTERVAL_MS,
  SUSPICION_MULT,
} from '../../../src/protocols/membership/index.js'
import { membershipTuning } from '../../../src/protocols/membership/defaults.js'
import { checkUpdate, UpdateSchema } from '../../../src/protocols/membership/wire.js'

test('options: memberlist defaults, each bad field named', () => {
  const o = resolveMembershipOptions()
  assert.equal(o.probeIntervalMs, PROBE_INTERVAL_MS)
  assert.equal(o.suspicionMult, SUSPICION_MULT)
  assert.ok(Object.isFrozen(o))
  for (const [init, field] of [
    [{ probeIntervalMs: 0 }, 'probeIntervalMs'],
    [{ probeIntervalMs: 100, probeTimeoutMs: 100 }, 'probeTimeoutMs'],
    [{ gossipFanout: 1.5 }, 'gossipFanout'],
    [{ bootstrapUrl: 'ftp://127.0.0.1' }, 'bootstrapUrl'],
    [{ seedUrl: 'nonsense' }, 'seedUrl'],
  ] as const)
    assert.throws(() => resolveMembershipOptions(init), { code: 'ERR_INVALID_ARGUMENT', field })
})

test('DISTLAB_MEMBERSHIP tunes every node a launcher starts; bad tuning is a clear error', () => {
  assert.deepEqual(membershipTuning({}), {})
  assert.deepEqual(membershipTuning({ DISTLAB_MEMBERSHIP: '{"probeIntervalMs": 200}' }), {
    probeIntervalMs: 200,
  })
  for (const bad of ['nope', '[1]', '{"probeIntervalMs": "fast"}', '{"bootstrapUrl": "x"}'])
    assert.throws(() => membershipTuning({ DISTLAB_MEMBERSHIP: bad }), { code: 'ERR_INVALID_ARGUMENT' }, bad)
})

test('peer URLs: http(s) origins only', () => {
  assert.equal(normalizePeerUrl('http://node1:5000/'), 'http://node1:5000')
  assert.equal(normalizePeerUrl('https://127.0.2.1:5000'), 'https://127.0.2.1:5000')
  for (const bad of [
    '',
    'node1:5000',
    'ftp://node1',
    'http://a:b@node1',
    'http://node1:5000/x',
    'http://n?q=1',
    7,
  ])
    assert.throws(() => normalizePeerUrl(bad, 'peer'), { field: 'peer' }, String(bad))
})

test('the registration bucket allows the burst, then the rate', () => {
  let now = 0
  const b = new TokenBucket(10, 5, () => now)
  assert.equal([1, 2, 3, 4, 5, 6].filter(() => b.take()).length, 5)
  now += 200
  assert.equal(b.take(), true)
  assert.equal(b.take(), true)
  assert.equal(b.take(), false)
})

test('the hand-written frame checks accept exactly what the schemas accept', () => {
  const member = fc.record({
    s: fc.constantFrom('a', 's', 'd', 'x'),
    n: fc.string({ maxLength: 4 }),
    u: fc.constantFrom('http://127.0.2.1:5000', ''),
    i: fc.uuid(),
    h: fc.constantFrom('127.0.2.1', ''),
    p: fc.oneof(fc.integer({ min: -1, max: 70_000 }), fc.double()),
    g: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 })),
    c: fc.nat(),
  })
  const message = fc.record({
    s: fc.constant('m'),
    m: fc.string({ maxLength: 3 }),
    f: fc.string(),
    t: fc.string(),
  })
  fc.assert(
    fc.property(fc.oneof(member, message, fc.anything()), (x) => {
      let fast = true
      try {
        checkUpdate(x)
      } catch {
        fast = false
      }
      assert.equal(fast, UpdateSchema.safeParse(x).success, JSON.stringify(x))
    }),
    { numRuns: 2000 },
  )
})
