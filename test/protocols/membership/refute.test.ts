// How a member's refutation gets to whoever still suspects it, seen from the wire on a manual clock:
// a suspicion of an incarnation the member already refuted is answered again, to its sender at once
// and by gossip; a probe that says the member is suspect is acked with the refutation first; and
// gossip rounds reach every member of a small view, the suspect included (they skipped the member
// the view listed last, which then heard of its suspicion only in the suspecter's probes).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../../src/core/clock.js'
import { silentLogger } from '../../../src/core/logger.js'
import type { Envelope } from '../../../src/core/envelope.js'
import type { ProtocolComponents, SendOptions } from '../../../src/core/interfaces.js'
import { Metrics } from '../../../src/node/metrics.js'
import { NO_RULE } from '../../../src/link/emulator.js'
import { membership, type Membership } from '../../../src/protocols/membership/index.js'

interface Sent {
  dst: string
  type: string
  body: { u?: Array<Record<string, unknown>> }
  options?: SendOptions
}

function peer(name: string, host: string, clock: ManualClock) {
  const sent: Sent[] = []
  const metrics = new Metrics()
  const c: ProtocolComponents = {
    self: { name, id: `${name}-id`, bindHost: host, host, framePort: 7000, httpPort: 5000 },
    logger: silentLogger,
    clock,
    send: async (dst, type, body, options) => {
      sent.push({ dst, type, body: body as Sent['body'], options })
    },
    peers: () => [],
    delivered: () => {},
    dropped: () => {},
    members: () => [],
    links: { partitioned: () => false, ruleFor: () => NO_RULE },
    metrics,
    record: () => {},
  }
  return { m: membership()(c), sent, metrics }
}

const member = (name: string, s: 'a' | 's' | 'd', c = 0, f?: string) => ({
  s,
  n: name,
  u: `http://10.0.0.${name.charCodeAt(0) - 96}:5000`,
  i: `${name}-id`,
  h: `10.0.0.${name.charCodeAt(0) - 96}`,
  p: 7000,
  g: 1_000_000,
  c,
  ...(f ? { f } : {}),
})

function deliver(to: Membership, type: string, src: string, body: unknown): void {
  const env: Envelope = {
    v: 1,
    id: `${src}-${Math.random()}`,
    proto: 'membership',
    type,
    src,
    dst: '*',
    ts: 0,
    body,
  }
  const host = `10.0.0.${src.charCodeAt(0) - 96}`
  to.handle(env, { env, from: { host, port: 7000 }, bytes: 0, transport: 'udp' })
}

/** Peer `a` (10.0.0.1) that knows b, c, d and e. */
async function started() {
  const clock = new ManualClock(1_000_000)
  const a = peer('a', '10.0.0.1', clock)
  await a.m.start()
  deliver(a.m, 'gossip', 'b', { u: ['b', 'c', 'd', 'e'].map((n) => member(n, 'a')) })
  assert.equal(a.m.viewSize(), 4)
  return { clock, a }
}

const aliveOfA = (u: Record<string, unknown> | undefined) => (u?.n === 'a' && u.s === 'a' ? u.c : undefined)

describe('a refutation reaches whoever still suspects the member', () => {
  test('a suspicion already refuted is answered again: to its sender at once, and by gossip', async () => {
    const { a } = await started()
    deliver(a.m, 'gossip', 'b', { u: [member('a', 's', 0, 'b')] })
    assert.equal(a.m.stats().refuted, 1, 'refuted once, at incarnation 1')
    a.sent.length = 0
    // c never heard the refutation: it passes on the old suspicion.
    deliver(a.m, 'gossip', 'c', { u: [member('a', 's', 0, 'b')] })
    const back = a.sent.find((f) => f.dst === 'c' && f.type === 'gossip')
    assert.ok(back, 'an answer to c')
    assert.equal(aliveOfA(back.body.u?.[0]), 1)
    assert.deepEqual(back.options?.address, { host: '10.0.0.3', port: 7000 })
    assert.equal(a.m.stats().refuted, 1, 'no new incarnation for an old suspicion')
    assert.equal(a.metrics.total('distlab_membership_refutations_repeated_total'), 1)
  })

  test('a probe that says the member is suspect is acked with the refutation first', async () => {
    const { clock, a } = await started()
    deliver(a.m, 'gossip', 'b', { u: [member('a', 's', 0, 'b')] })
    clock.advance(2000) // the refutation's transmissions are over
    // Something else to send, which an ordinary piggyback would carry alone.
    deliver(a.m, 'gossip', 'b', { u: ['b', 'c', 'd', 'e'].map((n) => member(n, 'a', 1)) })
    a.sent.length = 0
    deliver(a.m, 'ping', 'd', { seq: 7, u: [member('e', 'a', 1), member('a', 's', 0, 'd')] })
    const ack = a.sent.find((f) => f.type === 'ack')
    assert.ok(ack)
    assert.equal(aliveOfA(ack.body.u?.[0]), 1)
    assert.equal(ack.body.u?.filter((u) => u.n === 'a').length, 1, 'once')
    assert.equal(
      a.sent.filter((f) => f.type === 'gossip' && f.dst === 'd').length,
      0,
      'the ack is the answer to a probe',
    )
  })

  test('gossip rounds reach every member of a small view', async () => {
    const { clock, a } = await started()
    const reached = new Set<string>()
    // 40 rounds with something to say in each (a member's new incarnation).
    for (let i = 0; i < 40; i++) {
      deliver(a.m, 'gossip', 'b', { u: [member('b', 'a', i + 2)] })
      a.sent.length = 0
      clock.advance(200)
      for (const f of a.sent) if (f.type === 'gossip') reached.add(f.dst)
    }
    assert.deepEqual([...reached].sort(), ['b', 'c', 'd', 'e'])
  })
})
