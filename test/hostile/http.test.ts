// Issue 14, items 8 and 10: the HTTP servers close slow and idle connections and cap how many one
// address holds (loopback too), and the dashboard takes no action without a token, from a foreign
// Host (DNS rebinding) or from a foreign Origin (CSRF). Real servers on 127.21.3.x.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { MasterExtras } from '../../src/monitor/master-extras.js'
import { getJson, scratchDir, waitFor } from '../helpers.js'
import { closedWithin, openSocket, rawRequest, statusOf } from './raw.js'

const KEY = 'c0ffee00c0ffee00c0ffee00c0ffee00'
const dir = scratchDir('distlab-hostile-http-')

interface Cluster {
  master: Node
  node1: Node
  extras: MasterExtras
  dashboard: URL
}

async function cluster(hostByte: number, key?: string): Promise<Cluster> {
  const host = `127.21.3.${hostByte}`
  const master = createNode({ name: 'master', host, httpPort: 0, framePort: 0, key })
  await master.start()
  const node1 = createNode({
    name: 'node1',
    host: `127.21.3.${hostByte + 1}`,
    httpPort: 0,
    framePort: 0,
    masterUrl: master.httpUrl,
    key,
  })
  await node1.start()
  const extras = new MasterExtras(master, {
    runsDir: join(dir, `runs${hostByte}`),
    dashboardHost: host,
    dashboardPort: 0,
  })
  await extras.start()
  await waitFor('node1 to join', () => master.member('node1') !== undefined)
  return { master, node1, extras, dashboard: new URL(extras.dashboard.url) }
}

async function stop(c: Cluster | undefined): Promise<void> {
  await c?.extras.stop()
  await c?.node1.stop()
  await c?.master.stop()
}

function action(c: Cluster, body: unknown, headers: Record<string, string> = {}) {
  return getJson<{ error?: string }>(`${c.dashboard.origin}/api/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

const cut = { action: 'link', a: 'master', b: 'node1', cut: true }

describe('dashboard authority', () => {
  let keyed: Cluster
  let open: Cluster
  before(async () => {
    keyed = await cluster(1, KEY)
    open = await cluster(11)
  })
  after(async () => {
    await stop(keyed)
    await stop(open)
  })

  test('keyed cluster: no token, a wrong token or the page token without the key: refused, nothing cut', async () => {
    assert.equal((await action(keyed, cut)).status, 401)
    assert.equal((await action(keyed, cut, { authorization: 'Bearer wrong' })).status, 401)
    assert.equal((await action(keyed, cut, { 'x-distlab-token': 'guess' })).status, 401)
    assert.equal((await getJson(`${keyed.dashboard.origin}/api/session`)).status, 401)
    assert.equal(keyed.master.links.ruleFor('node1').loss, 0)
    assert.equal(keyed.node1.links.ruleFor('master').loss, 0)
  })

  test('keyed cluster: the key opens a page session, and its token acts', async () => {
    const bearer = keyed.master.authHeaders()
    const s = await getJson<{ token: string }>(`${keyed.dashboard.origin}/api/session`, { headers: bearer })
    assert.equal(s.status, 200)
    const r = await action(keyed, cut, { 'x-distlab-token': s.body.token })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(keyed.master.links.ruleFor('node1').loss, 1)
    assert.equal((await action(keyed, { action: 'heal' }, bearer)).status, 200)
    assert.equal(keyed.master.links.ruleFor('node1').loss, 0)
  })

  test('open cluster: an action needs the page token too (no cross-site form can post one)', async () => {
    assert.equal((await action(open, cut)).status, 401)
    assert.equal(open.master.links.ruleFor('node1').loss, 0)
    const s = await getJson<{ token: string }>(`${open.dashboard.origin}/api/session`)
    assert.equal(s.status, 200)
    const r = await action(open, { action: 'heal' }, { 'x-distlab-token': s.body.token })
    assert.equal(r.status, 200)
  })

  test('a foreign Host (DNS rebinding) and a foreign Origin (CSRF) are refused', async () => {
    const { token } = (await getJson<{ token: string }>(`${open.dashboard.origin}/api/session`)).body
    const port = Number(open.dashboard.port)
    const host = open.dashboard.hostname
    for (const path of ['/api/session', '/api/state', '/']) {
      const a = await rawRequest(
        host,
        port,
        `GET ${path} HTTP/1.1\r\nHost: rebind.attacker.example:${port}\r\nConnection: close\r\n\r\n`,
      )
      assert.equal(statusOf(a), 403, `${path} with a foreign Host`)
    }
    const body = JSON.stringify(cut)
    const post = (hostHeader: string, origin: string) =>
      rawRequest(
        host,
        port,
        `POST /api/action HTTP/1.1\r\nHost: ${hostHeader}\r\nOrigin: ${origin}\r\nx-distlab-token: ${token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      )
    assert.equal(
      statusOf(await post(`rebind.attacker.example:${port}`, `http://rebind.attacker.example:${port}`)),
      403,
    )
    assert.equal(statusOf(await post(`${host}:${port}`, 'http://attacker.example')), 403)
    assert.equal(statusOf(await post(`${host}:${port}`, 'null')), 403)
    assert.equal(open.master.links.ruleFor('node1').loss, 0, 'nothing was cut')
    // The page's own origin, with its token, works; so does localhost by name.
    assert.equal(statusOf(await post(`${host}:${port}`, `http://${host}:${port}`)), 200)
    assert.equal(open.master.links.ruleFor('node1').loss, 1)
    const heal = JSON.stringify({ action: 'heal' })
    const healed = await rawRequest(
      host,
      port,
      `POST /api/action HTTP/1.1\r\nHost: localhost:${port}\r\nOrigin: http://localhost:${port}\r\nx-distlab-token: ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${heal.length}\r\nConnection: close\r\n\r\n${heal}`,
    )
    assert.equal(statusOf(healed), 200)
    assert.equal(open.master.links.ruleFor('node1').loss, 0)
  })
})

/**
 * The headers bound of this part's servers, ms: 2 s instead of the default 10 s
 * ($DISTLAB_HTTP_HEADERS_TIMEOUT_MS, read when a server is made): slowloris connections are closed
 * by the same check, 8 s sooner.
 */
const HEADERS_TIMEOUT_MS = 2000

describe('slow and idle connections', () => {
  let c: Cluster
  before(async () => {
    process.env.DISTLAB_HTTP_HEADERS_TIMEOUT_MS = String(HEADERS_TIMEOUT_MS)
    try {
      c = await cluster(21)
    } finally {
      delete process.env.DISTLAB_HTTP_HEADERS_TIMEOUT_MS
    }
  })
  after(async () => {
    await stop(c)
    rmSync(dir, { recursive: true, force: true })
  })

  test('slowloris on the node API and the dashboard: the servers close them and keep answering', async () => {
    const api = new URL(c.master.httpUrl)
    const targets = [
      { host: api.hostname, port: Number(api.port) },
      { host: c.dashboard.hostname, port: Number(c.dashboard.port) },
    ]
    const sockets: Socket[] = []
    const PER_TARGET = 40
    for (const t of targets)
      for (let i = 0; i < PER_TARGET; i++) {
        const s = await openSocket(t.host, t.port)
        s.write(`GET / HTTP/1.1\r\nHost: ${t.host}\r\n`)
        sockets.push(s)
      }
    // One header byte per second per connection, for at most 3 × the headers timeout.
    const dripUntil = Date.now() + 3 * HEADERS_TIMEOUT_MS
    const drip = setInterval(() => {
      if (Date.now() > dripUntil) return
      for (const s of sockets) if (!s.destroyed) s.write('X')
    }, 1000)
    try {
      // Real requests are answered while the attack runs.
      const health = await getJson<{ status: string }>(`${c.master.httpUrl}/health`, undefined, 10_000)
      assert.equal(health.body.status, 'ok')
      assert.equal((await getJson(`${c.dashboard.origin}/api/state`, undefined, 10_000)).status, 200)
      const closed = await Promise.all(sockets.map((s) => closedWithin(s, 3 * HEADERS_TIMEOUT_MS)))
      assert.equal(closed.filter(Boolean).length, sockets.length, 'every slow connection was closed')
      assert.equal((await getJson<{ status: string }>(`${c.master.httpUrl}/health`)).body.status, 'ok')
    } finally {
      clearInterval(drip)
      for (const s of sockets) s.destroy()
    }
  })

  test('one address holding hundreds of idle connections is capped, even on loopback', async () => {
    const api = new URL(c.node1.httpUrl)
    const sockets: Socket[] = []
    try {
      for (let i = 0; i < 300; i++) sockets.push(await openSocket(api.hostname, Number(api.port)))
      const closed = await Promise.all(sockets.map((s) => closedWithin(s, 5000)))
      assert.ok(closed.filter(Boolean).length >= 300 - 256, 'the connections over the cap were closed')
      for (const s of sockets) s.destroy()
      const health = await waitFor('node1 to answer again', async () => {
        const r = await getJson<{ status: string }>(`${c.node1.httpUrl}/health`)
        return r.body.status === 'ok' ? r : undefined
      })
      assert.equal(health.status, 200)
    } finally {
      for (const s of sockets) s.destroy()
    }
  })
})
