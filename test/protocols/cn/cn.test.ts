// cnnode: Go-Back-N probes measure each link's loss rate, and the routing tables are the shortest
// paths over those measured rates. In memory on simulated time (minutes of probing in a second),
// and once over UDP on loopback with short intervals.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createSocket } from 'node:dgram'
import { TopologyRun, parseTopology, runTopology } from '../../../src/protocols/cn/topology.js'
import { type CnNode, cnNode } from '../../../src/protocols/cn/index.js'
import { floydWarshall } from '../dv/graphs.js'
import { seededRandom } from '../../../src/core/random.js'

describe('cnnode', () => {
  test('measured loss rates approach the configured ones and tables are shortest paths over them', async () => {
    const spec = parseTopology(readFileSync('topologies/course-cn-4.yaml', 'utf8'))
    const run = await TopologyRun.start(spec, {
      transport: 'memory',
      durationMs: 300_000,
      random: seededRandom(3),
    })
    try {
      const result = await run.settle()
      assert.equal(result.converged, true)
      const measured: Array<{ a: number; b: number; cost: number }> = []
      for (const l of spec.links) {
        const node = run.nodes.get(l.a) as CnNode
        const status = node.linkStatus().find((s) => s.to === run.toActual.get(l.b))!
        assert.ok(status.sent > 200, `link ${l.a}->${l.b} carried ${status.sent} probes`)
        assert.ok(
          Math.abs(status.lossRate - l.cost) < 0.06,
          `link ${l.a}->${l.b}: measured ${status.lossRate}, configured ${l.cost}`,
        )
        // Both ends use the probing side's measurement, rounded to 2 decimals.
        const cost = Math.round(status.lossRate * 100) / 100
        const other = run.nodes.get(l.b) as CnNode
        assert.equal(new Map(other.links()).get(run.toActual.get(l.a)!), cost)
        measured.push({ a: l.a, b: l.b, cost })
      }
      const fw = floydWarshall(spec.nodes, measured)
      for (const x of spec.nodes)
        for (const y of spec.nodes)
          if (x !== y)
            assert.ok(Math.abs(result.tables[x]![y]!.distance - fw.get(x)!.get(y)!) < 1e-9, `${x} -> ${y}`)
    } finally {
      await run.stop()
    }
  })

  test('over UDP on loopback with short intervals: every node reaches every other', async () => {
    const spec = parseTopology(readFileSync('topologies/course-cn-4.yaml', 'utf8'))
    const result = await runTopology(spec, {
      anyPorts: true,
      exchangeIntervalMs: 300,
      statusIntervalMs: 200,
      durationMs: 2500,
      timeoutMs: 30_000,
    })
    assert.equal(result.converged, true)
    for (const x of spec.nodes) assert.equal(Object.keys(result.tables[x]!).length, 3)
    for (const t of Object.values(result.tables))
      for (const r of Object.values(t))
        assert.equal(Math.round(r.distance * 100) / 100, r.distance, 'two decimals')
  })

  test('garbage and strangers do not crash a node', async () => {
    const node = cnNode({ port: 0, receive: [{ port: 9, lossRate: 0.1 }], send: [], last: false })()
    await node.start()
    try {
      const s = createSocket('udp4')
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
      for (let i = 0; i < 30; i++)
        await new Promise<void>((r) => s.send(Buffer.alloc(i * 3, 0x67), node.port, '127.0.0.1', () => r()))
      const deadline = Date.now() + 10_000
      while (node.stats().rejected < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      assert.equal(node.stats().rejectedByReason.unknown_peer, 30)
      await new Promise<void>((r) => s.close(() => r()))
    } finally {
      await node.stop()
    }
  })

  test('options are checked field by field', () => {
    assert.throws(() => cnNode({ port: 1111, receive: [{ port: 2222, lossRate: 1.5 }] }), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'receive[0].lossRate',
    })
    assert.throws(() => cnNode({ port: 1111, send: [1111] }), { code: 'ERR_INVALID_ARGUMENT' })
  })
})
