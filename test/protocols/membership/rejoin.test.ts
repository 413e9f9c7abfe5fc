// A peer that registered but knows no member keeps asking (real sockets, OS-chosen ports on
// 127.0.0.1). The first peer of a cluster gets an empty answer; when the registry then loses its
// registration (restarted empty here; on a loaded machine, checks of the peer that timed out), no
// one knows that peer and it knows no one. Re-registration is off, so only the join can repair it:
// it must keep registering while its view is empty, and a later peer must find it.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { membership, type Membership, type MembershipInit } from '../../../src/protocols/membership/index.js'
import { waitFor } from '../../helpers.js'

const HOST = '127.0.0.1'

const TIMINGS: MembershipInit = {
  profile: 'local',
  joinRetryMs: 100,
  reregisterIntervalMs: 0,
}

const mem = (n: Node) => n.protocol<Membership>('membership')!

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, HOST, () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function registry(port: number): Node {
  return createNode({
    name: 'master',
    host: HOST,
    httpPort: port,
    framePort: 0,
    protocols: [membership({ ...TIMINGS, registry: true })],
  })
}

function peer(name: string, bootstrapUrl: string): Node {
  return createNode({
    name,
    host: HOST,
    httpPort: 0,
    framePort: 0,
    protocols: [membership({ ...TIMINGS, bootstrapUrl })],
  })
}

describe('a registered peer that knows no member', () => {
  const started: Node[] = []
  after(async () => {
    for (const n of started) await n.stop()
  })

  test('keeps registering, so that a registry that lost it finds it again and a later peer sees it', async () => {
    const port = await freePort()
    const first = registry(port)
    started.push(first)
    await first.start()
    const a = peer('alone', first.httpUrl)
    started.push(a)
    await a.start()
    // The registry has checked it: the first peer is registered, with an empty answer.
    await waitFor('the registry to list the first peer', () => mem(first).knows(a.httpUrl), 30_000, 50)
    assert.equal(mem(a).viewSize(), 0)

    // The registry restarts at the same address and remembers nothing.
    await first.stop()
    const second = registry(port)
    started.push(second)
    await second.start()
    await waitFor(
      'the restarted registry to list the first peer again',
      () => mem(second).knows(a.httpUrl),
      60_000,
      50,
    )

    const b = peer('later', second.httpUrl)
    started.push(b)
    await b.start()
    await waitFor(
      'the two peers to know each other',
      () => mem(a).knows(b.httpUrl) && mem(b).knows(a.httpUrl),
      60_000,
      50,
    )
    assert.deepEqual(mem(a).peers(), [b.httpUrl])
    assert.deepEqual(mem(b).peers(), [a.httpUrl])
  })
})
