// Issue 14 item 6 (open cluster): frames from invented sender names must not make a node ask the
// master for the member list once per frame. A unicast data frame is acknowledged and a ping is
// answered to the name the frame claims; the node does not know that name, and a reply to it asks
// the master at most once per UNKNOWN_SENDER_REFRESH_MS (the bench's target: at most 1 request per
// 100 hostile inputs). A genuine newcomer the node has not heard of yet is still answered.
// Real sockets on 127.91.0.x (this file's own block), ports from the OS.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { UNKNOWN_SENDER_REFRESH_MS } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { unicast, type Unicast } from '../../src/protocols/unicast/index.js'
import { waitFor } from '../helpers.js'
import { attackerSocket, jsonFrame, prefixed } from './frames.js'

const ATTACKER = '127.91.0.9'
const uni = (n: Node) => n.protocol<Unicast>('unicast')!
const requests = (master: Node) => master.metrics.get('distlab_member_list_requests_total', {})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const frame = jsonFrame

describe('frames from invented senders', () => {
  const master = createNode({
    name: 'master',
    host: '127.91.0.1',
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
      host: '127.91.0.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      // No periodic refresh: every member-list request the master counts was caused by a frame.
      membersRefreshMs: 3_600_000,
      protocols: [unicast()],
    })
    await n1.start()
    await n1.refreshMembers()
    sock = await attackerSocket('127.91.0.2', n1.self().framePort, ATTACKER)
  })
  after(async () => {
    sock.destroy()
    await n1.stop()
    await master.stop()
  })

  test('out-of-order unicast data and pings from 120 invented names over 3 s: at most one member-list request', async () => {
    const session = `${Date.now().toString(36)}-abcd`
    const before = requests(master)
    const received = () => n1.metrics.total('distlab_frames_received_total', { transport: 'tcp' })
    const unanswered = () =>
      n1.metrics.total('distlab_frames_dropped_total', { reason: 'unknown_peer', direction: 'out' })
    const receivedBefore = received()
    const unansweredBefore = unanswered()
    // Paced over three seconds: a limit of one request a second (what replies had before) lets
    // three or four through; the frames themselves are written whole over TCP, none lost.
    const FRAMES = 60
    for (let i = 0; i < FRAMES; i++) {
      const data = frame(
        'unicast',
        'data',
        `ghost${i}`,
        'node1',
        { s: session, q: 5, b: 0, m: 'x'.repeat(1000) },
        `u-${i}`,
      )
      const ping = frame('ping', 'ping', `phantom${i}`, 'node1', {}, `p-${i}`)
      await new Promise<void>((r) => sock.write(Buffer.concat([prefixed(data), prefixed(ping)]), () => r()))
      await sleep(50)
    }
    await waitFor('every frame taken in', () => received() - receivedBefore >= 2 * FRAMES, 60_000)
    // Every ack and pong went nowhere (their names are not members), none left waiting on the master.
    await waitFor('every reply settled', () => unanswered() - unansweredBefore >= 2 * FRAMES, 60_000)
    const caused = requests(master) - before
    assert.ok(caused <= 1, `${caused} member-list requests for ${2 * FRAMES} frames from invented names`)
    assert.ok(UNKNOWN_SENDER_REFRESH_MS >= 10_000)
  })
})

describe('a genuine newcomer', () => {
  const master = createNode({
    name: 'master',
    host: '127.91.0.11',
    httpPort: 0,
    framePort: 0,
    protocols: [unicast()],
  })
  let n1: Node
  let n2: Node

  before(async () => {
    await master.start()
    n1 = createNode({
      name: 'node1',
      host: '127.91.0.12',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      membersRefreshMs: 3_600_000,
      protocols: [unicast()],
    })
    await n1.start()
    await n1.refreshMembers()
    // node2 joins after node1 read the list: node1 does not know it yet.
    n2 = createNode({
      name: 'node2',
      host: '127.91.0.13',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      membersRefreshMs: 3_600_000,
      protocols: [unicast()],
    })
    await n2.start()
    await n2.refreshMembers()
  })
  after(async () => {
    await n2.stop()
    await n1.stop()
    await master.stop()
  })

  test('is acknowledged: the reply finds it in the member list', async () => {
    assert.equal(n1.member('node2'), undefined, 'node1 has not heard of node2 yet')
    const r = await uni(n2).send('node1', 'hello from a newcomer', { timeoutMs: 20_000 })
    assert.equal(r.delivered, true)
    assert.ok(n1.member('node2'), 'node1 found node2 in the member list')
  })
})
