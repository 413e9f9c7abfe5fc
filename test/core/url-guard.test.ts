// No request forgery through discovery: the peer URL check (schemes, credentials, every resolved
// address inside the cluster's ranges), the exposure rule of the CLI, the per-address connection
// cap, and POST /register on a live node refusing a URL outside the cluster. 127.90.x.y only.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type Socket } from 'node:net'
import { UrlGuard, checkExposure, isLoopback, limitConnectionsPerAddress } from '../../src/core/url-guard.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { membership } from '../../src/protocols/membership/index.js'
import { getJson, postJson, runCli, waitFor } from '../helpers.js'

const fakeDns: Record<string, string[]> = {
  node1: ['127.0.2.1'],
  'evil.example': ['8.8.8.8'],
  rebind: ['127.0.0.1', '169.254.169.254'],
  'peer.lan': ['10.1.2.3'],
}
const resolve = async (h: string) => {
  const a = fakeDns[h]
  if (!a) throw new Error('ENOTFOUND')
  return a
}

describe('url guard', () => {
  test('loopback peers pass; other schemes, credentials and outside addresses do not', async () => {
    const g = new UrlGuard({ resolve })
    assert.equal(await g.check('http://127.0.2.1:5000/'), 'http://127.0.2.1:5000')
    assert.equal(await g.check('https://node1:5000'), 'https://node1:5000')
    assert.equal(await g.check('http://[::1]:5000'), 'http://[::1]:5000')
    for (const bad of [
      'ftp://127.0.0.1/',
      'file:///etc/passwd',
      'gopher://127.0.0.1:25/',
      'http://user:pw@127.0.0.1:5000',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1:5000',
      'http://0.0.0.0:5000',
      'http://evil.example:5000',
      'http://rebind:5000',
      'http://unknown-host:5000',
      'not a url',
      'http://' + 'a'.repeat(600),
    ])
      await assert.rejects(g.check(bad), { code: 'ERR_PEER_URL_REJECTED' }, bad)
  })

  test('an allow-list adds CIDRs, addresses and trusted host names', async () => {
    const g = new UrlGuard({ resolve, allow: ['10.0.0.0/8', '192.0.2.7', 'trusted.example'] })
    assert.equal(await g.check('http://10.9.8.7:5000'), 'http://10.9.8.7:5000')
    assert.equal(await g.check('http://peer.lan:5000'), 'http://peer.lan:5000')
    assert.equal(await g.check('http://192.0.2.7'), 'http://192.0.2.7')
    assert.equal(await g.check('http://trusted.example:80'), 'http://trusted.example')
    await assert.rejects(g.check('http://192.0.2.8'), { code: 'ERR_PEER_URL_REJECTED' })
    assert.throws(() => new UrlGuard({ allow: ['10.0.0.0/99'] }), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => new UrlGuard({ allow: ['not a host!'] }), { code: 'ERR_INVALID_ARGUMENT' })
    // IPv6 ranges and addresses, and ones that are not.
    const v6 = new UrlGuard({ resolve, allow: ['fd00::/8', '2001:db8::7'] })
    assert.equal(await v6.check('http://[fd12::3]:5000'), 'http://[fd12::3]:5000')
    assert.equal(await v6.check('http://[2001:db8::7]:5000'), 'http://[2001:db8::7]:5000')
    await assert.rejects(v6.check('http://[2001:db8::8]:5000'), { code: 'ERR_PEER_URL_REJECTED' })
    for (const bad of ['fd00::/129', 'fd00:::1/64', '1::2::3', 'fd00::g/8', '::1/1x'])
      assert.throws(() => new UrlGuard({ allow: [bad] }), { code: 'ERR_INVALID_ARGUMENT' }, bad)
  })

  test('checkNow answers at once for addresses, defers host names, and guards never share verdicts across ranges', async () => {
    const wide = new UrlGuard({ resolve, allow: ['10.0.0.0/8'] })
    const plain = new UrlGuard({ resolve })
    for (let round = 0; round < 2; round++) {
      // The second round is answered from the remembered verdicts: the same answers.
      assert.equal(wide.checkNow('http://10.9.8.7:5000'), 'http://10.9.8.7:5000')
      assert.throws(() => plain.checkNow('http://10.9.8.7:5000'), { code: 'ERR_PEER_URL_REJECTED' })
      assert.equal(plain.checkNow('http://127.0.2.1:5000/'), 'http://127.0.2.1:5000')
      assert.throws(() => plain.checkNow('ftp://127.0.0.1/'), { code: 'ERR_PEER_URL_REJECTED' })
      assert.throws(() => plain.checkNow('http://169.254.169.254/'), { code: 'ERR_PEER_URL_REJECTED' })
    }
    // A host name needs DNS: undefined now, then answered from the resolve cache.
    assert.equal(plain.checkNow('http://node1:5000'), undefined)
    assert.equal(await plain.check('http://node1:5000'), 'http://node1:5000')
    assert.equal(plain.checkNow('http://node1:5000'), 'http://node1:5000')
    assert.equal(plain.checkNow('http://evil.example:5000'), undefined)
    await assert.rejects(plain.check('http://evil.example:5000'), { code: 'ERR_PEER_URL_REJECTED' })
    assert.throws(() => plain.checkNow('http://evil.example:5000'), { code: 'ERR_PEER_URL_REJECTED' })
  })

  test('the exposure rule: beyond loopback needs a key or --insecure', () => {
    assert.ok(isLoopback('127.90.1.1') && isLoopback('::1') && isLoopback('localhost'))
    assert.ok(!isLoopback('0.0.0.0') && !isLoopback('10.0.0.1'))
    const binds = [{ flag: '--host', host: '0.0.0.0' }]
    assert.throws(() => checkExposure({ binds, keyed: false, insecure: false }), /--insecure/)
    checkExposure({ binds, keyed: true, insecure: false })
    checkExposure({ binds, keyed: false, insecure: true })
    checkExposure({ binds: [{ flag: '--host', host: '127.0.2.1' }], keyed: false, insecure: false })
  })

  test('one address cannot hold more connections than the cap', async () => {
    const server = createServer((s) => s.on('error', () => {}))
    let rejected = 0
    limitConnectionsPerAddress(server, 3, () => rejected++)
    await new Promise<void>((r) => server.listen(0, '127.90.0.1', () => r()))
    const port = (server.address() as { port: number }).port
    const sockets: Socket[] = []
    const closed: boolean[] = []
    for (let i = 0; i < 6; i++) {
      const s = connect({ host: '127.90.0.1', port, localAddress: '127.90.0.2' })
      s.on('error', () => {})
      s.on('close', () => (closed[i] = true))
      sockets.push(s)
    }
    await waitFor('three refused', () => rejected === 3, 10_000)
    await waitFor('refused sockets closed', () => closed.filter(Boolean).length === 3, 10_000)
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
})

describe('discovery refuses URLs outside the cluster', () => {
  const registry = createNode({
    name: 'master',
    host: '127.90.5.1',
    httpPort: 0,
    framePort: 0,
    protocols: [membership({ registry: true })],
  })
  before(() => registry.start())
  after(() => registry.stop())

  test('POST /register with a metadata, foreign or non-http URL is a 400 naming the field', async () => {
    for (const [body, field] of [
      [{ url: 'http://169.254.169.254:80' }, 'url'],
      [{ peer: 'http://8.8.8.8:5000' }, 'peer'],
      [{ url: 'file:///etc/passwd' }, 'url'],
    ] as const) {
      const r = await postJson<{ error: string; field: string }>(`${registry.httpUrl}/register`, body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.equal(r.body.field, field)
    }
    const peers = (await getJson<{ peers: string[] }>(`${registry.httpUrl}/peers`)).body.peers
    assert.ok(!peers.some((p) => p.includes('169.254') || p.includes('8.8.8.8')))
    const ok = await postJson<{ status: string }>(`${registry.httpUrl}/register`, {
      url: 'http://127.90.5.9:5000',
    })
    assert.equal(ok.status, 200)
    assert.equal(ok.body.status, 'registered')
  })
})

describe('the CLI refuses to listen beyond loopback without a key', () => {
  test('distlab node --host 0.0.0.0 exits 2 and says what to do', async () => {
    const r = await runCli(['node', '--host', '0.0.0.0', '--port', '0', '--frame-port', '0'], {
      env: { DISTLAB_KEY: '', DISTLAB_INSECURE: '' },
      timeoutMs: 30_000,
    })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /beyond loopback without a cluster key/)
    assert.match(r.stderr, /--insecure/)
    const bind = await runCli(['master', '--host', '127.90.6.1', '--bind', '0.0.0.0', '--port', '0'], {
      env: { DISTLAB_KEY: '', DISTLAB_INSECURE: '' },
      timeoutMs: 30_000,
    })
    assert.equal(bind.code, 2)
    assert.match(bind.stderr, /--bind/)
  })
})
