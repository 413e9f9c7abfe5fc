// Issue 14 item 1: a keyed node is sent a frame whose JSON body is nested thousands deep, with the
// cluster's (public) key id and a junk MAC, over UDP and over TCP, in the frame format and in the
// earlier one (auth in the header). The MAC is checked over the bytes before any JSON is parsed, so
// the node counts a bad_mac / no_mac drop and goes on answering its peers. An open node drops the
// same body as too_deep. Addresses 127.20.1.x, ports chosen by the OS.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { Keyring } from '../../src/core/auth.js'
import { waitFor } from '../helpers.js'
import { junkTrailer, nestedJson, prefixed, rawFrame } from './frames.js'
import type { Ping } from '../../src/protocols/ping/index.js'

const KEY = 'hostile deep frame key'
const DEPTH = 20_000

function header(src = 'node1', dst = 'node2') {
  return { v: 1, id: 'deep-1', proto: 'ping', type: 'req', src, dst, ts: Date.now() }
}

describe('a frame nested thousands deep with a junk MAC', () => {
  const keyId = new Keyring(KEY).current.id
  const master = createNode({ name: 'master', host: '127.20.1.1', httpPort: 0, framePort: 0, key: KEY })
  let n1: Node
  let n2: Node
  let open: Node
  let udp: UdpSocket

  before(async () => {
    await master.start()
    const common = { httpPort: 0, framePort: 0, masterUrl: master.httpUrl, key: KEY }
    n1 = createNode({ name: 'node1', host: '127.20.1.2', ...common })
    n2 = createNode({ name: 'node2', host: '127.20.1.3', ...common })
    await n1.start()
    await n2.start()
    await n1.refreshMembers()
    await n2.refreshMembers()
    open = createNode({ name: 'open1', host: '127.20.1.4', httpPort: 0, framePort: 0 })
    await open.start()
    udp = createSocket('udp4')
    await new Promise<void>((r) => udp.bind(0, '127.20.1.9', () => r()))
  })
  after(async () => {
    udp.close()
    await open.stop()
    await n1.stop()
    await n2.stop()
    await master.stop()
  })

  const attacks = () => {
    const deep = nestedJson(DEPTH)
    return [
      // The frame format: sealed flag, the real key id, a MAC of the attacker's choosing.
      rawFrame({ header: header(), body: deep, flags: 0x02, trailer: junkTrailer(keyId) }),
      // The earlier format: the MAC in the header's auth field.
      rawFrame({
        header: { ...header(), auth: { k: keyId, t: Date.now(), n: 'attacker-nonce-2', m: 'A'.repeat(43) } },
        body: deep,
      }),
      // Deep in the header as well.
      rawFrame({ header: { ...header(), x: JSON.parse('['.repeat(1500) + ']'.repeat(1500)) }, body: deep }),
    ]
  }
  const refused = (n: Node) =>
    ['bad_mac', 'no_mac', 'bad_header', 'too_deep'].reduce(
      (sum, reason) => sum + n.metrics.total('distlab_frames_dropped_total', { reason }),
      0,
    )

  test('over UDP: the keyed node drops them and still answers its peers', async () => {
    const port = n2.self().framePort
    const before = refused(n2)
    const frames = attacks()
    for (const f of frames)
      await new Promise<void>((r, j) => udp.send(f, port, '127.20.1.3', (e) => (e ? j(e) : r())))
    await waitFor('the attack frames counted as drops', () => refused(n2) - before >= frames.length, 20_000)
    assert.equal(n2.metrics.total('distlab_frames_received_total', { proto: 'ping' }) > 0, false)
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2', 5000, 'udp')).rttMs >= 0)
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2', 5000, 'tcp')).rttMs >= 0)
  })

  test('over TCP: the keyed node drops them and still answers its peers', async () => {
    const port = n2.self().framePort
    const before = refused(n2)
    const frames = attacks()
    const sock = connect({ host: '127.20.1.3', port, localAddress: '127.20.1.9' })
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
    sock.on('error', () => {})
    for (const f of frames) await new Promise<void>((r) => sock.write(prefixed(f), () => r()))
    await waitFor('the attack frames counted as drops', () => refused(n2) - before >= frames.length, 20_000)
    sock.destroy()
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2', 5000, 'tcp')).rttMs >= 0)
    assert.ok((await n2.protocol<Ping>('ping')!.ping('node1', 5000, 'udp')).rttMs >= 0)
  })

  test('an open node drops a body nested too deep as too_deep', async () => {
    const port = open.self().framePort
    const frame = rawFrame({ header: header('stranger', 'open1'), body: nestedJson(DEPTH) })
    await new Promise<void>((r, j) => udp.send(frame, port, '127.20.1.4', (e) => (e ? j(e) : r())))
    await waitFor(
      'a too_deep drop',
      () => open.metrics.total('distlab_frames_dropped_total', { reason: 'too_deep' }) >= 1,
    )
  })
})
