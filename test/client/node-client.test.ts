// NodeClient against real nodes on real sockets (its own loopback block, 127.78.x.y, ports chosen
// at run time): typed answers, and for every way a call fails one NodeApiError whose message names
// the node and the action and never the URL it called (the URL stays on the error for debugging).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, type Socket } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { unicast } from '../../src/protocols/unicast/index.js'
import { NodeClient } from '../../src/client/node-client.js'
import { NodeApiError } from '../../src/core/errors.js'
import { Keyring } from '../../src/core/auth.js'
import { HealthAnswer } from '../../src/node/api-schemas.js'

/** Runs `fn`, which must fail with a NodeApiError; checks that no URL or address is in its message. */
async function apiError(fn: () => Promise<unknown>, url: string): Promise<NodeApiError> {
  let caught: unknown
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof NodeApiError, `expected a NodeApiError, got ${String(caught)}`)
  assert.equal(caught.code, 'ERR_NODE_API')
  assert.doesNotMatch(caught.message, /https?:\/\//, caught.message)
  assert.ok(!caught.message.includes(new URL(url).host), `the address is in: ${caught.message}`)
  assert.ok(!caught.message.includes('\n'), 'one line')
  assert.ok(caught.url.startsWith(url), 'the URL stays on the error')
  return caught
}

function listen(server: Server, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      const a = server.address()
      resolve(`http://${host}:${typeof a === 'object' && a ? a.port : 0}`)
    })
  })
}

describe('NodeClient against a real open cluster', () => {
  const master = createNode({ name: 'master', host: '127.78.1.1', httpPort: 0, framePort: 0 })
  let n1: Node
  let n2: Node
  before(async () => {
    await master.start()
    const common = { httpPort: 0, framePort: 0, masterUrl: master.httpUrl, protocols: [unicast()] }
    n1 = createNode({ name: 'node1', host: '127.78.2.1', ...common })
    n2 = createNode({ name: 'node2', host: '127.78.2.2', ...common })
    await n1.start()
    await n2.start()
    await n1.refreshMembers()
    await n2.refreshMembers()
  })
  after(async () => {
    await n1.stop()
    await n2.stop()
    await master.stop()
  })

  test('health and the member list come back typed and checked', async () => {
    const h = await new NodeClient({ url: n1.httpUrl, name: 'node1' }).health()
    assert.equal(h.name, 'node1')
    assert.equal(h.role, 'node')
    assert.equal(h.state, 'running')
    const list = await new NodeClient({ url: master.httpUrl, name: 'the master' }).members()
    assert.deepEqual(list.members?.map((m) => m.name).sort(), ['master', 'node1', 'node2'])
    const same = await new NodeClient({ url: master.httpUrl }).members(list.version)
    assert.equal(same.version, list.version)
    assert.equal(same.members, undefined, 'an unchanged list is not sent again')
  })

  test('a POST reaches the node: seed 002 message and a unicast', async () => {
    const c = new NodeClient({ url: n1.httpUrl, name: 'node1' })
    assert.deepEqual(await c.message({ sender: 'test', msg: 'hi' }), { status: 'received' })
    await c.post('/unicast', { to: 'node2', msg: 'through the client' }, { timeoutMs: 30_000 })
    const got = await new NodeClient({ url: n2.httpUrl, name: 'node2' }).get<unknown>('/unicast/delivered')
    assert.match(JSON.stringify(got), /through the client/)
  })

  test('an unknown node is named as not a member of this cluster', async () => {
    const c = new NodeClient({ url: n1.httpUrl, name: 'node1' })
    const e = await apiError(
      () => c.post('/unicast', { to: 'node9', msg: 'x' }, { about: 'node9' }),
      n1.httpUrl,
    )
    assert.equal(e.message, 'node9 is not a member of this cluster')
    assert.equal(e.status, 400)
    assert.equal(e.error, 'unknown_peer')
    assert.equal(e.failure, 'refused')
  })

  test("a bad body is the node's own words, with the field", async () => {
    const c = new NodeClient({ url: n1.httpUrl, name: 'node1' })
    const e = await apiError(() => c.post('/unicast', { msg: 'x' }, { action: 'the unicast' }), n1.httpUrl)
    assert.match(e.message, /^node1 refused the unicast: to: /)
    assert.equal(e.field, 'to')
  })

  test('a missing endpoint and a wrong method', async () => {
    const c = new NodeClient({ url: n1.httpUrl, name: 'node1' })
    const missing = await apiError(() => c.get('/no/such/thing'), n1.httpUrl)
    assert.equal(missing.message, 'node1 has no GET /no/such/thing endpoint')
    assert.equal(missing.status, 404)
    const wrong = await apiError(() => c.get('/message'), n1.httpUrl)
    assert.equal(wrong.status, 405)
    assert.match(wrong.message, /^node1 refused GET \/message: .*POST/)
  })

  test('an answer that does not fit the schema is refused', async () => {
    const c = new NodeClient({ url: n1.httpUrl, name: 'node1' })
    const e = await apiError(() => c.get('/', { answer: HealthAnswer }), n1.httpUrl)
    assert.equal(e.failure, 'bad_answer')
    assert.match(e.message, /^node1 answered GET \/ with an answer distlab does not understand \(status: /)
  })
})

describe('NodeClient against a keyed cluster', () => {
  const KEY = 'a cluster key for the client test'
  const master = createNode({ name: 'master', host: '127.78.3.1', httpPort: 0, framePort: 0, key: KEY })
  before(() => master.start())
  after(() => master.stop())

  test('without the token a change is refused with a 401 said in words; with it, it goes through', async () => {
    const open = new NodeClient({ url: master.httpUrl, name: 'the master' })
    const e = await apiError(
      () => open.put('/link', { loss: 0.1 }, { action: 'the link change' }),
      master.httpUrl,
    )
    assert.equal(e.status, 401)
    assert.match(e.message, /^the master refused the link change \(HTTP 401\): this cluster has a key/)
    const keyed = new NodeClient({
      url: master.httpUrl,
      name: 'the master',
      authorization: new Keyring(KEY).bearer(),
    })
    await keyed.put('/link', { loss: 0.1 })
    const links = await keyed.get<{ rules: Record<string, { loss?: number }> }>('/link')
    assert.equal(Object.values(links.rules)[0]?.loss, 0.1)
  })
})

describe('NodeClient when nothing good answers', () => {
  const sockets = new Set<Socket>()
  const silent = createTcpServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
  })
  const huge = createServer((req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) })
      res.write('{"a":"')
      return
    }
    // chunked, no length: the client must stop reading on its own
    res.writeHead(200, { 'content-type': 'application/json' })
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    let sent = 0
    const more = (): void => {
      while (sent < 256 && !res.destroyed) {
        sent++
        if (!res.write(chunk)) return void res.once('drain', more)
      }
      res.end()
    }
    res.on('error', () => {})
    more()
  })
  const redirector = createServer((_req, res) => {
    res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' })
    res.end()
  })
  let silentUrl = ''
  let hugeUrl = ''
  let redirectUrl = ''
  let deadUrl = ''

  before(async () => {
    silentUrl = await new Promise<string>((resolve) =>
      silent.listen(0, '127.78.4.1', () => {
        const a = silent.address()
        resolve(`http://127.78.4.1:${typeof a === 'object' && a ? a.port : 0}`)
      }),
    )
    hugeUrl = await listen(huge, '127.78.4.2')
    redirectUrl = await listen(redirector, '127.78.4.3')
    // a port that was free a moment ago and is closed now: the connection is refused
    const probe = createServer()
    deadUrl = await listen(probe, '127.78.4.4')
    await new Promise((r) => probe.close(r))
  })
  after(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => silent.close(r))
    huge.closeAllConnections()
    await new Promise((r) => huge.close(r))
    await new Promise((r) => redirector.close(r))
  })

  test('a refused connection', async () => {
    const c = new NodeClient({ url: deadUrl, name: 'node2' })
    const e = await apiError(() => c.health(), deadUrl)
    assert.equal(e.message, 'node2 did not answer the health check (connection refused: is it running?)')
    assert.equal(e.failure, 'unreachable')
    assert.equal(e.status, undefined)
  })

  test('no answer within the time limit', async () => {
    const c = new NodeClient({ url: silentUrl, name: 'node2', timeoutMs: 400 })
    const started = Date.now()
    const e = await apiError(() => c.post('/unicast', { to: 'node1', msg: 'x' }), silentUrl)
    assert.equal(e.message, 'node2 did not answer POST /unicast within 0.4 s')
    assert.equal(e.failure, 'timeout')
    assert.ok(Date.now() - started < 30_000, 'the time limit holds')
    const five = new NodeClient({ url: silentUrl, name: 'node2' })
    const e5 = await apiError(() => five.health({ timeoutMs: 5000 }), silentUrl)
    assert.equal(e5.message, 'node2 did not answer the health check within 5 s')
  })

  test('an oversized answer is cut off, declared or streamed', async () => {
    const c = new NodeClient({ url: hugeUrl, name: 'node2', maxAnswerBytes: 1024 * 1024, timeoutMs: 30_000 })
    const declared = await apiError(() => c.get('/declared'), hugeUrl)
    assert.equal(declared.failure, 'too_large')
    assert.equal(
      declared.message,
      'node2 answered GET /declared with more than 1048576 bytes; distlab stopped reading',
    )
    const streamed = await apiError(() => c.get('/streamed'), hugeUrl)
    assert.equal(streamed.failure, 'too_large')
  })

  test('a redirect is not followed', async () => {
    const c = new NodeClient({ url: redirectUrl, name: 'node2' })
    const e = await apiError(() => c.get('/health'), redirectUrl)
    assert.equal(e.failure, 'bad_answer')
    assert.equal(e.status, 302)
    assert.doesNotMatch(e.message, /169\.254/)
  })

  test('a name-less client names the node by address only in the URL property', async () => {
    const c = new NodeClient({ url: deadUrl })
    let caught: unknown
    await c.health().catch((err: unknown) => (caught = err))
    assert.ok(caught instanceof NodeApiError)
    assert.doesNotMatch(caught.message, /https?:\/\//)
  })
})
