// Issue 14 items 6 and 13 against a live node on real sockets (127.61.1.x, ports from the OS):
//  - out-of-order frames from invented sender names (item 6): frames over MAX_MESSAGE_BYTES are
//    dropped on receive, the bytes held for out-of-order messages stay within their caps, the
//    senders remembered stay within theirs, idle buffers are freed, and unicast still works;
//  - a single spoofed frame with src=master and a future session from another address (item 13)
//    does not make master->node1 unicast drop as a replay.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { createSocket } from 'node:dgram'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import {
  unicast,
  MAX_MESSAGE_BYTES,
  MAX_RECEIVE_SENDERS,
  RECEIVE_BUFFER_TOTAL_BYTES,
  type Unicast,
} from '../../src/protocols/unicast/index.js'
import { waitFor } from '../helpers.js'
import { attackerSocket, jsonFrame, prefixed } from './frames.js'

const ATTACKER = '127.61.1.9'
const uni = (n: Node) => n.protocol<Unicast>('unicast')!
const discarded = (n: Node, reason: string) =>
  n.metrics.get('distlab_messages_discarded_total', { proto: 'unicast', reason })

const dataFrame = (src: string, dst: string, body: Record<string, unknown>, id: string): Buffer =>
  jsonFrame('unicast', 'data', src, dst, body, id)

async function write(sock: Socket, frame: Buffer): Promise<void> {
  await new Promise<void>((r) => sock.write(prefixed(frame), () => r()))
}

describe('hostile unicast traffic', () => {
  const IDLE_MS = 5000
  const master = createNode({
    name: 'master',
    host: '127.61.1.1',
    httpPort: 0,
    framePort: 0,
    protocols: [unicast()],
  })
  let n1: Node
  let sock: Socket

  before(async () => {
    await master.start()
    n1 = createNode({
      name: 'node1',
      host: '127.61.1.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      protocols: [unicast({ receiveIdleMs: IDLE_MS })],
    })
    await n1.start()
    for (const n of [master, n1]) await n.refreshMembers()
    sock = await attackerSocket('127.61.1.2', n1.self().framePort, ATTACKER)
  })
  after(async () => {
    sock.destroy()
    await n1.stop()
    await master.stop()
  })

  test('out-of-order large frames from invented senders: bounded state, freed when idle, unicast still delivered', async () => {
    const rssBefore = process.memoryUsage().rss
    const session = `${Date.now().toString(36)}-abcd`
    // 1. Frames of ~1 MB (the transport's limit), far over the largest message: not held at all.
    const BIG = 30
    const big = 'x'.repeat(1_000_000)
    const tooLargeBefore = discarded(n1, 'too_large')
    for (let i = 0; i < BIG; i++)
      await write(sock, dataFrame(`ghost-big${i}`, 'node1', { s: session, q: 3, b: 0, m: big }, `big-${i}`))
    await waitFor('the big frames dropped', () => discarded(n1, 'too_large') - tooLargeBefore >= BIG, 60_000)
    assert.equal(uni(n1).stats().receiveBufferedBytes, 0)

    // 2. Frames just under the message limit, out of order (q=5 with 0..4 never sent), one per
    // invented sender, 30 MB in all: held only up to the total cap, the rest refused.
    const MID = 600
    const mid = 'y'.repeat(MAX_MESSAGE_BYTES - 200)
    const refusedBefore = uni(n1).stats().refused
    const outOfOrderBefore = uni(n1).stats().outOfOrder
    // In batches of 50 frames per write, so that the flood arrives well within the idle time.
    for (let i = 0; i < MID; i += 50) {
      const batch: Buffer[] = []
      for (let k = i; k < i + 50; k++)
        batch.push(
          prefixed(dataFrame(`ghost-mid${k}`, 'node1', { s: session, q: 5, b: 0, m: mid }, `mid-${k}`)),
        )
      await new Promise<void>((r) => sock.write(Buffer.concat(batch), () => r()))
    }
    let held = 0
    await waitFor(
      'the mid frames processed',
      () => {
        const s = uni(n1).stats()
        held = Math.max(held, s.receiveBufferedBytes)
        return s.refused - refusedBefore + (s.outOfOrder - outOfOrderBefore) >= MID
      },
      60_000,
      5,
    )
    assert.ok(held > 0, 'some out-of-order messages are held')
    assert.ok(held <= RECEIVE_BUFFER_TOTAL_BYTES, `held ${held} bytes`)
    assert.ok(uni(n1).stats().refused > refusedBefore, 'past the cap frames are refused')

    // 3. Tiny frames from more invented names than the sender cap.
    const NAMES = MAX_RECEIVE_SENDERS + 1500
    const counted = () => uni(n1).stats().refused + uni(n1).stats().outOfOrder
    const countedBefore = counted()
    for (let i = 0; i < NAMES; i += 100) {
      const batch: Buffer[] = []
      for (let k = i; k < Math.min(NAMES, i + 100); k++)
        batch.push(prefixed(dataFrame(`ghost-name${k}`, 'node1', { s: session, q: 1, b: 0, m: 1 }, `n-${k}`)))
      await new Promise<void>((r) => sock.write(Buffer.concat(batch), () => r()))
    }
    await waitFor('the name flood processed', () => counted() - countedBefore >= NAMES, 60_000)
    assert.ok(
      uni(n1).stats().receiveSenders <= MAX_RECEIVE_SENDERS,
      `${uni(n1).stats().receiveSenders} senders`,
    )
    const grown = (process.memoryUsage().rss - rssBefore) / 1e6
    assert.ok(grown < 150, `RSS grew ${grown.toFixed(0)} MB`)

    // 4. The flood stops: its buffers are freed once idle.
    await waitFor('idle buffers freed', () => uni(n1).stats().receiveBufferedBytes === 0, 30_000)

    // 5. Still a working receiver, from a real member.
    const r = await uni(master).send('node1', 'after the flood', { timeoutMs: 20_000 })
    assert.equal(r.delivered, true)
    assert.ok(
      uni(n1)
        .delivered()
        .messages.some((m) => m.from === 'master' && m.msg === 'after the flood'),
    )
  })

  test('a spoofed frame with src=master and a future session does not make master->node1 drop as replay', async () => {
    const first = await uni(master).send('node1', 'before the spoof', { timeoutMs: 20_000 })
    assert.equal(first.delivered, true)
    const udp = createSocket('udp4')
    await new Promise<void>((r) => udp.bind(0, ATTACKER, () => r()))
    try {
      const future = `${(Date.now() + 365 * 86_400_000).toString(36)}-deadbeef`
      const spoof = dataFrame('master', 'node1', { s: future, q: 0, b: 0, m: 'spoofed' }, 'spoof-1')
      await new Promise<void>((r, j) =>
        udp.send(spoof, n1.self().framePort, '127.61.1.2', (e) => (e ? j(e) : r())),
      )
      // The spoofed frame was received (it is acknowledged towards the real master, who ignores it).
      await waitFor('the spoofed frame received', () =>
        uni(n1)
          .delivered()
          .messages.some((m) => m.msg === 'spoofed'),
      )
    } finally {
      udp.close()
    }
    const replayBefore = discarded(n1, 'replay')
    for (let i = 0; i < 3; i++) {
      const r = await uni(master).send('node1', `after the spoof ${i}`, { timeoutMs: 15_000 })
      assert.equal(r.delivered, true)
    }
    assert.equal(discarded(n1, 'replay'), replayBefore)
    const got = uni(n1)
      .delivered()
      .messages.filter((m) => m.from === 'master' && String(m.msg).startsWith('after the spoof'))
      .map((m) => m.msg)
    assert.deepEqual(got, ['after the spoof 0', 'after the spoof 1', 'after the spoof 2'])
  })
})
