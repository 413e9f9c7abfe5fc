// The hand-written body checks membership runs on every frame it receives (checkProbe for ping and
// ack, checkPingReq, checkGossip, checkPushPull) accept and refuse exactly what the zod schemas of
// record accept and refuse, on well-formed bodies, on bodies with one field made hostile, and on the
// attacks written out below (wrong types, unsafe integers, huge arrays, deep nesting, __proto__
// keys); and what they accept reads back as zod's output does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { z } from 'zod'
import {
  checkGossip,
  checkPingReq,
  checkProbe,
  checkPushPull,
  GossipSchema,
  PingReqSchema,
  PingSchema,
  AckSchema,
  PushPullSchema,
} from '../../../src/protocols/membership/wire.js'
import { MAX_MEMBERS, MAX_UPDATES_PER_FRAME } from '../../../src/protocols/membership/constants.js'

const PAIRS: Array<[string, z.ZodType, (x: unknown) => unknown]> = [
  ['ping', PingSchema, checkProbe],
  ['ack', AckSchema, checkProbe],
  ['ping-req', PingReqSchema, checkPingReq],
  ['gossip', GossipSchema, checkGossip],
  ['push-pull', PushPullSchema, checkPushPull],
]

/** Asserts that every check and its schema give `x` the same verdict (and the same value). */
function sameVerdicts(x: unknown): void {
  for (const [name, schema, check] of PAIRS) {
    let fast: unknown
    let accepted = true
    try {
      fast = check(x)
    } catch (err) {
      assert.equal((err as Error).name, 'WireError', `${name}: ${String(err)}`)
      accepted = false
    }
    const ref = schema.safeParse(x)
    assert.equal(accepted, ref.success, `${name} on ${describe(x)}: check ${accepted}, schema ${ref.success}`)
    // the same fields and values (a key left undefined by the check is a key zod leaves out)
    if (accepted) assert.deepEqual(JSON.parse(JSON.stringify(fast)), JSON.parse(JSON.stringify(ref.data)))
  }
}

function describe(x: unknown): string {
  try {
    return (JSON.stringify(x) ?? String(x)).slice(0, 200)
  } catch {
    return String(x)
  }
}

const member = (i: number) => ({
  s: 'a',
  n: `node${i}`,
  u: `http://127.0.2.${i}:5000`,
  i: `0b6c3e8e-4d6a-4f0e-9a57-${String(i).padStart(12, '0')}`,
  h: `127.0.2.${i}`,
  p: 7000,
  g: 1_765_000_000_000 + i,
  c: i % 3,
})

/** Values an attacker would put in place of any field. */
const HOSTILE: unknown[] = [
  null,
  true,
  '',
  '1',
  'x'.repeat(600),
  'é'.repeat(129),
  0,
  -1,
  -0,
  1.5,
  2 ** 53,
  -(2 ** 53),
  1e300,
  65_536,
  [],
  {},
  [1, 2, 3],
  { s: 'a' },
  'm',
  'z',
  1,
]

const wireMember = fc.record(
  {
    s: fc.constantFrom('a', 's', 'd'),
    n: fc.string({ minLength: 1, maxLength: 8 }),
    u: fc.constant('http://127.0.2.1:5000'),
    i: fc.uuid(),
    h: fc.constant('127.0.2.1'),
    p: fc.integer({ min: 1, max: 65_535 }),
    g: fc.nat(),
    c: fc.nat(),
    f: fc.string({ minLength: 1, maxLength: 8 }),
  },
  { requiredKeys: ['s', 'n', 'u', 'i', 'h', 'p', 'g', 'c'] },
)
const wireMessage = fc.record({
  s: fc.constant('m'),
  m: fc.string({ minLength: 1, maxLength: 8 }),
  f: fc.string({ minLength: 1, maxLength: 8 }),
  t: fc.string({ maxLength: 20 }),
})
const updates = fc.array(fc.oneof(wireMember, wireMessage), { maxLength: 5 })
const target = fc.record({
  n: fc.string({ minLength: 1, maxLength: 8 }),
  h: fc.constant('127.0.2.9'),
  p: fc.integer({ min: 1, max: 65_535 }),
})
const bodies = fc.oneof(
  fc.record({ seq: fc.nat(), u: updates }, { requiredKeys: ['seq'] }),
  fc.record({ seq: fc.nat(), t: target, u: updates }, { requiredKeys: ['seq', 't'] }),
  fc.record({ u: updates }),
  fc.record(
    {
      m: fc.array(wireMember, { maxLength: 4 }),
      d: fc.string({ minLength: 1, maxLength: 64 }),
      w: fc.constant(1),
      from: fc.record({ h: fc.constant('127.0.2.3'), p: fc.integer({ min: 1, max: 65_535 }) }),
    },
    { requiredKeys: [] },
  ),
)

/** Every place in `x` that holds a value: the paths a mutation may replace. */
function paths(x: unknown, at: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  out.push(at)
  if (Array.isArray(x)) x.forEach((v, i) => paths(v, [...at, i], out))
  else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) paths(v, [...at, k], out)
  return out
}

/** A deep copy of `x` (through JSON, as a frame body arrives) with the value at `path` replaced. */
function replaced(x: unknown, path: Array<string | number>, v: unknown): unknown {
  if (path.length === 0) return v
  const copy = JSON.parse(JSON.stringify(x)) as Record<string | number, unknown>
  let o = copy
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>
  o[path[path.length - 1]!] = v
  return copy
}

test('well-formed bodies: the checks and the schemas accept the same, with the same values', () => {
  fc.assert(
    fc.property(bodies, (b) => sameVerdicts(JSON.parse(JSON.stringify(b)))),
    { numRuns: 2000 },
  )
})

test('one field made hostile, or removed: the same verdicts', () => {
  fc.assert(
    fc.property(bodies, fc.nat(), fc.constantFrom(...HOSTILE, undefined), (b, pick, v) => {
      const all = paths(b)
      sameVerdicts(replaced(b, all[pick % all.length]!, v))
    }),
    { numRuns: 3000 },
  )
})

test('written-out attacks: the same verdicts', () => {
  const m = member(1)
  const deep = '['.repeat(2000) + ']'.repeat(2000)
  const attacks: unknown[] = [
    ...HOSTILE,
    // __proto__ as JSON.parse makes it: an own key, whose value must not be read as a prototype
    JSON.parse('{"__proto__":{"seq":1},"seq":2}'),
    JSON.parse('{"__proto__":{"seq":1}}'),
    JSON.parse(
      `{"seq":1,"u":[{"__proto__":{"s":"a","n":"x"},"s":"a","n":"node1","u":"u","i":"i","h":"h","p":1,"g":0,"c":0}]}`,
    ),
    JSON.parse('{"seq":1,"u":[{"__proto__":{"s":"a","n":"x","u":"u","i":"i","h":"h","p":1,"g":0,"c":0}}]}'),
    JSON.parse(`{"__proto__":{"m":[]},"w":1}`),
    JSON.parse(`{"seq":1,"t":{"__proto__":{"n":"a","h":"b","p":1}}}`),
    // nesting far past the frame codec's limit, in a key the schemas do not name and in one they do
    JSON.parse(`{"seq":1,"x":${deep}}`),
    JSON.parse(`{"seq":1,"u":${deep}}`),
    JSON.parse(`{"seq":1,"u":[${JSON.stringify(m).replace('"c":0', `"c":0,"x":${deep}`)}]}`),
    // lists at and past their bounds
    { seq: 1, u: Array.from({ length: MAX_UPDATES_PER_FRAME }, () => m) },
    { seq: 1, u: Array.from({ length: MAX_UPDATES_PER_FRAME + 1 }, () => m) },
    { u: Array.from({ length: MAX_UPDATES_PER_FRAME + 1 }, () => m) },
    { m: Array.from({ length: MAX_MEMBERS + 1 }, () => m) },
    { m: Array.from({ length: MAX_MEMBERS + 2 }, () => m) },
    // a list that is an object with numeric keys, and the reverse
    { seq: 1, u: { 0: m, length: 1 } },
    [{ seq: 1 }],
    // a message update that is also a member, statuses that are neither
    { seq: 1, u: [{ ...m, s: 'm', m: 'id', f: 'node1', t: 'hello' }] },
    { seq: 1, u: [{ ...m, s: 'x' }] },
    { seq: 1, u: [{ s: 'm', m: 'id', f: 'node1', t: 'x'.repeat(4097) }] },
    // push-pull with nothing to say, and with only its extras
    {},
    { w: 1 },
    { from: { h: 'a', p: 1 } },
    { d: '' },
    { d: 'x'.repeat(65) },
    { d: 'abc', m: null },
    // ping-req targets
    { seq: 1, t: null },
    { seq: 1, t: { n: 'a', h: 'b', p: 0 } },
    { seq: 1, t: { n: 'a', h: 'b', p: 7000.5 } },
    { seq: 1, t: [] },
    // objects without Object's prototype
    Object.assign(Object.create(null) as object, { seq: 1 }),
  ]
  for (const x of attacks) sameVerdicts(x)
})
