// Seed 002's HTTP API on real sockets (127.40.x.y, OS-chosen ports): the bootstrap registry's
// POST /register and GET /peers in exactly the seed's shapes, every node's own view, bad input
// refused with 4xx and counted, registered URLs that do not answer dropped, messages and broadcast.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { createRootLogger } from '../../../src/core/logger.js'
import { membership, type MembershipInit, type Membership } from '../../../src/protocols/membership/index.js'
import { getJson, postJson, waitFor } from '../../helpers.js'

const FAST: MembershipInit = {
  profile: 'local',
  verifyAttempts: 2,
  httpTimeoutMs: 3000,
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').at(-1))
  }
  return sum
}

const mem = (n: Node) => n.protocol<Membership>('membership')!

describe('seed 002 endpoints', () => {
  const lines: Record<string, string[]> = {}
  const loggerFor = (name: string) => createRootLogger({ write: (l) => (lines[name] ??= []).push(l) })
  const bootstrap = createNode({
    name: 'master',
    host: '127.40.1.1',
    httpPort: 0,
    framePort: 0,
    logger: loggerFor('master'),
    protocols: [membership({ ...FAST, registry: true, registrationsPerSecond: 20, registrationBurst: 40 })],
  })
  const peers: Node[] = []
  let foreign: Server
  let foreignUrl = ''

  before(async () => {
    await bootstrap.start()
    for (const i of [1, 2, 3]) {
      const n = createNode({
        name: `node${i}`,
        host: `127.40.2.${i}`,
        httpPort: 0,
        framePort: 0,
        logger: loggerFor(`node${i}`),
        protocols: [membership({ ...FAST, bootstrapUrl: bootstrap.httpUrl })],
      })
      peers.push(n)
      await n.start()
    }
    // A peer written to the seed alone (Flask-like): GET / and POST /message, nothing else.
    foreign = createServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      if (req.method === 'GET' && req.url === '/') return res.end('{"message": "Node 1234 is running!"}')
      res.statusCode = 404
      res.end('{}')
    })
    await new Promise<void>((r) => foreign.listen(0, '127.40.3.7', () => r()))
    foreignUrl = `http://127.40.3.7:${(foreign.address() as { port: number }).port}`
  })
  after(async () => {
    for (const n of peers) await n.stop()
    await bootstrap.stop()
    await bootstrap.stop()
    foreign.closeAllConnections()
    await new Promise<void>((r) => foreign.close(() => r()))
  })

  test('GET /peers on the bootstrap lists every registered peer as {"peers": [url, ...]}', async () => {
    const urls = peers.map((n) => n.httpUrl).sort()
    const r = await waitFor(
      'the bootstrap to list the three peers',
      async () => {
        const res = await getJson<{ peers: string[] }>(`${bootstrap.httpUrl}/peers`)
        return [...res.body.peers].sort().join() === urls.join() ? res : undefined
      },
      30_000,
    )
    assert.equal(r.status, 200)
    assert.deepEqual(Object.keys(r.body), ['peers'])
    assert.match(r.body.peers[0]!, /^http:\/\/127\.40\.2\.\d:\d+$/)
  })

  test('every peer serves GET / in the seed format and GET /peers with its own view', async () => {
    for (const n of peers) {
      const root = await getJson<{ message: string }>(`${n.httpUrl}/`)
      assert.deepEqual(root.body, { message: `Node ${n.id} is running!` })
      const others = peers.filter((p) => p !== n).map((p) => p.httpUrl)
      await waitFor(
        `${n.name} to know the other two peers`,
        async () => {
          const view = (await getJson<{ peers: string[] }>(`${n.httpUrl}/peers`)).body.peers
          return view.length === 2 && others.every((u) => view.includes(u))
        },
        30_000,
      )
    }
  })

  test('POST /register takes {"url"} and {"peer"}, ignores extra fields, answers {"status": "registered"}', async () => {
    const byUrl = await postJson<{ status: string; peers: string[] }>(`${bootstrap.httpUrl}/register`, {
      url: foreignUrl,
      extra: { anything: true },
    })
    assert.equal(byUrl.status, 200)
    assert.equal(byUrl.body.status, 'registered')
    assert.ok(Array.isArray(byUrl.body.peers))
    // The seed's shape only: the compact member list is not in a plain registration's answer...
    assert.deepEqual(Object.keys(byUrl.body).sort(), ['peers', 'status', 'url'])
    // ... but at its own endpoint, with every verified peer in it (polled: under load a peer can be
    // suspected and readmitted in between).
    await waitFor(
      'GET /membership/members to list the three peers',
      async () => {
        const compact = await getJson<{ members: Array<{ n?: string }> }>(
          `${bootstrap.httpUrl}/membership/members`,
        )
        if (compact.status !== 200) return undefined
        const names = compact.body.members.map((m) => m.n).sort()
        return ['node1', 'node2', 'node3'].every((n) => names.includes(n)) ? true : undefined
      },
      30_000,
    )
    const byPeer = await postJson<{ status: string }>(`${peers[0]!.httpUrl}/register`, {
      peer: foreignUrl + '/',
      name: 'Node1234',
    })
    assert.equal(byPeer.status, 200)
    assert.equal(byPeer.body.status, 'registered')
    // A seed-only peer answers GET /, so it stays in the view.
    await new Promise((r) => setTimeout(r, 1500))
    for (const n of [bootstrap, peers[0]!]) {
      const view = (await getJson<{ peers: string[] }>(`${n.httpUrl}/peers`)).body.peers
      assert.ok(view.includes(foreignUrl), `${n.name} keeps ${foreignUrl}: ${view.join(' ')}`)
    }
  })

  test('a missing or invalid URL is a 400 naming the field; bad JSON, huge bodies and other schemes are 4xx; all counted', async () => {
    const url = `${bootstrap.httpUrl}/register`
    const before = metric(
      await (await fetch(`${bootstrap.httpUrl}/metrics`)).text(),
      'distlab_http_rejected_total',
    )
    const cases: Array<[unknown, number, string | undefined]> = [
      [{}, 400, 'url'],
      [{ name: 'node9' }, 400, 'url'],
      [{ url: 42 }, 400, 'url'],
      [{ url: '' }, 400, 'url'],
      [{ url: 'not a url' }, 400, 'url'],
      [{ url: 'ftp://127.40.3.1:21' }, 400, 'url'],
      [{ peer: 'file:///etc/passwd' }, 400, 'peer'],
      [{ peer: 'gopher://127.40.3.1:70' }, 400, 'peer'],
      [{ url: 'http://user:pw@127.40.3.1:5000' }, 400, 'url'],
      [{ url: 'http://127.40.3.1:5000/admin?x=1' }, 400, 'url'],
      [[1, 2], 400, undefined],
      ['{"url": ', 400, undefined],
    ]
    for (const [body, status, field] of cases) {
      const r = await postJson<{ error: string; field?: string }>(url, body)
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`)
      if (field) assert.equal(r.body.field, field, JSON.stringify(body))
    }
    const huge = await postJson(url, { url: 'http://127.40.3.1:5000', pad: 'x'.repeat(64 * 1024) })
    assert.equal(huge.status, 413)
    const text = await getJson(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'url=x',
    })
    assert.ok(text.status >= 400 && text.status < 500, `text/plain → ${text.status}`)
    const after = metric(
      await (await fetch(`${bootstrap.httpUrl}/metrics`)).text(),
      'distlab_http_rejected_total',
    )
    assert.ok(after - before >= cases.length + 2, `rejections counted: ${after - before}`)
    const view = (await getJson<{ peers: string[] }>(`${bootstrap.httpUrl}/peers`)).body.peers
    assert.ok(!view.some((p) => /ftp:|file:|gopher:|user:pw/.test(p)))
    assert.equal((await getJson(`${bootstrap.httpUrl}/`)).status, 200)
  })

  test('a registered URL that does not answer is probed, then dropped', async () => {
    const dead = 'http://127.40.3.1:5999'
    const r = await postJson<{ status: string }>(`${bootstrap.httpUrl}/register`, { url: dead })
    assert.equal(r.status, 200)
    await waitFor(
      'the dead URL to be dropped',
      async () =>
        !(await getJson<{ peers: string[] }>(`${bootstrap.httpUrl}/peers`)).body.peers.includes(dead),
      20_000,
    )
    const text = await (await fetch(`${bootstrap.httpUrl}/metrics`)).text()
    assert.ok(metric(text, 'distlab_membership_registrations_dropped_total') >= 1)
  })

  test('a flood of bogus registrations is refused with 429 and counted; the registry keeps serving', async () => {
    // A registry of its own whose bucket refills at 1 a second: what it accepts is bounded by the
    // burst plus the flood's duration, however slowly a loaded machine sends it (at 20 a second,
    // three waves that took 15 s were all accepted). Loopback block 127.71.x.y.
    const rate = 1
    const burst = 40
    const flooded = createNode({
      name: 'master',
      host: '127.71.1.1',
      httpPort: 0,
      framePort: 0,
      protocols: [
        membership({ ...FAST, registry: true, registrationsPerSecond: rate, registrationBurst: burst }),
      ],
    })
    await flooded.start()
    try {
      // 300 registrations, 100 in flight at a time: one address may hold at most 256 connections
      // to a node's API (loopback too), and this test is about the registry's rate limit, not that cap.
      const statuses: number[] = []
      const started = Date.now()
      for (let start = 0; start < 300; start += 100) {
        const wave = await Promise.all(
          Array.from({ length: 100 }, (_, k) =>
            postJson(`${flooded.httpUrl}/register`, {
              url: `http://127.71.4.${1 + ((start + k) % 250)}:${6000 + start + k}`,
            }).then((r) => r.status),
          ),
        )
        statuses.push(...wave)
      }
      const seconds = (Date.now() - started) / 1000
      assert.ok(
        statuses.every((s) => s === 200 || s === 429),
        statuses.join(','),
      )
      const accepted = statuses.filter((s) => s === 200).length
      const refused = statuses.length - accepted
      assert.ok(
        accepted <= burst + Math.ceil(seconds * rate) + 1,
        `${accepted} accepted in ${seconds.toFixed(1)} s, more than the bucket allows`,
      )
      assert.ok(refused > 0, `some refused: ${statuses.join(',')}`)
      const text = await (await fetch(`${flooded.httpUrl}/metrics`)).text()
      assert.ok(metric(text, 'distlab_http_rejected_total', { route: '/register' }) >= refused)
      assert.equal((await getJson(`${flooded.httpUrl}/`)).status, 200)
      // None of them answers: all are dropped again, none retried forever.
      await waitFor(
        'the bogus URLs to be dropped',
        async () =>
          !(await getJson<{ peers: string[] }>(`${flooded.httpUrl}/peers`)).body.peers.some((p) =>
            p.includes('127.71.4.'),
          ),
        60_000,
        250,
      )
    } finally {
      await flooded.stop()
    }
  })

  test('p2p send: a peer messages another through its own view; the target logs the seed line', async () => {
    const [a, b] = peers as [Node, Node]
    const r = await postJson<{ status: string; to: string; url: string; reply: unknown }>(
      `${a.httpUrl}/p2p/send`,
      {
        to: b.name,
        msg: 'Hello node2!',
      },
    )
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(r.body, { status: 'sent', to: b.name, url: b.httpUrl, reply: { status: 'received' } })
    assert.ok(lines.node2!.some((l) => l.includes('Received message from node1: Hello node2!')))
    const unknown = await postJson<{ field: string }>(`${a.httpUrl}/p2p/send`, { to: 'node99', msg: 'x' })
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.field, 'to')
  })

  test('p2p broadcast: every other peer logs the message once', async () => {
    const r = await postJson<{ status: string; id: string }>(`${peers[2]!.httpUrl}/p2p/broadcast`, {
      msg: 'Hello everyone!',
    })
    assert.equal(r.status, 200)
    assert.equal(r.body.status, 'broadcast')
    for (const n of peers.slice(0, 2))
      await waitFor(
        `${n.name} to log the broadcast`,
        () => lines[n.name]!.some((l) => l.includes('Received message from node3: Hello everyone!')),
        20_000,
      )
    await new Promise((r) => setTimeout(r, 1000))
    for (const n of peers.slice(0, 2))
      assert.equal(
        lines[n.name]!.filter((l) => l.includes('Hello everyone!')).length,
        1,
        `${n.name} logs it once`,
      )
    assert.equal(mem(peers[2]!).stats().registrationsRejected, 0)
  })

  test('a seed-only peer that stops answering GET / is forgotten', async () => {
    foreign.closeAllConnections()
    await new Promise<void>((r) => foreign.close(() => r()))
    await waitFor(
      'the closed seed-only peer to leave the views',
      async () => {
        for (const n of [bootstrap, peers[0]!])
          if ((await getJson<{ peers: string[] }>(`${n.httpUrl}/peers`)).body.peers.includes(foreignUrl))
            return false
        return true
      },
      60_000,
      250,
    )
    foreign = createServer()
    await new Promise<void>((r) => foreign.listen(0, '127.40.3.7', () => r()))
  })
})
