// One suite, run against every transport: what a protocol may rely on whatever carries its frames.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { UdpTransport } from '../../src/transport/udp.js'
import { TcpTransport } from '../../src/transport/tcp.js'
import { MemoryNetwork, MemoryTransport } from '../../src/transport/memory.js'
import { createEnvelope } from '../../src/core/envelope.js'
import type { DropInfo, InboundMessage, Transport } from '../../src/core/interfaces.js'
import { waitFor } from '../helpers.js'

interface Pair {
  a: Transport
  b: Transport
  /** Puts raw bytes on b's wire, bypassing the encoder. */
  garbage(bytes: Buffer): Promise<void>
}

const network = new MemoryNetwork()
const kinds: Record<string, () => Pair> = {
  udp: () => {
    const a = new UdpTransport({ host: '127.10.9.1' })
    const b = new UdpTransport({ host: '127.10.9.2' })
    return {
      a,
      b,
      garbage: (bytes) =>
        new Promise((resolve) => {
          const s = createSocket('udp4')
          s.send(bytes, b.address().port, b.address().host, () => s.close(() => resolve()))
        }),
    }
  },
  tcp: () => {
    const a = new TcpTransport({ host: '127.10.9.3' })
    const b = new TcpTransport({ host: '127.10.9.4' })
    return {
      a,
      b,
      garbage: (bytes) =>
        new Promise((resolve) => {
          const s = connect(b.address().port, b.address().host, () => s.end(bytes))
          s.on('close', () => resolve())
          s.on('error', () => resolve())
        }),
    }
  },
  memory: () => {
    const a = new MemoryTransport({ network, host: 'a' })
    const b = new MemoryTransport({ network, host: 'b' })
    return { a, b, garbage: async (bytes) => network.deliver({ host: 'x', port: 1 }, b.address(), bytes) }
  },
}

for (const [kind, make] of Object.entries(kinds)) {
  describe(`${kind} transport`, () => {
    const { a, b, garbage } = make()
    const received: InboundMessage[] = []
    const drops: DropInfo[] = []
    b.setHandler({ message: (m) => received.push(m), drop: (d) => drops.push(d) })
    a.setHandler({ message: () => {}, drop: () => {} })
    after(async () => {
      await a.stop()
      await b.stop()
    })

    test('delivers an envelope intact, and reports its size on the wire', async () => {
      await a.start()
      await b.start()
      const env = createEnvelope({
        proto: 'test',
        type: 'hello',
        src: 'a',
        dst: 'b',
        body: { n: 42, s: 'ünïcödé' },
      })
      const bytes = await a.send(b.address(), env)
      const got = await waitFor('the frame', () => received.find((m) => m.env.id === env.id))
      assert.deepEqual(got.env, env)
      assert.equal(got.transport, kind)
      assert.ok(bytes > 0)
      assert.equal(got.bytes, kind === 'tcp' ? bytes - 4 : bytes)
    })

    test('carries raw bytes and keeps order from one sender', async () => {
      const ids: string[] = []
      for (let i = 0; i < 20; i++) {
        const env = createEnvelope({ proto: 'test', type: 'seq', src: 'a', dst: 'b', body: Buffer.from([i]) })
        ids.push(env.id)
        await a.send(b.address(), env)
      }
      await waitFor('20 frames', () => ids.every((id) => received.some((m) => m.env.id === id)))
      if (kind !== 'udp') {
        const order = received.filter((m) => m.env.type === 'seq').map((m) => (m.env.body as Buffer)[0])
        assert.deepEqual(order, [...Array(20).keys()])
      }
    })

    test('garbage is counted as a drop, and frames after it still arrive', async () => {
      const before = drops.length
      await garbage(Buffer.from('this is not a distlab frame at all, not even close'))
      await waitFor('the drop', () => drops.length > before)
      assert.equal(drops.at(-1)!.direction, 'in')
      assert.ok(['bad_magic', 'too_short', 'too_large'].includes(drops.at(-1)!.reason))
      const env = createEnvelope({ proto: 'test', type: 'after', src: 'a', dst: 'b', body: null })
      await a.send(b.address(), env)
      await waitFor('a frame after the garbage', () => received.some((m) => m.env.id === env.id))
    })

    test('a second transport on the same address fails with ERR_ADDRESS_IN_USE', async () => {
      const addr = b.address()
      const clash =
        kind === 'udp'
          ? new UdpTransport({ host: addr.host, port: addr.port })
          : kind === 'tcp'
            ? new TcpTransport({ host: addr.host, port: addr.port })
            : new MemoryTransport({ network, host: addr.host, port: addr.port })
      await assert.rejects(clash.start(), { code: 'ERR_ADDRESS_IN_USE' })
      await clash.stop()
    })

    test('stop twice is harmless', async () => {
      const { a: t } = make()
      await t.start()
      await t.stop()
      await t.stop()
    })
  })
}

describe('tcp connection pool', () => {
  test('idle connections close and the pool stays within its cap; sending again reconnects', async () => {
    const received: string[] = []
    const server = new TcpTransport({ host: '127.10.9.5', idleTimeoutMs: 200 })
    server.setHandler({ message: (m) => received.push(m.env.id), drop: () => {} })
    const others = [1, 2, 3].map((i) => new TcpTransport({ host: `127.10.9.${10 + i}` }))
    for (const o of others) o.setHandler({ message: () => {}, drop: () => {} })
    const client = new TcpTransport({ host: '127.10.9.6', idleTimeoutMs: 200, maxConnections: 2 })
    client.setHandler({ message: () => {}, drop: () => {} })
    try {
      for (const t of [server, client, ...others]) await t.start()
      const send = (to: TcpTransport) =>
        client.send(to.address(), createEnvelope({ proto: 't', type: 'x', src: 'c', dst: 's', body: null }))
      for (const o of others) await send(o)
      const open = (client as unknown as { outbound: Map<string, unknown> }).outbound
      assert.ok(open.size <= 2, `pool holds ${open.size} connections, cap 2`)
      await send(server)
      await waitFor('idle connections closed', () => open.size === 0, 5000)
      await send(server)
      await waitFor('a frame over a fresh connection', () => received.length === 2, 5000)
    } finally {
      for (const t of [server, client, ...others]) await t.stop()
    }
  })
})

describe('tcp answers', () => {
  test('an answer goes back on the connection of the frame it answers while it is open, else to its address', async () => {
    const asker = new TcpTransport({ host: '127.10.9.20' })
    const answerer = new TcpTransport({ host: '127.10.9.21' })
    const heard: InboundMessage[] = []
    const asked: InboundMessage[] = []
    asker.setHandler({ message: (m) => heard.push(m), drop: () => {} })
    answerer.setHandler({ message: (m) => asked.push(m), drop: () => {} })
    const env = (type: string) => createEnvelope({ proto: 't', type, src: 'x', dst: 'y', body: null })
    try {
      await asker.start()
      await answerer.start()
      await asker.send(answerer.address(), env('ask'))
      await waitFor('the question', () => asked.length === 1, 5000)
      const question = asked[0]!
      assert.equal(question.from.host, '127.10.9.20')
      assert.notEqual(
        question.from.port,
        asker.address().port,
        'the question comes from the connection, not the listener',
      )
      await answerer.send(asker.address(), env('answer'), question.from)
      await waitFor('the answer', () => heard.length === 1, 5000)
      // Read off the asker's own connection, the answer comes from the address it asked; over a
      // connection of the answerer's own it would come from an ephemeral port of 127.10.9.21.
      assert.deepEqual(heard[0]!.from, answerer.address())
      const pool = (t: TcpTransport) => (t as unknown as { outbound: Map<string, unknown> }).outbound
      assert.equal(pool(answerer).size, 0, 'the answerer opened no connection of its own')
      // A `replyOn` with no connection open (the asker's is gone) falls back to the address.
      await answerer.send(asker.address(), env('later'), { host: '127.10.9.20', port: 1 })
      await waitFor('the answer sent to the address', () => heard.length === 2, 5000)
      assert.equal(heard[1]!.env.type, 'later')
      assert.equal(pool(answerer).size, 1)
    } finally {
      await asker.stop()
      await answerer.stop()
    }
  })
})
