// Peers of one process register with a registry of that process by a call (local-registry.ts), not
// POST /register over loopback HTTP: the in-process launcher's mass join. Real sockets on
// 127.92.x.y (OS-chosen ports) for everything else: the frames the peers then gossip and probe with.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { createRootLogger } from '../../../src/core/logger.js'
import { membership, RegistryDirectory, type Membership } from '../../../src/protocols/membership/index.js'
import { waitFor } from '../../helpers.js'

const FAST = { probeIntervalMs: 250, probeTimeoutMs: 200, gossipIntervalMs: 60, verifyRetryMs: 200 }
const quiet = () => createRootLogger({ write: () => {} })
const mem = (n: Node) => n.protocol<Membership>('membership')!

describe('registration by call within one process', () => {
  const directory = new RegistryDirectory()
  const nodes: Node[] = []
  after(async () => {
    for (const n of nodes.reverse()) await n.stop()
  })

  test('peers join through a registry that no HTTP request reaches, with the frame addresses they have', async () => {
    const registry = createNode({
      name: 'master',
      host: '127.92.1.1',
      httpPort: 0,
      framePort: 0,
      logger: quiet(),
      protocols: [membership({ ...FAST, registry: true, directory })],
    })
    nodes.push(registry)
    await registry.start()
    assert.equal(directory.get(registry.httpUrl), mem(registry))
    // Nothing listens at this URL: over HTTP, registering there fails. Only the call can reach it.
    const unreachable = 'http://127.92.1.2:9'
    directory.add(unreachable, mem(registry))
    const peers: Node[] = []
    for (let i = 1; i <= 5; i++) {
      const p = createNode({
        name: `p${i}`,
        host: `127.92.2.${i}`,
        httpPort: 0,
        framePort: 0,
        logger: quiet(),
        protocols: [membership({ ...FAST, bootstrapUrl: unreachable, directory })],
      })
      nodes.push(p)
      peers.push(p)
      await p.start()
    }
    await waitFor(
      'every peer to know the other four',
      () => peers.every((p) => mem(p).viewSize() === peers.length - 1),
      60_000,
    )
    const admitted = mem(registry).memberList()
    for (const p of peers) {
      const m = admitted.find((x) => x.url === p.httpUrl)
      assert.ok(m, `the registry lists ${p.name}`)
      assert.equal(m.kind, 'frames')
      assert.equal(m.id, p.id)
      assert.equal(m.port, p.self().framePort)
    }
    assert.equal(mem(registry).stats().registrations >= peers.length, true)
  })

  test('a stopped registry leaves the directory', async () => {
    const registry = nodes[0]!
    const url = registry.httpUrl
    await registry.stop()
    assert.equal(directory.get(url), undefined)
  })
})
