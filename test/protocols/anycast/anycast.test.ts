// Anycast: replicas answer with the seed's greeting; the client spreads requests by its policy and
// fails over when a replica dies, so no request is lost while one replica lives.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type AddressInfo } from 'node:net'
import {
  AnycastClient,
  AnycastServer,
  fetchAnswer,
  anycast,
  type Anycast,
  type AnycastTarget,
} from '../../../src/protocols/anycast/index.js'
import { Node } from '../../../src/node/node.js'
import { getJson, waitFor } from '../../helpers.js'

/** A TCP relay on `host` that waits `delayMs` before connecting each client through to `to`. */
async function delayingRelay(host: string, to: AnycastTarget, delayMs: number) {
  const server = createServer((client) => {
    client.on('error', () => {})
    setTimeout(() => {
      const up = connect(to.port, to.host)
      up.on('error', () => client.destroy())
      client.on('close', () => up.destroy())
      client.pipe(up).pipe(client)
    }, delayMs)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const a = server.address() as AddressInfo
  return { server, target: { host, port: a.port } }
}

describe('anycast replicas and client', () => {
  const servers = [1, 2, 3].map((i) => new AnycastServer({ host: `127.30.6.${i}`, port: 0, name: `r${i}` }))
  let targets: AnycastTarget[] = []

  before(async () => {
    for (const s of servers) await s.start()
    targets = servers.map((s) => ({ host: s.address().host, port: s.address().port }))
  })
  after(async () => {
    for (const s of servers) {
      await s.stop()
      await s.stop()
    }
  })

  test('a replica answers with the greeting, then its name', async () => {
    assert.equal(await fetchAnswer(targets[0]!), 'Hello from server\nr1\n')
    const plain = new AnycastServer({ host: '127.30.6.9', port: 0 })
    await plain.start()
    assert.equal(await fetchAnswer(plain.address()), 'Hello from server')
    await plain.stop()
  })

  test('random spreads requests over every replica', async () => {
    const client = new AnycastClient({ targets, policy: 'random' })
    const seen = new Set<string>()
    for (let i = 0; i < 60; i++) {
      const a = await client.request()
      assert.equal(a.greeting, 'Hello from server')
      seen.add(a.replica)
    }
    assert.deepEqual([...seen].sort(), ['r1', 'r2', 'r3'])
  })

  test('least-loaded balances concurrent requests evenly', async () => {
    const client = new AnycastClient({ targets, policy: 'least-loaded' })
    const answers = await Promise.all(Array.from({ length: 30 }, () => client.request()))
    const count = (r: string) => answers.filter((a) => a.replica === r).length
    for (const r of ['r1', 'r2', 'r3']) assert.ok(count(r) >= 5, `${r} got ${count(r)} of 30`)
  })

  test('nearest settles on the replica that answers fastest once each was measured', async () => {
    // r2 and r3 sit behind relays that hold each connection 150 ms, as farther replicas would; on
    // bare loopback all three are equally near and nearest may rightly pick any of them.
    const relays = await Promise.all(
      [targets[1]!, targets[2]!].map((t, i) => delayingRelay(`127.30.6.${11 + i}`, t, 150)),
    )
    try {
      const client = new AnycastClient({
        targets: [targets[0]!, ...relays.map((r) => r.target)],
        policy: 'nearest',
      })
      const answers = []
      for (let i = 0; i < 20; i++) answers.push(await client.request())
      assert.deepEqual([...new Set(answers.slice(0, 3).map((a) => a.replica))].sort(), ['r1', 'r2', 'r3'])
      const tail = answers.slice(10).map((a) => a.replica)
      // A scheduling stall of over 100 ms on r1 may send one request elsewhere, not more.
      assert.ok(
        tail.filter((r) => r === 'r1').length >= 9,
        `nearest did not settle on r1: ${tail.join(', ')}`,
      )
    } finally {
      for (const r of relays) r.server.close()
    }
  })

  test('a replica dying mid-run loses no request', async () => {
    const extra = new AnycastServer({ host: '127.30.6.4', port: 0, name: 'r4' })
    await extra.start()
    const client = new AnycastClient({ targets: [...targets, extra.address()], policy: 'random' })
    let answered = 0
    for (let i = 0; i < 40; i++) {
      if (i === 10) await extra.stop()
      const a = await client.request()
      assert.equal(a.greeting, 'Hello from server')
      answered++
      if (i >= 10) assert.notEqual(a.replica, 'r4')
    }
    assert.equal(answered, 40)
    assert.equal(client.counts.lost, 0)
    // Once r4 failed it is left out: at most one failover per cooldown.
    assert.ok(client.counts.failovers <= 1)
  })

  test('garbage and oversized requests are cut off and counted; the replica goes on', async () => {
    const s = servers[1]!
    const before = s.counts.oversized
    const c = connect(targets[1]!.port, targets[1]!.host, () => c.write(Buffer.alloc(100_000, 7)))
    c.on('error', () => {})
    await waitFor('the oversized request to be counted', () => s.counts.oversized > before)
    c.destroy()
    assert.equal(await fetchAnswer(targets[1]!), 'Hello from server\nr2\n')
  })
})

describe('the anycast replica of a node', () => {
  const node = new Node({
    name: 'node1',
    host: '127.30.6.20',
    httpPort: 0,
    framePort: 0,
    protocols: [anycast()],
  })
  before(() => node.start())
  after(() => node.stop())

  test('listens on port 5001 of the node address, named after the node; GET /anycast says where', async () => {
    const info = (await getJson<{ name: string; host: string; port: number }>(`${node.httpUrl}/anycast`)).body
    assert.deepEqual([info.name, info.host, info.port], ['node1', '127.30.6.20', 5001])
    assert.equal(await fetchAnswer(info), 'Hello from server\nnode1\n')
    assert.equal(node.protocol<Anycast>('anycast')!.info()!.served, 1)
  })
})
