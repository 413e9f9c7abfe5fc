import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { analyzeEvents, quantile, messageCount } from '../../src/monitor/analyzer.js'
import type { TelemetryEvent } from '../../src/core/telemetry.js'

const clock = 1_700_000_000_000
const ev = (e: Partial<TelemetryEvent> & Pick<TelemetryEvent, 'kind' | 'node'>): TelemetryEvent => ({
  ts: clock,
  proto: 'unicast',
  msgId: '',
  src: e.node,
  dst: 'node2',
  bytes: 100,
  transport: 'udp',
  ...e,
})

describe('analyzer', () => {
  test('counts sends, receives and drops per protocol and node, and matches latency by message id', () => {
    const t = clock
    const events: TelemetryEvent[] = []
    // Ten unicast messages node1 → node2, each arriving 10·i ms later; the last one lost by the link.
    for (let i = 1; i <= 10; i++) {
      if (i === 10) {
        events.push(ev({ ts: t + i, kind: 'drop', node: 'node1', msgId: `m${i}`, reason: 'loss', bytes: 0 }))
        continue
      }
      events.push(ev({ ts: t + i, kind: 'send', node: 'node1', msgId: `m${i}` }))
      events.push(ev({ ts: t + i + 10 * i, kind: 'recv', node: 'node2', src: 'node1', msgId: `m${i}` }))
      events.push(
        ev({ ts: t + i + 10 * i, kind: 'deliver', node: 'node2', src: 'node1', msgId: `m${i}`, bytes: 0 }),
      )
    }
    // One duplicate arrival of m1 (a retransmission that crossed its ack).
    events.push(ev({ ts: t + 200, kind: 'send', node: 'node1', msgId: 'm1' }))
    events.push(ev({ ts: t + 201, kind: 'recv', node: 'node2', src: 'node1', msgId: 'm1' }))
    events.sort((a, b) => a.ts - b.ts)

    const r = analyzeEvents(events, { run: 'r1', lostEvents: 3 })
    assert.equal(r.run, 'r1')
    assert.equal(r.events, events.length)
    assert.equal(r.lostEvents, 3)
    const u = r.protocols.unicast!
    // 9 sends, the one the link lost on the way out, and the retransmission of m1.
    assert.equal(u.sent, 11)
    assert.equal(u.uniqueMessages, 10)
    assert.equal(u.received, 10)
    assert.equal(u.dropped, 1)
    assert.equal(u.bytes, 1000)
    assert.equal(u.duplicates, 1)
    assert.equal(u.delivered, 9)
    // 9 of the 10 intended receptions happened (the dropped one was meant for node2 too).
    assert.equal(u.deliveryRatio, 0.9)
    // Latencies 10, 20, ..., 90 ms.
    assert.deepEqual(u.latencyMs, { p50: 50, p95: 90, p99: 90, max: 90 })
    // 11 messages for 9 deliveries: two were unnecessary.
    assert.equal(u.unnecessaryRatio, 0.182)
    assert.equal(r.nodes.node1!.sent, 11)
    assert.equal(r.nodes.node1!.dropped, 1)
    assert.equal(r.nodes.node2!.received, 10)
    assert.equal(r.nodes.node2!.duplicates, 1)
    assert.equal(messageCount(r), 11)
  })

  test('a message to * is meant for every other node of the run', () => {
    const t = clock
    const events = [
      ev({ ts: t, kind: 'send', node: 'node1', proto: 'broadcast', dst: '*', msgId: 'b1' }),
      ev({ ts: t + 1, kind: 'recv', node: 'node2', proto: 'broadcast', src: 'node1', dst: '*', msgId: 'b1' }),
      ev({ ts: t + 2, kind: 'recv', node: 'node3', proto: 'broadcast', src: 'node1', dst: '*', msgId: 'b1' }),
    ]
    const r = analyzeEvents(events, { run: 'r', members: ['master', 'node1', 'node2', 'node3', 'node4'] })
    // master and node4 did not receive it: 2 of 4.
    assert.equal(r.protocols.broadcast!.deliveryRatio, 0.5)
    assert.equal(r.protocols.broadcast!.latencyMs.max, 2)
  })

  test('a receive reported before its send still gives a latency', () => {
    const t = clock
    const events = [
      ev({ ts: t + 5, kind: 'recv', node: 'node2', msgId: 'x' }),
      ev({ ts: t + 5, kind: 'send', node: 'node1', msgId: 'x' }),
    ]
    const r = analyzeEvents(events, { run: 'r' })
    assert.equal(r.protocols.unicast!.latencyMs.p50, 0)
  })

  test('flooding shows up as unnecessary traffic', () => {
    // 4 nodes, one broadcast flooded: each of 4 nodes forwards to 3 others = 12 messages, 3 deliveries.
    const events: TelemetryEvent[] = []
    const nodes = ['node1', 'node2', 'node3', 'node4']
    for (const a of nodes)
      for (const b of nodes)
        if (a !== b) {
          events.push(ev({ kind: 'send', node: a, dst: b, proto: 'flood', msgId: `${a}-${b}` }))
          events.push(ev({ kind: 'recv', node: b, src: a, dst: b, proto: 'flood', msgId: `${a}-${b}` }))
        }
    for (const b of ['node2', 'node3', 'node4'])
      events.push(ev({ kind: 'deliver', node: b, dst: b, proto: 'flood', msgId: `node1-${b}` }))
    const r = analyzeEvents(events, { run: 'r' })
    assert.equal(r.protocols.flood!.sent, 12)
    assert.equal(r.protocols.flood!.unnecessaryRatio, 0.75)
  })

  test('delivery is delivered / unique messages: retransmissions, acks and duplicates do not count against it', () => {
    const t = clock
    const u = (e: Partial<TelemetryEvent> & Pick<TelemetryEvent, 'kind' | 'node'>) =>
      ev({ dst: 'node3', src: 'node1', ...e })
    const events = [
      // m1: sent, lost by the link, resent with the same id, delivered; its first ack lost too.
      u({ ts: t, kind: 'drop', node: 'node1', msgId: 'm1', type: 'data', reason: 'loss', bytes: 0 }),
      u({ ts: t + 30, kind: 'send', node: 'node1', msgId: 'm1', type: 'data' }),
      u({ ts: t + 31, kind: 'recv', node: 'node3', msgId: 'm1', type: 'data' }),
      u({ ts: t + 31, kind: 'deliver', node: 'node3', msgId: 'm1', type: 'data' }),
      u({
        ts: t + 31,
        kind: 'drop',
        node: 'node3',
        src: 'node3',
        dst: 'node1',
        msgId: 'a1',
        type: 'ack',
        reason: 'loss',
      }),
      // ... so m1 came again: a duplicate the receiver suppressed.
      u({ ts: t + 90, kind: 'send', node: 'node1', msgId: 'm1', type: 'data' }),
      u({ ts: t + 91, kind: 'recv', node: 'node3', msgId: 'm1', type: 'data' }),
      u({ ts: t + 91, kind: 'drop', node: 'node3', msgId: 'm1', type: 'data', reason: 'duplicate' }),
      u({ ts: t + 91, kind: 'send', node: 'node3', src: 'node3', dst: 'node1', msgId: 'a2', type: 'ack' }),
      u({ ts: t + 92, kind: 'recv', node: 'node1', src: 'node3', dst: 'node1', msgId: 'a2', type: 'ack' }),
      // A broadcast: delivered by its origin, then by two of the other three nodes.
      ev({
        ts: t + 100,
        kind: 'deliver',
        node: 'node1',
        proto: 'broadcast',
        src: 'node1',
        dst: '*',
        msgId: 'b1',
        type: 'deliver',
      }),
      ev({
        ts: t + 101,
        kind: 'send',
        node: 'node1',
        proto: 'broadcast',
        src: 'node1',
        dst: 'node2',
        msgId: 'f1',
        type: 'msg',
      }),
      ev({
        ts: t + 102,
        kind: 'deliver',
        node: 'node2',
        proto: 'broadcast',
        src: 'node1',
        dst: '*',
        msgId: 'b1',
        type: 'deliver',
      }),
      ev({
        ts: t + 103,
        kind: 'deliver',
        node: 'node3',
        proto: 'broadcast',
        src: 'node1',
        dst: '*',
        msgId: 'b1',
        type: 'deliver',
      }),
    ]
    const r = analyzeEvents(events, { run: 'r', members: ['node1', 'node2', 'node3', 'node4'] })
    const uni = r.protocols.unicast!
    assert.equal(uni.sent, 5)
    assert.equal(uni.uniqueMessages, 1)
    assert.equal(uni.deliveryRatio, 1)
    const b = r.protocols.broadcast!
    assert.equal(b.uniqueMessages, 1)
    assert.equal(b.deliveryRatio, 0.667)
  })

  test('no events: empty report, no crash', () => {
    const r = analyzeEvents([], { run: 'empty' })
    assert.deepEqual(r, { run: 'empty', events: 0, lostEvents: 0, protocols: {}, nodes: {} })
  })

  test('quantile is nearest-rank', () => {
    assert.equal(quantile([], 0.5), null)
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2)
    assert.equal(quantile([1, 2, 3, 4], 0.99), 4)
    assert.equal(quantile([7], 0.01), 7)
  })
})
