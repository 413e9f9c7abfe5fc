// Hosts learned by gossip pass the URL guard before a node calls them (127.40.6.x, OS-chosen
// ports): a peer that gossips members at other schemes or outside the cluster's address ranges
// does not get them into anyone's view (so nobody probes or messages them), the refusals are counted
// in /metrics, and a ping-req cannot point a node at an address that is not a member.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { membership, type Membership } from '../../../src/protocols/membership/index.js'
import { waitFor } from '../../helpers.js'

const FAST = {
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 1500,
  joinRetryMs: 200,
  httpTimeoutMs: 3000,
}
const mem = (n: Node) => n.protocol<Membership>('membership')!

function member(url: string, host: string, port: number, name: string) {
  return { s: 'a', n: name, u: url, i: `id-${name}`, h: host, p: port, g: 1, c: 0 }
}

describe('URL guard on gossiped peers', () => {
  const target = createNode({
    name: 'node1',
    host: '127.40.6.1',
    httpPort: 0,
    framePort: 0,
    protocols: [membership(FAST)],
  })
  // The liar: a plain node that sends membership frames by hand.
  const liar = createNode({ name: 'liar', host: '127.40.6.2', httpPort: 0, framePort: 0 })
  // A UDP socket standing for a real member at a loopback address, to see who gets probed.
  let decoy: Socket
  let decoyPackets = 0
  let decoyPort = 0
  // A UDP socket that a ping-req names without being a member.
  let bystander: Socket
  let bystanderPackets = 0
  let bystanderPort = 0

  before(async () => {
    await target.start()
    await liar.start()
    decoy = createSocket('udp4')
    decoy.on('message', () => decoyPackets++)
    await new Promise<void>((r) => decoy.bind(0, '127.40.6.3', () => r()))
    decoyPort = decoy.address().port
    bystander = createSocket('udp4')
    bystander.on('message', () => bystanderPackets++)
    await new Promise<void>((r) => bystander.bind(0, '127.40.6.4', () => r()))
    bystanderPort = bystander.address().port
  })
  after(async () => {
    await target.stop()
    await liar.stop()
    await new Promise<void>((r) => decoy.close(() => r()))
    await new Promise<void>((r) => bystander.close(() => r()))
  })

  const to = () => ({ address: { host: '127.40.6.1', port: target.self().framePort } })

  test('members at other schemes or outside the ranges stay out of the view; the refusals are counted', async () => {
    const bad = [
      member('http://10.77.0.1:5000', '10.77.0.1', 7000, 'outside'),
      member('ftp://127.40.6.9:21', '127.40.6.9', 7000, 'ftp'),
      member('http://127.40.6.10:5000', '192.0.2.10', 7000, 'frames-outside'),
      member('http://user:pw@127.40.6.11:5000', '127.40.6.11', 7000, 'credentials'),
    ]
    const good = member('http://127.40.6.3:5999', '127.40.6.3', decoyPort, 'decoy')
    await liar.send('membership', 'node1', 'gossip', { u: [...bad, good] }, to())
    // The same lies again by push-pull (a whole view), which merges through the same path.
    await liar.send('membership', 'node1', 'pp', { m: bad }, { ...to(), transport: 'tcp' })

    await waitFor('the loopback member to be admitted', () => mem(target).peers().includes(good.u), 20_000)
    await waitFor('the refusals to be counted', () => mem(target).stats().urlsRejected >= bad.length, 20_000)
    const view = mem(target).peers()
    for (const b of bad) assert.ok(!view.includes(b.u), `${b.u} stays out of the view`)
    const text = await (await fetch(`${target.httpUrl}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith('distlab_membership_urls_rejected_total'))
    assert.ok(line && Number(line.split(' ').at(-1)) >= bad.length, line)
    // The admitted one is probed (its address gets datagrams); the refused ones are in no list to probe.
    await waitFor('the admitted member to be probed', () => decoyPackets > 0, 20_000)
    assert.ok(
      !mem(target)
        .memberList()
        .some((m) => bad.some((b) => b.u === m.url || b.h === m.host)),
    )
    // And nobody can message them through the node.
    const r = await fetch(`${target.httpUrl}/p2p/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'outside', msg: 'hi' }),
    })
    assert.equal(r.status, 404)
  })

  test('a ping-req naming an address that is not a member is dropped, not probed', async () => {
    const before = target.metrics.total('distlab_messages_discarded_total', { reason: 'unknown_target' })
    await liar.send(
      'membership',
      'node1',
      'ping-req',
      { seq: 1, t: { n: 'bystander', h: '127.40.6.4', p: bystanderPort } },
      to(),
    )
    await waitFor(
      'the ping-req to be dropped',
      () => target.metrics.total('distlab_messages_discarded_total', { reason: 'unknown_target' }) > before,
      20_000,
    )
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(bystanderPackets, 0)
  })
})
