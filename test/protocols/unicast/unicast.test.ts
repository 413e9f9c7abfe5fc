// Reliable unicast as a user relies on it: every message delivered exactly once and in order per
// sender, even when the link emulator loses 30% of frames, duplicates and reorders them.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { unicast, type Unicast } from '../../../src/protocols/unicast/index.js'
import { memoryCluster, type MemoryCluster } from './memory-cluster.js'
import { getJson, postJson, waitFor } from '../../helpers.js'
import type { Node } from '../../../src/node/node.js'
import { systemClock, type Clock } from '../../../src/core/clock.js'

const uni = (n: { protocol: (name: string) => unknown }) => n.protocol('unicast') as Unicast

describe('unicast over memory transports', () => {
  let c: MemoryCluster

  before(async () => {
    c = await memoryCluster(3, () => [
      unicast({ initialRetransmitTimeoutMs: 40, maxRetransmitTimeoutMs: 400 }),
    ])
  })
  after(async () => {
    await c.stop()
    await c.stop()
  })

  test('a message is acknowledged with its round-trip time and delivered once', async () => {
    const [a, b] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]]
    const r = await uni(a).send('node2', 'hello')
    assert.equal(r.delivered, true)
    assert.equal(r.to, 'node2')
    // One attempt on a clean link, unless the machine is so loaded that the 40 ms retransmission
    // timer fired first: the duplicate is then suppressed, which the check below sees.
    assert.ok(Number.isInteger(r.attempts) && r.attempts >= 1, `attempts: ${r.attempts}`)
    assert.ok(r.rttMs >= 0)
    const got = uni(b)
      .delivered()
      .messages.filter((m) => m.from === 'node1')
    assert.deepEqual(
      got.map((m) => m.msg),
      ['hello'],
    )
  })

  for (const transport of ['udp', 'tcp'] as const) {
    test(`exactly once, in order, under 30% loss + duplication + reordering (${transport})`, async () => {
      const [a, , d] = c.nodes
      a!.links.setRule('node3', { loss: 0.3, duplicate: 0.3, reorder: 0.3, delayMs: 2, jitterMs: 2 })
      d!.links.setRule('node1', { loss: 0.3, duplicate: 0.3, reorder: 0.3, delayMs: 2, jitterMs: 2 })
      const before = uni(d!).delivered().total
      const count = 150
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) => uni(a!).send('node3', { i, transport }, { transport })),
      )
      a!.links.heal()
      d!.links.heal()
      assert.ok(results.every((r) => r.delivered))
      assert.ok(
        results.some((r) => r.attempts > 1),
        'some messages needed a retransmission',
      )
      // Everything acknowledged has been delivered; wait briefly for nothing more to arrive.
      await new Promise((r) => setTimeout(r, 200))
      const got = uni(d!)
        .delivered(before)
        .messages.filter((m) => m.from === 'node1')
        .map((m) => (m.msg as { i: number }).i)
      assert.deepEqual(
        got,
        Array.from({ length: count }, (_, i) => i),
      )
      const stats = uni(d!).stats()
      assert.ok(stats.duplicates > 0, 'duplicates were seen and suppressed')
      assert.ok(uni(a!).stats().retransmissions > 0)
    })
  }

  test('a message to a node that never answers fails with a TimeoutError', async () => {
    const [a] = c.nodes
    a!.links.setRule('node2', { loss: 1 })
    await assert.rejects(uni(a!).send('node2', 'lost', { timeoutMs: 300 }), { code: 'ERR_TIMEOUT' })
    a!.links.heal()
    // The stream goes on after a message was given up.
    const r = await uni(a!).send('node2', 'after')
    assert.equal(r.delivered, true)
    const msgs = uni(c.nodes[1]!)
      .delivered()
      .messages.map((m) => m.msg)
    assert.ok(msgs.includes('after'))
    assert.ok(!msgs.includes('lost'))
  })

  test('messages taken in behind one the sender gave up on are delivered, not held for good', async () => {
    // The first message's only frame is lost, and its 300 ms run out before its first
    // retransmission (1 s). The next three arrive and are acknowledged while it is missing, so the
    // receiver holds them; the frames that carried them said nothing of the give-up, and nothing is
    // left in flight. The sender's skip frame lets the receiver deliver them.
    const slow = await memoryCluster(
      2,
      () => [unicast({ initialRetransmitTimeoutMs: 1000, maxRetransmitTimeoutMs: 1000 })],
      12,
    )
    try {
      const [a, b] = slow.nodes as [Node, Node]
      a.links.setRule('node2', { loss: 1 })
      const head = uni(a).send('node2', 'head', { timeoutMs: 300 })
      const headFailed = assert.rejects(head, { code: 'ERR_TIMEOUT' })
      a.links.heal()
      const rest = await Promise.all(['m1', 'm2', 'm3'].map((m) => uni(a).send('node2', m)))
      assert.ok(rest.every((r) => r.delivered))
      await headFailed
      const msgs = () =>
        uni(b)
          .delivered()
          .messages.map((m) => m.msg)
      await waitFor('the held messages to be delivered', () => msgs().length === 3, 10_000, 20)
      assert.deepEqual(msgs(), ['m1', 'm2', 'm3'])
      // The stream goes on after the skip.
      assert.equal((await uni(a).send('node2', 'after')).delivered, true)
      assert.deepEqual(msgs(), ['m1', 'm2', 'm3', 'after'])
    } finally {
      await slow.stop()
    }
  })

  test('a message is given up when the timer armed for its deadline fires, though the clock reads a little before it', async () => {
    // Node's timers run on the event loop's cached time: on a busy loop a timer fires while
    // Date.now() still reads before the time it was armed for. This clock's timers fire 20 ms early.
    const early: Clock = {
      now: () => Date.now(),
      setTimeout: (fn, ms) => systemClock.setTimeout(fn, Math.max(0, ms - 20)),
      clearTimeout: (h) => systemClock.clearTimeout(h),
    }
    const c2 = await memoryCluster(
      2,
      () => [unicast({ initialRetransmitTimeoutMs: 1000, maxRetransmitTimeoutMs: 1000 })],
      14,
      early,
    )
    try {
      const [a] = c2.nodes as [Node, Node]
      a.links.setRule('node2', { loss: 1 })
      await assert.rejects(uni(a).send('node2', 'lost', { timeoutMs: 300 }), { code: 'ERR_TIMEOUT' })
      // One send, no retransmission: the deadline's timer ends the message, it does not send it again.
      assert.equal(uni(a).stats().retransmissions, 0)
    } finally {
      await c2.stop()
    }
  })

  test('an unknown destination is refused at once', async () => {
    await assert.rejects(uni(c.nodes[0]!).send('nobody', 'x'), { code: 'ERR_UNKNOWN_PEER' })
  })

  test('bad and replayed frames are dropped and counted; delivery goes on', async () => {
    const [a, b] = [c.nodes[0]!, c.nodes[1]!]
    const discarded = (reason: string) =>
      b.metrics.get('distlab_messages_discarded_total', { proto: 'unicast', reason })
    const before = { bad: discarded('bad_body'), replay: discarded('replay') }
    await a.send('unicast', 'node2', 'data', { s: 'x', q: -1, b: 0, m: 1 })
    await a.send('unicast', 'node2', 'data', 'garbage')
    await a.send('unicast', 'node2', 'ack', { s: 1 })
    // node1 already spoke to node2: a frame of a session older than its current one is a replay.
    await uni(a).send('node2', 'current session')
    await a.send('unicast', 'node2', 'data', { s: '1-aaaa', q: 0, b: 0, m: 'replayed' })
    await new Promise((r) => setTimeout(r, 200))
    assert.ok(discarded('bad_body') >= before.bad + 3)
    assert.equal(discarded('replay'), before.replay + 1)
    assert.ok(
      !uni(b)
        .delivered()
        .messages.some((m) => m.msg === 'replayed'),
    )
    const r = await uni(a).send('node2', 'still fine')
    assert.equal(r.delivered, true)
  })

  test('POST /unicast answers {delivered, rttMs}; bad bodies get 400 naming the field', async () => {
    const n1 = c.nodes[0]!
    const r = await postJson<{ delivered: boolean; rttMs: number; to: string }>(`${n1.httpUrl}/unicast`, {
      to: 'node3',
      msg: 'via http',
    })
    assert.equal(r.status, 200)
    assert.equal(r.body.delivered, true)
    assert.equal(typeof r.body.rttMs, 'number')
    const got = await getJson<{ messages: Array<{ msg: unknown; from: string }> }>(
      `${c.nodes[2]!.httpUrl}/unicast/delivered`,
    )
    assert.ok(got.body.messages.some((m) => m.msg === 'via http' && m.from === 'node1'))
    const bad = await postJson<{ field: string }>(`${n1.httpUrl}/unicast`, { to: 5, msg: 'x' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.field, 'to')
    const unknown = await postJson<{ error: string }>(`${n1.httpUrl}/unicast`, { to: 'ghost', msg: 'x' })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.error, 'unknown_peer')
  })
})
