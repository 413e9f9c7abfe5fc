// The per-address cap on a node's TCP frame port, on real sockets (127.92.x.y): a flood of
// connections from one address is held to the cap, every connection over it is closed at once and
// counted in /metrics, and the node goes on serving other addresses, frames from its peers included.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { TcpTransport, MAX_CONNECTIONS_PER_ADDRESS } from '../../src/transport/tcp.js'
import type { DropInfo } from '../../src/core/interfaces.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { getJson, postJson, waitFor } from '../helpers.js'
import { metricSum, scrapeMetrics } from '../../src/scenario/fuzz.js'

const CAP = 16
const FLOOD = 48

/** Opens `count` connections from `localAddress`; resolves with them once each is open or closed. */
async function flood(host: string, port: number, localAddress: string, count: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const s = connect({ host, port, localAddress })
          sockets.push(s)
          s.on('error', () => resolve())
          s.once('connect', () => resolve())
          s.once('close', () => resolve())
        }),
    ),
  )
  return sockets
}

const closedCount = (sockets: Socket[]) => sockets.filter((s) => s.closed || s.destroyed).length

describe('per-address connection cap on the TCP frame port', { timeout: 120_000 }, () => {
  const master = createNode({ name: 'master', host: '127.92.1.1', httpPort: 0, framePort: 0 })
  let target: Node
  let peer: Node
  let framePort = 0
  const open: Socket[] = []

  before(async () => {
    await master.start()
    target = createNode({
      name: 'node1',
      host: '127.92.2.1',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      maxConnectionsPerAddress: CAP,
    })
    peer = createNode({
      name: 'node2',
      host: '127.92.2.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
    })
    await target.start()
    await peer.start()
    await target.refreshMembers()
    await peer.refreshMembers()
    const members = await getJson<{ members: Array<{ name: string; framePort: number }> }>(
      `${master.httpUrl}/cluster/members`,
    )
    framePort = members.body.members.find((m) => m.name === 'node1')!.framePort
    assert.ok(framePort > 0)
  })
  after(async () => {
    for (const s of open) s.destroy()
    await peer?.stop()
    await target?.stop()
    await master.stop()
  })

  test('a flood from one address is held to the cap, the rest closed at once and counted', async () => {
    const before_ = await scrapeMetrics('127.92.2.1', Number(new URL(target.httpUrl).port))
    const sockets = await flood('127.92.2.1', framePort, '127.92.9.9', FLOOD)
    open.push(...sockets)
    // The node closes every connection over the cap without waiting for it to send anything.
    await waitFor('connections over the cap closed', () => closedCount(sockets) >= FLOOD - CAP, 30_000)
    // The first CAP stay open (give a late close time to show up, then look again).
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(closedCount(sockets), FLOOD - CAP)
    const now = await scrapeMetrics('127.92.2.1', Number(new URL(target.httpUrl).port))
    const rejected = (t: string) =>
      metricSum(t, 'distlab_frames_dropped_total', {
        reason: 'too_many_connections',
        transport: 'tcp',
        direction: 'in',
      })
    assert.equal(rejected(now) - rejected(before_), FLOOD - CAP)
  })

  test('while one address is at its cap, another address and the peers are served', async () => {
    // A fresh address gets its own allowance.
    const other = await flood('127.92.2.1', framePort, '127.92.9.10', 4)
    open.push(...other)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(closedCount(other), 0)
    // A peer's frames over TCP still arrive and are answered.
    const r = await postJson<{ rttMs: number; transport: string }>(`${peer.httpUrl}/ping`, {
      to: 'node1',
      transport: 'tcp',
      timeoutMs: 10_000,
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.transport, 'tcp')
    const h = await getJson<{ state: string }>(`${target.httpUrl}/health`)
    assert.equal(h.body.state, 'running')
  })

  test('when the flood lets go, the address may connect again', async () => {
    for (const s of open.splice(0)) s.destroy()
    await waitFor(
      'a new connection from the flooding address stays open',
      async () => {
        const [s] = await flood('127.92.2.1', framePort, '127.92.9.9', 1)
        await new Promise((r) => setTimeout(r, 200))
        const ok = !s!.closed && !s!.destroyed
        s!.destroy()
        return ok
      },
      20_000,
      200,
    )
  })
})

describe('TcpTransport cap, on its own', { timeout: 60_000 }, () => {
  test('the default cap is 256 per address and the option checks its value', () => {
    assert.equal(MAX_CONNECTIONS_PER_ADDRESS, 256)
    assert.throws(() => new TcpTransport({ maxConnectionsPerAddress: 0 }), { code: 'ERR_INVALID_ARGUMENT' })
  })

  test('a local node connects from its own address, so peers on one machine do not share a count', async () => {
    const a = new TcpTransport({ host: '127.92.3.1', maxConnectionsPerAddress: 1 })
    const b = new TcpTransport({ host: '127.92.3.2', maxConnectionsPerAddress: 1 })
    const c = new TcpTransport({ host: '127.92.3.3', maxConnectionsPerAddress: 1 })
    const drops: DropInfo[] = []
    const got: string[] = []
    c.setHandler({ message: (m) => got.push(`${m.env.src}@${m.from.host}`), drop: (d) => drops.push(d) })
    a.setHandler({ message: () => {}, drop: () => {} })
    b.setHandler({ message: () => {}, drop: () => {} })
    try {
      await Promise.all([a.start(), b.start(), c.start()])
      const env = (src: string) => createEnvelope({ proto: 'ping', type: 'ping', src, dst: 'c', body: null })
      await a.send(c.address(), env('a'))
      await b.send(c.address(), env('b'))
      await waitFor('both frames arrive', () => got.length >= 2, 10_000)
      assert.deepEqual(got.sort(), ['a@127.92.3.1', 'b@127.92.3.2'])
      assert.equal(drops.length, 0)
      assert.equal(c.rejectedConnections, 0)
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()])
    }
  })
})
