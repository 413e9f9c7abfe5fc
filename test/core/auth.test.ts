// The cluster key: frames signed and checked (forgeries, replays, stale frames and foreign keys
// refused and counted), keys rotated without a gap, and the HTTP API's bearer token. Real sockets on
// 127.90.x.y with OS-chosen ports.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { createHmac } from 'node:crypto'
import { crc32 } from 'node:zlib'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { encodeFrame, decodeFrame } from '../../src/core/frame.js'
import { FrameGuard, Keyring, ReplayWindow, parseKeySpec, keyIdOf } from '../../src/core/auth.js'
import { getJson, postJson, waitFor } from '../helpers.js'
import type { Ping } from '../../src/protocols/ping/index.js'

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').at(-1))
  }
  return sum
}

const env = (body: unknown = { n: 1, s: 'hello', nested: { b: 2, a: [1, 'x'] } }) =>
  createEnvelope({ proto: 'ping', type: 'req', src: 'node1', dst: 'node2', body })

/** A copy of a frame with one byte changed and the CRC made right again: damage only the MAC can see. */
function tamper(frame: Buffer, at: number): Buffer {
  const b = Buffer.from(frame)
  b[at] = b[at]! ^ 0x01
  b.writeUInt32BE(crc32(b.subarray(0, b.length - 4)), b.length - 4)
  return b
}

describe('frame guard', () => {
  test('a sealed frame opens on a node with the same key, after a trip through the codec', () => {
    const a = new FrameGuard({ keyring: 'correct horse battery' })
    const b = new FrameGuard({ keyring: 'correct horse battery' })
    for (const body of [
      { z: 1, a: { y: [1, 2, { q: null }] } },
      Buffer.from([0, 1, 2, 255]),
      'text',
      42,
      null,
    ]) {
      const r = b.openFrame(a.sealFrame(env(body)))
      assert.ok('env' in r, `body ${JSON.stringify(body)} should open`)
      assert.equal((r.env as { auth?: unknown }).auth, undefined)
      assert.deepEqual(r.env.body, body)
    }
  })

  test('the MAC is HMAC-SHA256 under the frame key of the label and the bytes before it, at every size', () => {
    // Nodes of other versions check it so: the guard's own HMAC (two one-shot hashes over pads, up
    // to 64 KiB; createHmac beyond) must give exactly what createHmac gives.
    const g = new FrameGuard({ keyring: 'correct horse battery' })
    const key = g.keyring.current
    for (const size of [0, 1, 55, 56, 63, 64, 65, 200, 4096, 64 * 1024 - 100, 64 * 1024 + 1, 300_000]) {
      const frame = g.sealFrame(env(Buffer.alloc(size, size % 251)))
      const macAt = frame.length - 4 - 32
      const want = createHmac('sha256', key.frameKey)
        .update('distlab-frame-mac-v2\n')
        .update(frame.subarray(0, macAt))
        .digest()
      assert.deepEqual(frame.subarray(macAt, macAt + 32), want, `body of ${size} bytes`)
      assert.deepEqual(g.mac(key.id, frame.subarray(0, macAt)), want)
    }
  })

  test('a changed header or body, another key, or no MAC is refused with the reason', () => {
    const a = new FrameGuard({ keyring: 'correct horse battery' })
    const b = new FrameGuard({ keyring: 'correct horse battery' })
    const sealed = a.sealFrame(env())
    const headerEnd = 6 + sealed.readUInt16BE(4)
    // Every byte of the header, the body, the key id, the time and the nonce is covered.
    for (const at of [3, 8, headerEnd - 3, headerEnd + 6, sealed.length - 4 - 32 - 3, sealed.length - 5])
      assert.ok('reason' in b.openFrame(tamper(sealed, at)), `byte ${at} is covered`)
    assert.deepEqual(b.openFrame(tamper(sealed, headerEnd + 6)), { reason: 'bad_mac' })
    assert.deepEqual(b.openFrame(encodeFrame(env())), { reason: 'no_mac' })
    const stranger = new FrameGuard({ keyring: 'some other secret' })
    assert.deepEqual(b.openFrame(stranger.sealFrame(env())), { reason: 'unknown_key' })
    // A stranger who reuses our key id still cannot produce the MAC.
    const sameId = new FrameGuard({ keyring: `${keyIdOf('correct horse battery')}:some other secret` })
    assert.deepEqual(b.openFrame(sameId.sealFrame(env())), { reason: 'bad_mac' })
    assert.ok('env' in b.openFrame(sealed))
    // A node without the key reads a sealed frame like any other (the analyzer, the dissector).
    assert.deepEqual(decodeFrame(sealed).body, env().body)
  })

  test('a frame played again is refused as a replay; one signed outside the window as stale', () => {
    let now = 1_000_000
    const a = new FrameGuard({ keyring: 'correct horse battery', now: () => now })
    const b = new FrameGuard({ keyring: 'correct horse battery', now: () => now })
    const sealed = a.sealFrame(env())
    assert.ok('env' in b.openFrame(sealed))
    assert.deepEqual(b.openFrame(sealed), { reason: 'replay' })
    // A retransmission of the same message is a new frame with a new nonce: it gets through.
    assert.ok('env' in b.openFrame(a.sealFrame(env())))
    const old = a.sealFrame(env())
    now += 31_000
    assert.deepEqual(b.openFrame(old), { reason: 'stale' })
  })

  test('keys rotate without a gap: old,new signs with old; new,old with new; both accepted meanwhile', () => {
    const oldOnly = new FrameGuard({ keyring: 'k1:first secret!' })
    const both = new FrameGuard({ keyring: 'k1:first secret!,k2:second secret' })
    const newFirst = new FrameGuard({ keyring: 'k2:second secret,k1:first secret!' })
    const newOnly = new FrameGuard({ keyring: 'k2:second secret' })
    assert.ok('env' in both.openFrame(oldOnly.sealFrame(env())))
    assert.ok('env' in oldOnly.openFrame(both.sealFrame(env())))
    assert.ok('env' in both.openFrame(newFirst.sealFrame(env())))
    assert.ok('env' in newFirst.openFrame(both.sealFrame(env())))
    assert.ok('env' in newOnly.openFrame(newFirst.sealFrame(env())))
    assert.deepEqual(newOnly.openFrame(oldOnly.sealFrame(env())), { reason: 'unknown_key' })
  })

  test('the replay cache stays bounded and never lets an old nonce back in', () => {
    const w = new ReplayWindow(30_000, 100, 4)
    const now = 5_000_000
    for (let i = 0; i < 1000; i++) assert.equal(w.check('node1', now - 1000 + i, `n${i}`, now), undefined)
    assert.ok(w.size() <= 100)
    assert.equal(w.check('node1', now - 1000 + 5, 'n5', now), 'replay')
    for (let s = 0; s < 20; s++) w.check(`s${s}`, now, 'x', now)
    assert.ok(w.size() <= 4 * 100)
    // node1 was forgotten: its old frames are still refused through the global floor.
    assert.equal(w.check('node1', now - 1000 + 999, 'n999', now), 'replay')
  })

  test('key specs: bad ones are refused with a clear error; ids are stable', () => {
    assert.throws(() => parseKeySpec(''), { code: 'ERR_INVALID_ARGUMENT' })
    assert.throws(() => parseKeySpec('short'), /shorter than 8/)
    assert.throws(() => parseKeySpec('a:longenough1,longenough2'), /id:secret/)
    assert.throws(() => parseKeySpec('a:longenough1,a:longenough2'), /two cluster keys/)
    assert.deepEqual(parseKeySpec('rot-2:s3cret:with:colons'), [
      { id: 'rot-2', secret: 's3cret:with:colons' },
    ])
    assert.equal(new Keyring('a secret key').current.id, new Keyring('a secret key').current.id)
  })

  test('bearer tokens: any key of the ring is accepted, anything else is not', () => {
    const ring = new Keyring('k2:second secret,k1:first secret!')
    assert.ok(ring.acceptsBearer(ring.bearer()))
    assert.ok(ring.acceptsBearer(new Keyring('k1:first secret!').bearer()))
    assert.ok(!ring.acceptsBearer(new Keyring('k1:other secret!').bearer()))
    assert.ok(!ring.acceptsBearer(undefined))
    assert.ok(!ring.acceptsBearer('Basic abc'))
    assert.ok(!ring.acceptsBearer(`Bearer ${ring.current.token}x`))
  })
})

describe('nodes with a cluster key', () => {
  const KEY = 'a cluster key for tests'
  const master = createNode({ name: 'master', host: '127.90.1.1', httpPort: 0, framePort: 0, key: KEY })
  let n1: Node
  let n2: Node
  let outsider: Node

  before(async () => {
    await master.start()
    const common = { httpPort: 0, framePort: 0, masterUrl: master.httpUrl, key: KEY }
    n1 = createNode({ name: 'node1', host: '127.90.2.1', ...common })
    n2 = createNode({ name: 'node2', host: '127.90.2.2', ...common })
    await n1.start()
    await n2.start()
    await n1.refreshMembers()
    await n2.refreshMembers()
    // Knows the members' addresses (from the open GET /cluster/members) but not the key.
    outsider = createNode({ name: 'node3', host: '127.90.2.3', httpPort: 0, framePort: 0 })
    await outsider.start()
    for (const m of master.memberList().members) outsider.admit(m)
  })
  after(async () => {
    await outsider.stop()
    await n1.stop()
    await n2.stop()
    await master.stop()
  })

  test('nodes joined the master with the token and reach each other over UDP and TCP', async () => {
    assert.deepEqual(
      master
        .memberList()
        .members.map((m) => m.name)
        .sort(),
      ['master', 'node1', 'node2'],
    )
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2', 3000, 'udp')).rttMs >= 0)
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2', 3000, 'tcp')).rttMs >= 0)
  })

  test('frames from a node without the key are dropped as no_mac and counted', async () => {
    await assert.rejects(outsider.protocol<Ping>('ping')!.ping('node2', 500, 'udp'), { code: 'ERR_TIMEOUT' })
    const text = (await getJson<string>(`${n2.httpUrl}/metrics`)).body
    assert.ok(metric(text, 'distlab_frames_dropped_total', { reason: 'no_mac' }) >= 1)
  })

  test('a forged MAC and a replayed frame are dropped and counted; the original got through', async () => {
    const n2Frames = n2.self().framePort
    const before = n2.metrics.total('distlab_frames_received_total', { proto: 'ping' })
    const signer = new FrameGuard({ keyring: KEY })
    const good = signer.sealFrame(
      createEnvelope({ proto: 'ping', type: 'pong', src: 'node1', dst: 'node2', body: { seq: -1 } }),
    )
    const forged = signer.sealFrame(
      createEnvelope({ proto: 'ping', type: 'pong', src: 'node1', dst: 'node2', body: {} }),
    )
    forged.fill(0x41, forged.length - 4 - 32, forged.length - 4)
    forged.writeUInt32BE(crc32(forged.subarray(0, forged.length - 4)), forged.length - 4)
    const sock = createSocket('udp4')
    await new Promise<void>((r) => sock.bind(0, '127.90.2.9', () => r()))
    const send = (b: Buffer) => new Promise<void>((r) => sock.send(b, n2Frames, '127.90.2.2', () => r()))
    await send(good)
    await send(good)
    await send(forged)
    await waitFor(
      'drops counted',
      () => n2.metrics.total('distlab_frames_dropped_total', { reason: 'replay' }) >= 1,
    )
    await waitFor(
      'forgery counted',
      () => n2.metrics.total('distlab_frames_dropped_total', { reason: 'bad_mac' }) >= 1,
    )
    sock.close()
    assert.equal(n2.metrics.total('distlab_frames_received_total', { proto: 'ping' }) - before, 1)
    const text = (await getJson<string>(`${n2.httpUrl}/metrics`)).body
    assert.ok(metric(text, 'distlab_frames_dropped_total', { reason: 'replay' }) >= 1)
    assert.ok(metric(text, 'distlab_frames_dropped_total', { reason: 'bad_mac' }) >= 1)
  })

  test('the HTTP API wants the bearer token for changes; reads stay open', async () => {
    const root = await getJson<{ message: string }>(`${n1.httpUrl}/`)
    assert.equal(root.status, 200)
    assert.equal((await getJson(`${n1.httpUrl}/health`)).status, 200)
    const open = await postJson<{ error: string }>(`${n1.httpUrl}/message`, { sender: 'x', msg: 'hi' })
    assert.equal(open.status, 401)
    assert.equal(open.body.error, 'unauthorized')
    const wrong = await getJson(`${n1.httpUrl}/heal`, {
      method: 'POST',
      headers: { authorization: new Keyring('not the cluster key').bearer() },
    })
    assert.equal(wrong.status, 401)
    const ok = await getJson<{ status: string }>(`${n1.httpUrl}/message`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: new Keyring(KEY).bearer() },
      body: JSON.stringify({ sender: 'Node1', msg: 'Hello' }),
    })
    assert.equal(ok.status, 200)
    assert.deepEqual(ok.body, { status: 'received' })
    const text = (await getJson<string>(`${n1.httpUrl}/metrics`)).body
    assert.ok(metric(text, 'distlab_http_rejected_total', { reason: 'unauthorized' }) >= 2)
    // A stranger cannot join the master either.
    const join = await postJson(`${master.httpUrl}/cluster/join`, {
      name: 'evil',
      id: 'x',
      role: 'node',
      host: '127.90.2.66',
      httpPort: 1,
      framePort: 1,
    })
    assert.equal(join.status, 401)
    assert.ok(!master.member('evil'))
  })
})
