// A registration names the registrant's frame address (`self`); the registry confirms it with one
// frame ping there instead of an HTTP check. Real sockets on 127.151.x.y (OS-chosen ports): a claim
// whose address does not ack, or that points at another host, is checked over HTTP as before, and
// the registry admits what the URL itself says it is.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { createRootLogger } from '../../../src/core/logger.js'
import { membership, type Membership } from '../../../src/protocols/membership/index.js'
import { postJson, waitFor } from '../../helpers.js'

const FAST = { probeIntervalMs: 250, probeTimeoutMs: 200, gossipIntervalMs: 60, verifyRetryMs: 200 }
const quiet = () => createRootLogger({ write: () => {} })
const mem = (n: Node) => n.protocol<Membership>('membership')!

describe('registration confirmed by a frame ping', () => {
  const registry = createNode({
    name: 'master',
    host: '127.151.1.1',
    httpPort: 0,
    framePort: 0,
    logger: quiet(),
    protocols: [membership({ ...FAST, registry: true })],
  })
  // Started without a bootstrap: it registers only when the test says so.
  const x = createNode({
    name: 'x',
    host: '127.151.2.1',
    httpPort: 0,
    framePort: 0,
    logger: quiet(),
    protocols: [membership(FAST)],
  })
  // A frame address that takes datagrams and never answers.
  let sink: Socket
  let sinkPort = 0

  before(async () => {
    await registry.start()
    await x.start()
    sink = createSocket('udp4')
    await new Promise<void>((r) => sink.bind(0, '127.151.2.1', () => r()))
    sinkPort = sink.address().port
  })
  after(async () => {
    await x.stop()
    await registry.stop()
    sink.close()
  })

  const admitted = (url: string) =>
    waitFor(
      `the registry to admit ${url}`,
      () =>
        mem(registry)
          .memberList()
          .find((m) => m.url === url && m.kind === 'frames'),
      30_000,
    )

  test("a peer's own registration is admitted with the frame address it names", async () => {
    const y = createNode({
      name: 'y',
      host: '127.151.3.1',
      httpPort: 0,
      framePort: 0,
      logger: quiet(),
      protocols: [membership({ ...FAST, bootstrapUrl: registry.httpUrl })],
    })
    await y.start()
    try {
      const m = await admitted(y.httpUrl)
      assert.equal(m.name, 'y')
      assert.equal(m.id, y.id)
      assert.equal(m.port, y.self().framePort)
    } finally {
      await y.stop()
    }
  })

  test('a claimed frame address that never acks: the URL is asked over HTTP and its own answer wins', async () => {
    const r = await postJson<{ status: string }>(`${registry.httpUrl}/register`, {
      url: x.httpUrl,
      members: true,
      self: { s: 'a', n: 'impostor', u: x.httpUrl, i: 'not-x', h: '127.151.2.1', p: sinkPort, g: 1, c: 0 },
    })
    assert.equal(r.status, 200)
    const m = await admitted(x.httpUrl)
    assert.equal(m.name, 'x')
    assert.equal(m.id, x.id)
    assert.equal(m.port, x.self().framePort)
  })

  test('a claim naming another host is ignored: the registry checks the URL over HTTP', async () => {
    const z = createNode({
      name: 'z',
      host: '127.151.4.1',
      httpPort: 0,
      framePort: 0,
      logger: quiet(),
      protocols: [membership(FAST)],
    })
    await z.start()
    try {
      // The frames of x (which would ack) claimed for z's URL.
      await postJson(`${registry.httpUrl}/register`, {
        url: z.httpUrl,
        members: true,
        self: {
          s: 'a',
          n: 'z',
          u: z.httpUrl,
          i: 'not-z',
          h: '127.151.2.1',
          p: x.self().framePort,
          g: 1,
          c: 0,
        },
      })
      const m = await admitted(z.httpUrl)
      assert.equal(m.id, z.id)
      assert.equal(m.host, '127.151.4.1')
      assert.equal(m.port, z.self().framePort)
    } finally {
      await z.stop()
    }
  })
})
