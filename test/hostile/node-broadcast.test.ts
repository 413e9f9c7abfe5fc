// Issue 14 items 2, 5 and 9 against live nodes on real sockets (127.20.2.x, ports from the OS):
//  - IHAVE floods (item 5): thousands of announced ids from invented names and from a real
//    member's name; the node stays up, its missing-id table stays within its cap, and the master
//    sees no member-list request caused by them (at most 1 per 100 hostile frames);
//  - the broadcast store past 150k ids from one origin (item 9): eviction without a spread;
//  - the ip socket (item 2): bound to the node's broadcast address, not 0.0.0.0, opened only once
//    the ip strategy is used, and a garbage datagram to it is counted, not fatal.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { broadcast, broadcastDefaults, type Broadcast } from '../../src/protocols/broadcast/index.js'
import { waitFor } from '../helpers.js'
import { prefixed, rawFrame } from './frames.js'
import type { Ping } from '../../src/protocols/ping/index.js'

const IP_PORT = 17_311
const bc = (n: Node) => n.protocol<Broadcast>('broadcast')!
const has = (n: Node, id: string) =>
  bc(n)
    .delivered(0, 'all')
    .messages.some((m) => m.id === id)
const memberRequests = (master: Node) => master.metrics.total('distlab_member_list_requests_total')

/** UDP sockets bound to port `port`, as `ss` shows them: local addresses. */
function udpListeners(port: number): string[] {
  const out = execFileSync('ss', ['-H', '-u', '-a', '-n'], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[3] ?? '')
    .filter((local) => local.endsWith(`:${port}`))
}

describe('hostile broadcast traffic', () => {
  const make = () => broadcast({ ipPort: IP_PORT, graftTimeoutMs: 200, antiEntropyIntervalMs: 0 })
  const master = createNode({
    name: 'master',
    host: '127.20.2.1',
    httpPort: 0,
    framePort: 0,
    protocols: [make()],
  })
  let n1: Node
  let n2: Node
  let udp: UdpSocket

  before(async () => {
    await master.start()
    // No periodic member refresh during the test: every member-list request the master counts is
    // one the hostile frames caused, however long a loaded machine takes over the flood.
    const common = {
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      membersRefreshMs: 3_600_000,
      protocols: [make()],
    }
    n1 = createNode({ name: 'node1', host: '127.20.2.2', ...common })
    n2 = createNode({ name: 'node2', host: '127.20.2.3', ...common })
    await n1.start()
    await n2.start()
    for (const n of [master, n1, n2]) await n.refreshMembers()
    udp = createSocket('udp4')
    await new Promise<void>((r) => udp.bind(0, '127.20.2.9', () => r()))
  })
  after(async () => {
    udp.close()
    await n2.stop()
    await n1.stop()
    await master.stop()
  })

  const sendTo = (frame: Buffer, port: number, host: string) =>
    new Promise<void>((r, j) => udp.send(frame, port, host, (e) => (e ? j(e) : r())))

  const ihave = (src: string, from: number, count: number) =>
    rawFrame({
      header: {
        v: 1,
        id: `atk-${src}-${from}`,
        proto: 'broadcast',
        type: 'ihave',
        src,
        dst: 'node2',
        ts: Date.now(),
      },
      body: Buffer.from(
        JSON.stringify({
          i: Array.from({ length: count }, (_, k) => [`ghost~${src}`, from + k]),
          h: Array.from({ length: count }, () => 1),
        }),
      ),
    })

  test('an IHAVE flood from invented names and a member name: bounded state, no calls to the master', async () => {
    const port = n2.self().framePort
    const requestsBefore = memberRequests(master)
    const rssBefore = process.memoryUsage().rss
    const FRAMES = 200
    let sent = 0
    // Over TCP, so that the kernel drops none of the flood and every count is exact.
    const sock = connect({ host: '127.20.2.3', port, localAddress: '127.20.2.9' })
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
    sock.on('error', () => {})
    for (let f = 0; f < FRAMES; f++) {
      // Half from names no member has, half in a real member's name (spoofable without a key).
      const src = f % 2 === 0 ? `invented${f}` : 'node1'
      await new Promise<void>((r) => sock.write(prefixed(ihave(src, f * 1000, 1000)), () => r()))
      sent++
    }
    // Two seconds here; generous, for a machine that another heavy test is loading.
    await waitFor('the flood processed', () => bc(n2).stats().dropped >= FRAMES / 2 - 5, 120_000)
    // Let graft timeouts fire and any refreshes they would cause happen.
    await new Promise((r) => setTimeout(r, 1500))
    sock.destroy()
    assert.ok(bc(n2).stats().missing <= 10_000, `missing ids ${bc(n2).stats().missing}`)
    const caused = memberRequests(master) - requestsBefore
    assert.ok(caused <= Math.ceil(sent / 100), `${caused} member-list requests for ${sent} hostile frames`)
    const grown = (process.memoryUsage().rss - rssBefore) / 1e6
    assert.ok(grown < 150, `RSS grew ${grown.toFixed(0)} MB`)
    // Still a working node.
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2', 5000, 'udp')).rttMs >= 0)
    const r = await bc(n1).broadcast('after the flood', { strategy: 'flood' })
    await waitFor('delivered on node2', () => has(n2, r.id), 30_000)
  })

  test('past 150k stored ids from one origin, eviction works (no spread over the ids)', async () => {
    const STORE = 150_000
    const solo = createNode({
      name: 'solo',
      host: '127.20.2.20',
      httpPort: 0,
      framePort: 0,
      protocols: [broadcast({ ipPort: 0, maxStoredMessages: STORE, antiEntropyIntervalMs: 0 })],
    })
    await solo.start()
    const sock = connect({ host: '127.20.2.20', port: solo.self().framePort, localAddress: '127.20.2.9' })
    try {
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
      // One origin, seq 0 never sent: nothing becomes contiguous, so every id stays in one table.
      const TOTAL = STORE + 200
      const PER = 1000
      for (let at = 1; at <= TOTAL; at += PER) {
        const m = Array.from({ length: PER }, (_, k) => ({
          o: 'far~1',
          q: at + k,
          v: 0,
          s: 'flood',
          t: 1,
          h: 1,
        }))
        const frame = rawFrame({
          header: { v: 1, id: `bk-${at}`, proto: 'broadcast', type: 'msg', src: 'far', dst: 'solo', ts: 1 },
          body: Buffer.from(JSON.stringify({ m, a: 1 })),
        })
        await new Promise<void>((r) => sock.write(prefixed(frame), () => r()))
      }
      const last = `far~1.${TOTAL}`
      await waitFor('the last message delivered', () => has(solo, last), 60_000)
      assert.ok(bc(solo).delivered(0, 'all').messages.length <= STORE)
      // Kept within the byte budget (the count cap is larger here): payloads evicted and counted,
      // the delivery log too, and one range of seqs for the duplicate table.
      // Whole frames of PER: seqs 1 to SENT.
      const SENT = Math.ceil(TOTAL / PER) * PER
      await waitFor('every message delivered', () => bc(solo).stats().delivered === SENT, 60_000)
      const s = bc(solo).stats()
      assert.equal(s.delivered, SENT)
      assert.ok(s.storedBytes <= broadcastDefaults.MAX_STORED_BYTES, `stored ${s.storedBytes} bytes`)
      assert.ok(s.payloadsEvicted > 0 && s.deliveriesEvicted > 0, JSON.stringify(s))
      assert.equal(s.stored + s.payloadsEvicted, SENT)
      assert.equal(
        solo.metrics.total('distlab_broadcast_evicted_total', { what: 'payloads' }),
        s.payloadsEvicted,
      )
      // An evicted message sent again is a duplicate: never delivered twice.
      const again = rawFrame({
        header: { v: 1, id: 'bk-again', proto: 'broadcast', type: 'msg', src: 'far', dst: 'solo', ts: 1 },
        body: Buffer.from(JSON.stringify({ m: [{ o: 'far~1', q: 1, v: 0, s: 'flood', t: 1, h: 1 }], a: 1 })),
      })
      await new Promise<void>((r) => sock.write(prefixed(again), () => r()))
      await waitFor('the copy counted as a duplicate', () => bc(solo).stats().duplicates >= s.duplicates + 1)
      assert.equal(bc(solo).stats().delivered, SENT)
      assert.ok(
        (
          await solo
            .protocol<Ping>('ping')!
            .ping('solo', 5000, 'udp')
            .catch(() => ({ rttMs: 0 }))
        ).rttMs >= 0,
      )
    } finally {
      sock.destroy()
      await solo.stop()
    }
  })

  test('the ip socket: opened on first use, on the broadcast address only; garbage is counted', async () => {
    // Nobody has used the ip strategy yet: no socket on the port at all.
    assert.deepEqual(udpListeners(IP_PORT), [])
    const r = await bc(n1).broadcast('ip hello', { strategy: 'ip' })
    for (const n of [master, n2]) await waitFor(`${n.name} has it`, () => has(n, r.id))
    await waitFor('sockets open on every node', () => udpListeners(IP_PORT).length >= 3)
    const listeners = udpListeners(IP_PORT)
    assert.ok(
      listeners.every((l) => l === `127.255.255.255:${IP_PORT}`),
      listeners.join(', '),
    )
    // Garbage to the broadcast port: counted, the node goes on.
    const before = bc(n2).stats().dropped
    udp.setBroadcast(true)
    await sendTo(Buffer.from('not a frame at all'), IP_PORT, '127.255.255.255')
    await sendTo(rawFrame({ header: { v: 1 }, body: Buffer.from('[[[[') }), IP_PORT, '127.255.255.255')
    await waitFor('garbage counted', () => bc(n2).stats().dropped >= before + 2)
    const again = await bc(n2).broadcast('ip again', { strategy: 'ip' })
    for (const n of [master, n1]) await waitFor(`${n.name} has it`, () => has(n, again.id))
  })
})
