// Issue 14 item 12 against a live master on real sockets (127.61.4.x, ports from the OS): a caller
// joining under a live member's name from another address is refused with 409 and the master
// still points the name at the real node; names outside the node-name pattern and hosts outside
// the cluster's ranges are refused with 400 naming the field; a name whose holder no longer
// answers may move (a node restarted elsewhere); a holder that answers late (a loaded machine)
// keeps its name.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { postJson } from '../helpers.js'
import type { Ping } from '../../src/protocols/ping/index.js'

describe('POST /cluster/join from a stranger', () => {
  const master = createNode({ name: 'master', host: '127.61.4.1', httpPort: 0, framePort: 0 })
  let n1: Node

  before(async () => {
    await master.start()
    n1 = createNode({
      name: 'node1',
      host: '127.61.4.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
    })
    await n1.start()
  })
  after(async () => {
    await n1.stop()
    await master.stop()
  })

  const join = (body: Record<string, unknown>) =>
    postJson<{ error?: string; field?: string }>(`${master.httpUrl}/cluster/join`, {
      id: 'attacker-id',
      role: 'node',
      host: '127.61.4.9',
      httpPort: 5000,
      framePort: 7000,
      ...body,
    })

  test('joining as a live node1 from another address is refused; node1 still points at the real node', async () => {
    const r = await join({ name: 'node1' })
    assert.equal(r.status, 409)
    assert.equal(r.body.error, 'name_taken')
    const held = master.member('node1')!
    assert.equal(held.host, '127.61.4.2')
    assert.equal(held.id, n1.self().id)
    assert.equal(held.framePort, n1.self().framePort)
    // The real node still reaches node1's name through the master's list.
    assert.ok((await master.protocol<Ping>('ping')!.ping('node1', 5000, 'udp')).rttMs >= 0)
  })

  test('names outside the pattern and hosts outside the ranges are refused, naming the field', async () => {
    for (const name of ['__proto__', '../etc', 'a b', '-dash'].map((n) => n)) {
      const r = await join({ name })
      assert.equal(r.status, 400, name)
      assert.equal(r.body.field, 'name', name)
      assert.equal(master.member(name), undefined)
    }
    const r = await join({ name: 'node7', host: '10.9.9.9' })
    assert.equal(r.status, 400)
    assert.equal(r.body.field, 'host')
    assert.equal(master.member('node7'), undefined)
  })

  test('a name whose holder no longer answers may move (a node restarted at another address)', async () => {
    const gone = await join({ name: 'node5', host: '127.61.4.5', httpPort: 1, framePort: 1, id: 'old' })
    assert.equal(gone.status, 200)
    const moved = await join({ name: 'node5', host: '127.61.4.6', id: 'new' })
    assert.equal(moved.status, 200)
    assert.equal(master.member('node5')?.host, '127.61.4.6')
  })

  /** A member's HTTP API that answers GET /health only after `delayMs` (never when undefined). */
  async function slowHealth(host: string, name: string, id: string, delayMs?: number): Promise<Server> {
    const server = createServer((req, res) => {
      if (delayMs === undefined) return // holds the request: no answer at all
      setTimeout(() => res.end(JSON.stringify({ name, id })), delayMs)
    })
    await new Promise<void>((resolve) => server.listen(0, host, resolve))
    return server
  }
  const portOf = (s: Server) => (s.address() as AddressInfo).port
  const close = (s: Server) => {
    s.closeAllConnections()
    return new Promise((resolve) => s.close(resolve))
  }

  test('a holder that answers its first probe late (a loaded machine) keeps its name', async () => {
    // 1.6 s: past the first probe's 1 s, within the second's 2.5 s.
    const slow = await slowHealth('127.61.4.7', 'node6', 'slow-id', 1600)
    try {
      const held = await join({ name: 'node6', host: '127.61.4.7', httpPort: portOf(slow), id: 'slow-id' })
      assert.equal(held.status, 200)
      const r = await join({ name: 'node6' })
      assert.equal(r.status, 409)
      assert.equal(r.body.error, 'name_taken')
      assert.equal(master.member('node6')?.host, '127.61.4.7')
    } finally {
      await close(slow)
    }
  })

  test('a holder whose address takes the request and never answers gives its name up', async () => {
    const hung = await slowHealth('127.61.4.8', 'node8', 'hung-id')
    try {
      const held = await join({ name: 'node8', host: '127.61.4.8', httpPort: portOf(hung), id: 'hung-id' })
      assert.equal(held.status, 200)
      const t0 = Date.now()
      const moved = await join({ name: 'node8', id: 'new' })
      assert.equal(moved.status, 200)
      assert.equal(master.member('node8')?.host, '127.61.4.9')
      // Both probes ran out (1 s, then 2.5 s) before the move: within the joiner's own 5 s.
      assert.ok(Date.now() - t0 >= 3400, `moved after ${Date.now() - t0} ms`)
    } finally {
      await close(hung)
    }
  })
})
