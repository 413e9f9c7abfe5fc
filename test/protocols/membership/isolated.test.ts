// A peer cut off long enough that it removed every member and every member removed it (on a
// loaded machine: its own probes starved) must come back once its links work again, without
// waiting for the tombstones to expire (real sockets, OS-chosen ports on 127.0.0.1; frames cut by
// the link emulator, the registry's HTTP left open). Both sides' tombstones hold the same
// incarnation, so only a refutation brings it back: the peer hears its own death (in a push-pull
// view), raises its incarnation, and the registry's check of its re-registration spreads that.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { Node } from '../../../src/node/node.js'
import { membership, type Membership, type MembershipInit } from '../../../src/protocols/membership/index.js'
import { waitFor } from '../../helpers.js'

const HOST = '127.0.0.1'

const TIMINGS: MembershipInit = {
  probeIntervalMs: 250,
  probeTimeoutMs: 120,
  gossipIntervalMs: 60,
  pushPullIntervalMs: 1500,
  joinRetryMs: 100,
  verifyRetryMs: 200,
  reregisterIntervalMs: 500,
  // Tombstones outlive the test: only the rejoin itself can bring the peer back.
  deadRetentionMs: 600_000,
}

const mem = (n: Node) => n.protocol<Membership>('membership')!

describe('a peer that was cut off from everyone', () => {
  const started: Node[] = []
  after(async () => {
    for (const n of started.reverse()) await n.stop()
  })

  test('comes back when its links heal, though it removed every member and they removed it', async () => {
    const registry = new Node({
      name: 'master',
      host: HOST,
      httpPort: 0,
      framePort: 0,
      protocols: [membership({ ...TIMINGS, registry: true })],
    })
    started.push(registry)
    await registry.start()
    const peer = (name: string) =>
      new Node({
        name,
        host: HOST,
        httpPort: 0,
        framePort: 0,
        protocols: [membership({ ...TIMINGS, bootstrapUrl: registry.httpUrl })],
      })
    const [a, b, x] = [peer('a'), peer('b'), peer('x')]
    for (const n of [a, b, x]) {
      started.push(n)
      await n.start()
    }
    const full = () => [a, b, x].every((n) => mem(n).viewSize() === 2)
    await waitFor('three peers that know each other', full, 30_000, 50)

    // Every frame to and from x is lost.
    const cut = (loss: number) => {
      for (const n of [registry, a, b]) n.links.setRule('x', { loss })
      for (const name of ['master', 'a', 'b']) x.links.setRule(name, { loss })
    }
    cut(1)
    await waitFor(
      'x to remove every member and every member to remove x',
      () => mem(x).viewSize() === 0 && !mem(a).knows(x.httpUrl) && !mem(b).knows(x.httpUrl),
      60_000,
      50,
    )

    cut(0)
    await waitFor(
      'x back in every view, and every member back in its own',
      () => full() && mem(a).knows(x.httpUrl) && mem(b).knows(x.httpUrl),
      30_000,
      50,
    )
    assert.equal(mem(x).viewSize(), 2)
  })
})
