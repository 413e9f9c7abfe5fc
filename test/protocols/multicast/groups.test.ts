// Overlay multicast: a message to a named group reaches its current members exactly once, over
// node-to-node frames only (no IP multicast), also through lossy links.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { broadcast, type Broadcast } from '../../../src/protocols/broadcast/index.js'
import { groupMulticast, type GroupMulticast } from '../../../src/protocols/multicast/index.js'
import type { Node } from '../../../src/node/node.js'
import type { ProtocolFactory } from '../../../src/core/interfaces.js'
import { memoryCluster, type MemoryCluster } from '../unicast/memory-cluster.js'
import { waitFor } from '../../helpers.js'

const mc = (n: Node) => n.protocol<GroupMulticast>('multicast')!

function protocols(): ProtocolFactory[] {
  let b: Broadcast | undefined
  const make = broadcast({ ipPort: 0, antiEntropyIntervalMs: 300, antiEntropyGraceMs: 100 })
  return [
    (c) => (b = make(c)),
    groupMulticast({ broadcast: () => b, channel: { initialRetransmitTimeoutMs: 40 } }),
  ]
}

const got = (n: Node, group: string) =>
  mc(n)
    .delivered(0, group)
    .messages.map((m) => m.msg)

describe('overlay group multicast', () => {
  let c: MemoryCluster
  let all: Node[]

  before(async () => {
    c = await memoryCluster(5, () => protocols(), 24)
    all = [c.master, ...c.nodes]
  })
  after(async () => {
    await c.stop()
    await c.stop()
  })

  test('members deliver once; non-members never', async () => {
    const [n1, n2, n3, n4] = c.nodes as [Node, Node, Node, Node]
    await mc(n2).join('sensors')
    await mc(n3).join('sensors')
    await waitFor('every node to see the group', () =>
      all.every((n) => mc(n).members('sensors').join() === 'node2,node3'),
    )
    const r = await mc(n1).send('sensors', { sensor: 'temp', value: 23.5 })
    assert.deepEqual(r.members, ['node2', 'node3'])
    assert.deepEqual(r.delivered, ['node2', 'node3'])
    assert.deepEqual(r.failed, [])
    assert.deepEqual(got(n2, 'sensors'), [{ sensor: 'temp', value: 23.5 }])
    assert.deepEqual(got(n3, 'sensors'), [{ sensor: 'temp', value: 23.5 }])
    assert.deepEqual(got(n4, 'sensors'), [])
    assert.deepEqual(got(n1, 'sensors'), [])
  })

  test('a member that sends gets its own message too; leaving stops delivery', async () => {
    const [n1, n2, n3] = c.nodes as [Node, Node, Node]
    await mc(n3).leave('sensors')
    await waitFor('the leave to spread', () => all.every((n) => mc(n).members('sensors').join() === 'node2'))
    const r = await mc(n2).send('sensors', 'from a member')
    assert.deepEqual(r.delivered, ['node2'])
    assert.ok(got(n2, 'sensors').includes('from a member'))
    assert.ok(!got(n3, 'sensors').includes('from a member'))
    assert.ok(!got(n1, 'sensors').includes('from a member'))
  })

  test('exactly once through 30% loss, duplication and reordering', async () => {
    const [n1, n2, , n4] = c.nodes as [Node, Node, Node, Node]
    await mc(n4).join('lossy')
    await mc(n2).join('lossy')
    await waitFor('the group', () => mc(n1).members('lossy').join() === 'node2,node4')
    n1.links.setRule('*', { loss: 0.3, duplicate: 0.3, reorder: 0.3, delayMs: 2, jitterMs: 2 })
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => mc(n1).send('lossy', i)))
    n1.links.heal()
    assert.ok(results.every((r) => r.delivered.length === 2))
    const expected = Array.from({ length: 40 }, (_, i) => i)
    assert.deepEqual(got(n2, 'lossy'), expected)
    assert.deepEqual(got(n4, 'lossy'), expected)
  })

  test('bad group names are refused', async () => {
    await assert.rejects(mc(c.nodes[0]!).join('no spaces allowed'), { code: 'ERR_INVALID_ARGUMENT' })
    await assert.rejects(mc(c.nodes[0]!).send('', 'x'), { code: 'ERR_INVALID_ARGUMENT' })
  })
})
