// Push-pull's digest on a manual clock, seen from the wire: two peers with the same view answer a
// digest with a digest alone, and any change of one member's state (a suspicion, a refutation, a
// death, a new member) makes the answer a whole view until the other peer hears the same. The
// digest keeps each member's hashes between exchanges (pushpull.ts): these are the changes that must
// reach it.
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
  body: Record<string, unknown>
  options?: SendOptions
}

function peer(name: string, host: string, clock: ManualClock): { m: Membership; sent: Sent[] } {
  const sent: Sent[] = []
  const c: ProtocolComponents = {
    self: { name, id: `${name}-id`, bindHost: host, host, framePort: 7000, httpPort: 5000 },
    logger: silentLogger,
    clock,
    send: async (dst, type, body, options) => {
      sent.push({ dst, type, body: body as Record<string, unknown>, options })
    },
    peers: () => [],
    delivered: () => {},
    dropped: () => {},
    members: () => [],
    links: { partitioned: () => false, ruleFor: () => NO_RULE },
    metrics: new Metrics(),
    record: () => {},
  }
  return { m: membership({ profile: 'local' })(c), sent }
}

const member = (name: string, host: string, s: 'a' | 's' | 'd', c = 0) => ({
  s,
  n: name,
  u: `http://${host}:5000`,
  i: `${name}-id`,
  h: host,
  p: 7000,
  g: 0,
  c,
})

function frame(type: string, src: string, body: unknown): Envelope {
  return { v: 1, id: `${src}-${Math.random()}`, proto: 'membership', type, src, dst: '*', ts: 0, body }
}

const gossip = (to: Membership, ...u: unknown[]) =>
  to.handle(frame('gossip', 'z', { u }), {
    env: frame('gossip', 'z', { u }),
    from: { host: '10.9.9.9', port: 7000 },
    bytes: 0,
    transport: 'udp',
  })

/** Sends `to` a push-pull digest `d`; answers its pp-ack. */
function ask(to: { m: Membership; sent: Sent[] }, d: string): Record<string, unknown> {
  const env = frame('pp', 'asker', { d, from: { h: '10.9.9.9', p: 7000 } })
  to.m.handle(env, { env, from: { host: '10.9.9.9', port: 40000 }, bytes: 0, transport: 'tcp' })
  const ack = to.sent.at(-1)!
  assert.equal(ack.type, 'pp-ack')
  return ack.body
}

const digestOf = (p: { m: Membership; sent: Sent[] }) => ask(p, 'no-such-digest').d as string

describe('push-pull digest', () => {
  test('the answer goes back on the connection the push-pull came on, and to its frame address', async () => {
    const a = peer('a', '10.0.0.1', new ManualClock(1_000_000))
    await a.m.start()
    ask(a, 'no-such-digest')
    // Over TCP the asker reads answers off its own connection: answered there, the exchange holds
    // one connection, not a second one opened back to the asker's frame port.
    assert.deepEqual(a.sent.at(-1)!.options, {
      address: { host: '10.9.9.9', port: 7000 },
      transport: 'tcp',
      replyOn: { host: '10.9.9.9', port: 40000 },
    })
    const env = frame('pp', 'asker', { d: 'x', from: { h: '10.9.9.9', p: 7000 } })
    a.m.handle(env, { env, from: { host: '10.9.9.9', port: 7000 }, bytes: 0, transport: 'udp' })
    assert.equal(a.sent.at(-1)!.type, 'pp-ack')
    assert.equal(a.sent.at(-1)!.options?.replyOn, undefined, 'a datagram has no connection to answer on')
    await a.m.stop()
  })

  test('equal views swap digests only; every change of a member sends whole views until both agree', async () => {
    const clock = new ManualClock(1_000_000)
    const a = peer('a', '10.0.0.1', clock)
    const b = peer('b', '10.0.0.2', clock)
    await a.m.start()
    await b.m.start()
    // Both views: a, b, x, y (a peer's own generation is its start time: the manual clock's).
    const others = [member('x', '10.0.0.3', 'a'), member('y', '10.0.0.4', 'a')]
    gossip(a.m, { ...member('b', '10.0.0.2', 'a'), g: 1_000_000 }, ...others)
    gossip(b.m, { ...member('a', '10.0.0.1', 'a'), g: 1_000_000 }, ...others)
    const agree = () => {
      const d = digestOf(a)
      assert.equal(digestOf(b), d, 'the same view, the same digest')
      assert.deepEqual(Object.keys(ask(b, d)), ['d'], 'a digest answers an equal digest')
    }
    const differ = () => {
      const d = digestOf(a)
      assert.notEqual(digestOf(b), d)
      const answer = ask(b, d)
      assert.equal(answer.w, 1, 'a different digest gets a whole view and a request for ours')
      assert.ok(Array.isArray(answer.m))
    }
    agree()
    // A suspicion (status), then the refutation (incarnation), then a death and a new member.
    const changes = [
      member('x', '10.0.0.3', 's', 0),
      member('x', '10.0.0.3', 'a', 1),
      member('y', '10.0.0.4', 'd', 0),
      member('w', '10.0.0.5', 'a', 0),
    ]
    for (const u of changes) {
      gossip(b.m, u)
      differ()
      gossip(a.m, u)
      agree()
    }
    await a.m.stop()
    await b.m.stop()
  })
})
