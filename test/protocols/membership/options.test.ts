// The pieces a user configures or that guard the wire: option checks naming the field, the named
// profiles and their overrides, the flag text launchers hand to node processes, DISTLAB_MEMBERSHIP
// read by the CLI, peer URL rules, the registration token bucket, and the fast frame checks
// agreeing with the zod schemas on arbitrary input.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  normalizePeerUrl,
  resolveMembershipOptions,
  membershipFlags,
  parseMembershipOption,
  TokenBucket,
  MEMBERSHIP_PROFILES,
  TUNABLE_OPTIONS,
  PROBE_INTERVAL_MS,
  PROBE_TIMEOUT_MS,
  GOSSIP_INTERVAL_MS,
  SUSPICION_MULT,
  HTTP_TIMEOUT_MS,
  type MembershipInit,
} from '../../../src/protocols/membership/index.js'
import { membershipFromCli } from '../../../src/cli/membership-flags.js'
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

test('profiles: lan is the defaults, local the fast timings, options beside a profile win', () => {
  const lan = resolveMembershipOptions({ profile: 'lan' })
  assert.equal(lan.profile, 'lan')
  assert.equal(resolveMembershipOptions().profile, 'lan')
  assert.equal(lan.probeIntervalMs, PROBE_INTERVAL_MS)
  assert.equal(lan.probeTimeoutMs, PROBE_TIMEOUT_MS)
  assert.equal(lan.gossipIntervalMs, GOSSIP_INTERVAL_MS)
  const local = resolveMembershipOptions({ profile: 'local' })
  assert.equal(local.profile, 'local')
  assert.equal(local.probeIntervalMs, 250)
  assert.equal(local.probeTimeoutMs, 120)
  assert.equal(local.gossipIntervalMs, 60)
  assert.equal(local.pushPullIntervalMs, 1500)
  assert.equal(local.joinRetryMs, 200)
  assert.equal(local.verifyRetryMs, 200)
  // Suspicion and HTTP timeouts stay the LAN ones: a busy process is not declared dead sooner.
  assert.equal(local.suspicionMult, SUSPICION_MULT)
  assert.equal(local.httpTimeoutMs, HTTP_TIMEOUT_MS)
  const tuned = resolveMembershipOptions({ profile: 'local', probeIntervalMs: 400, suspicionMult: 3 })
  assert.equal(tuned.probeIntervalMs, 400)
  assert.equal(tuned.probeTimeoutMs, 120)
  assert.equal(tuned.suspicionMult, 3)
  // Every profile resolves, and sets only documented options.
  for (const [name, timings] of MEMBERSHIP_PROFILES) {
    resolveMembershipOptions({ profile: name })
    for (const k of Object.keys(timings)) assert.ok((TUNABLE_OPTIONS as readonly string[]).includes(k), k)
  }
  for (const bad of ['fast', '', 'LAN', 7, 'constructor'])
    assert.throws(
      () => resolveMembershipOptions({ profile: bad as never }),
      { code: 'ERR_INVALID_ARGUMENT', field: 'profile', message: /one of lan, local/ },
      String(bad),
    )
  // The profile's values are checked like the user's: an override may break the probe rule.
  assert.throws(
    () => resolveMembershipOptions({ profile: 'local', probeIntervalMs: 100, probeTimeoutMs: 120 }),
    {
      field: 'probeTimeoutMs',
    },
  )
})

test('the flag text launchers pass to node processes reads back to the same options', () => {
  const init: MembershipInit = { profile: 'local', probeIntervalMs: 300, suspicionMult: 2.5 }
  const flags = membershipFlags({ ...init, bootstrapUrl: 'http://127.0.0.1:5000', registry: true })
  assert.deepEqual(flags, [
    '--membership-profile',
    'local',
    '--membership-option',
    'probeIntervalMs=300',
    '--membership-option',
    'suspicionMult=2.5',
  ])
  assert.deepEqual(
    membershipFromCli({ membershipProfile: 'local', membershipOption: [flags[3]!, flags[5]!] }, {}),
    init,
  )
  assert.deepEqual(membershipFlags({}), [])
  assert.deepEqual(parseMembershipOption(' gossipFanout = 5 '), ['gossipFanout', 5])
  for (const [bad, why] of [
    ['probeIntervalMs', /name=value/],
    ['probeIntervalMs=', /name=value/],
    ['nope=1', /unknown option nope \(known: probeIntervalMs/],
    ['bootstrapUrl=1', /unknown option/],
    ['probeIntervalMs=fast', /must be a number/],
    ['probeIntervalMs=Infinity', /must be a number/],
  ] as const)
    assert.throws(() => parseMembershipOption(bad), { code: 'ERR_INVALID_ARGUMENT', message: why }, bad)
})

test('the CLI reads DISTLAB_MEMBERSHIP under its flags; bad text, names and values are clear errors', () => {
  assert.deepEqual(membershipFromCli({}, {}), {})
  const env = { DISTLAB_MEMBERSHIP: '{"profile": "local", "probeIntervalMs": 200}' }
  assert.deepEqual(membershipFromCli({}, env), { profile: 'local', probeIntervalMs: 200 })
  assert.deepEqual(
    membershipFromCli({ membershipProfile: 'lan', membershipOption: ['probeIntervalMs=900'] }, env),
    { profile: 'lan', probeIntervalMs: 900 },
  )
  for (const bad of [
    'nope',
    '[1]',
    'null',
    '{"probeIntervalMs": "fast"}',
    '{"bootstrapUrl": "x"}',
    '{"profile": "fast"}',
    '{"probeIntervalMs": 0}',
    '{"__proto__": 1}',
  ])
    assert.throws(
      () => membershipFromCli({}, { DISTLAB_MEMBERSHIP: bad }),
      { code: 'ERR_INVALID_ARGUMENT' },
      bad,
    )
  assert.throws(() => membershipFromCli({ membershipProfile: 'fast' }, {}), {
    field: '--membership-profile',
    message: /--membership-profile must be one of lan, local, got "fast"/,
  })
  assert.throws(() => membershipFromCli({ membershipOption: ['gossipFanout=1.5'] }, {}), {
    field: 'gossipFanout',
  })
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
