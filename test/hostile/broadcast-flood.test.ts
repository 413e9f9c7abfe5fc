// Issue 14 item 9 on an open cluster, scaled down: a flood of broadcast messages from an invented
// origin (far~1, seqs 1.., seq 0 never sent) into node2, which delivers them and spreads them to
// the master and node1, as the bench's attack does. Live nodes on real sockets (127.94.3.x, ports
// from the OS). What every node keeps stays within its byte budget, by the store's own accounting
// (deterministic), evictions are counted in /metrics, the process grows within a loose bound (a
// loaded machine's GC is not deterministic), and a legitimate broadcast after the flood still
// reaches every node and every node's read.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { broadcast, type Broadcast } from '../../src/protocols/broadcast/index.js'
import { DELIVERY_OVERHEAD_BYTES } from '../../src/protocols/broadcast/budget.js'
import { waitFor } from '../helpers.js'
import { prefixed, rawFrame } from './frames.js'

const bc = (n: Node) => n.protocol<Broadcast>('broadcast')!
/** A budget the flood fills many times over. */
const BUDGET = 512 * 1024
const FLOOD = 30_000
const PER = 1000

describe('a broadcast flood from an invented origin on an open cluster', () => {
  const make = () => broadcast({ ipPort: 0, maxStoredBytes: BUDGET })
  const master = createNode({
    name: 'master',
    host: '127.94.3.1',
    httpPort: 0,
    framePort: 0,
    protocols: [make()],
  })
  let n1: Node
  let n2: Node
  let sock: Socket

  before(async () => {
    await master.start()
    const common = { httpPort: 0, framePort: 0, masterUrl: master.httpUrl, membersRefreshMs: 3_600_000 }
    n1 = createNode({ name: 'node1', host: '127.94.3.2', ...common, protocols: [make()] })
    n2 = createNode({ name: 'node2', host: '127.94.3.3', ...common, protocols: [make()] })
    await n1.start()
    await n2.start()
    for (const n of [master, n1, n2]) await n.refreshMembers()
    sock = connect({ host: '127.94.3.3', port: n2.self().framePort, localAddress: '127.94.3.9' })
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
    sock.on('error', () => {})
  })
  after(async () => {
    sock.destroy()
    await n2.stop()
    await n1.stop()
    await master.stop()
  })

  test('every node stays within its byte budget, counts what it evicted, and still delivers', async () => {
    const rssBefore = process.memoryUsage().rss
    for (let at = 1; at <= FLOOD; at += PER) {
      const m = []
      for (let k = at; k < at + PER; k++) m.push({ o: 'far~1', q: k, v: k, s: 'flood', t: 1, h: 1 })
      const frame = rawFrame({
        header: { v: 1, id: `fl-${at}`, proto: 'broadcast', type: 'msg', src: 'far', dst: 'node2', ts: 1 },
        // a: 1 (a GRAFT's answer): node2 passes the messages on, as the bench's attack makes it.
        body: Buffer.from(JSON.stringify({ m, a: 1 })),
      })
      await new Promise<void>((r) => sock.write(prefixed(frame), () => r()))
    }
    await waitFor('node2 delivered the flood', () => bc(n2).stats().delivered >= FLOOD, 120_000)
    // The master and node1 get it over UDP from node2 and each other: wait until they are quiet.
    let last = -1
    await waitFor(
      'the spread settled',
      async () => {
        const now = bc(master).stats().delivered + bc(n1).stats().delivered
        const quiet = now === last
        last = now
        await new Promise((r) => setTimeout(r, 500))
        return quiet
      },
      120_000,
    )
    for (const n of [master, n1, n2]) {
      const s = bc(n).stats()
      assert.ok(s.delivered > FLOOD / 2, `${n.name} delivered ${s.delivered}`)
      // The store's own accounting: within the budget, and every delivered payload held or evicted.
      assert.ok(s.storedBytes <= BUDGET, `${n.name} holds ${s.storedBytes} bytes`)
      assert.equal(s.stored + s.payloadsEvicted, s.delivered, `${n.name}: ${JSON.stringify(s)}`)
      assert.ok(s.payloadsEvicted > 0 && s.deliveriesEvicted > 0, `${n.name}: ${JSON.stringify(s)}`)
      const logged = bc(n).delivered(0, 'all').messages.length
      assert.ok(logged <= BUDGET / DELIVERY_OVERHEAD_BYTES, `${n.name} logs ${logged} deliveries`)
      assert.equal(
        n.metrics.total('distlab_broadcast_evicted_total', { what: 'payloads' }),
        s.payloadsEvicted,
      )
    }
    // Three nodes in this process: a loose bound that a loaded machine's GC still meets.
    const grown = (process.memoryUsage().rss - rssBefore) / 1e6
    assert.ok(grown < 250, `RSS grew ${grown.toFixed(0)} MB`)
    // A legitimate broadcast after the flood reaches every node, and every node's read has it.
    const r = await bc(n1).broadcast('after the flood')
    for (const n of [master, n1, n2]) {
      await waitFor(`${n.name} delivered it`, () =>
        bc(n)
          .delivered(0, 'app')
          .messages.some((m) => m.id === r.id),
      )
      assert.ok(
        bc(n)
          .delivered(0, 'app')
          .messages.some((m) => m.value === 'after the flood'),
      )
    }
  })
})
