// Distance-vector routing converges to the shortest paths: every table is compared with
// Floyd–Warshall computed here, for the course's example graphs (over UDP on loopback) and for
// random connected graphs of 50 nodes (in memory, and once over UDP), before and after a link
// changes cost or fails.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createSocket } from 'node:dgram'
import {
  parseTopology,
  runTopology,
  TopologyRun,
  type TopologyResult,
  type TopologySpec,
} from '../../../src/protocols/cn/topology.js'
import { dvNode, type DvNode } from '../../../src/protocols/dv/index.js'
import { DistanceVectorTable } from '../../../src/protocols/dv/vector.js'
import { decodeVector, encodeVector } from '../../../src/protocols/dv/wire.js'
import { encodePacket } from '../../../src/protocols/gbn/wire.js'
import { floydWarshall, randomGraph } from './graphs.js'

function assertShortestPaths(spec: TopologySpec, result: TopologyResult): void {
  const fw = floydWarshall(spec.nodes, spec.links)
  const cost = new Map(
    spec.links.flatMap((l) => [
      [`${l.a}-${l.b}`, l.cost],
      [`${l.b}-${l.a}`, l.cost],
    ]),
  )
  for (const x of spec.nodes) {
    const table = result.tables[x]!
    for (const y of spec.nodes) {
      if (x === y) continue
      const want = fw.get(x)!.get(y)!
      if (!Number.isFinite(want)) {
        assert.equal(table[y], undefined, `${x} has no route to unreachable ${y}`)
        continue
      }
      const route = table[y]
      assert.ok(route, `${x} has a route to ${y}`)
      assert.ok(
        Math.abs(route.distance - want) < 1e-9,
        `D_${x}(${y}) = ${route.distance}, shortest is ${want}`,
      )
      // The next hop is a neighbour on a shortest path.
      const c = cost.get(`${x}-${route.nextHop}`)
      assert.ok(c !== undefined, `${x}'s next hop ${route.nextHop} is a neighbour`)
      const rest = route.nextHop === y ? 0 : fw.get(route.nextHop)!.get(y)!
      assert.ok(
        Math.abs(c + rest - want) < 1e-9,
        `${x} -> ${route.nextHop} -> ... -> ${y} is a shortest path`,
      )
    }
  }
}

describe('dv converges to all-pairs shortest paths', () => {
  for (const file of ['topologies/kurose-ross-6.yaml', 'topologies/course-dv-4.yaml']) {
    test(`${file} over UDP on loopback`, async () => {
      const spec = parseTopology(readFileSync(file, 'utf8'))
      const result = await runTopology(spec, { anyPorts: true, timeoutMs: 30_000 })
      assert.equal(result.converged, true)
      assertShortestPaths(spec, result)
      assert.ok(result.rounds >= 1)
    })
  }

  test('the textbook graph gives u the textbook table', async () => {
    const spec = parseTopology(readFileSync('topologies/kurose-ross-6.yaml', 'utf8'))
    const result = await runTopology(spec, { transport: 'memory' })
    // u = 1111: v 2, w 3 via x, x 1, y 2 via x, z 4 via x
    assert.deepEqual(result.tables[1111], {
      2222: { distance: 2, nextHop: 2222 },
      3333: { distance: 3, nextHop: 4444 },
      4444: { distance: 1, nextHop: 4444 },
      5555: { distance: 2, nextHop: 4444 },
      6666: { distance: 4, nextHop: 4444 },
    })
  })

  for (const seed of [1, 2, 3, 4, 5]) {
    test(`random connected graph of 50 nodes (seed ${seed}), in memory`, async () => {
      const spec = randomGraph(50, 40, seed)
      const result = await runTopology(spec, { transport: 'memory' })
      assert.equal(result.converged, true)
      assertShortestPaths(spec, result)
    })
  }

  test('random connected graph of 50 nodes over UDP on loopback', async () => {
    const spec = randomGraph(50, 40, 77)
    const result = await runTopology(spec, { anyPorts: true, timeoutMs: 60_000 })
    assert.equal(result.converged, true)
    assertShortestPaths(spec, result)
  })

  for (const poisonedReverse of [true, false]) {
    test(`after a cost increase and a link failure the tables are shortest paths again (poisoned reverse ${poisonedReverse})`, async () => {
      const spec = randomGraph(50, 40, 11)
      const run = await TopologyRun.start(spec, { transport: 'memory', poisonedReverse, maxDistance: 10_000 })
      try {
        assertShortestPaths(spec, await run.settle())
        // The cheapest link gets expensive; then another link goes down.
        const sorted = [...spec.links].sort((x, y) => x.cost - y.cost)
        const cheap = sorted[0]!
        run.setLinkCost(cheap.a, cheap.b, 60)
        const increased = { ...spec, links: spec.links.map((l) => (l === cheap ? { ...l, cost: 60 } : l)) }
        assertShortestPaths(increased, await run.settle())
        const down = sorted[1]!
        run.setLinkCost(down.b, down.a, Infinity)
        const failed = {
          ...increased,
          links: increased.links.filter((l) => !(l.a === down.a && l.b === down.b)),
        }
        const result = await run.settle()
        assert.equal(result.converged, true)
        assertShortestPaths(failed, result)
      } finally {
        await run.stop()
      }
    })
  }

  test('poisoned reverse avoids the count to infinity of the textbook example (x-y 4 -> 60)', async () => {
    // Kurose & Ross: x-y 4, y-z 1, x-z 50; c(x,y) rises to 60.
    const spec: TopologySpec = {
      kind: 'dv',
      nodes: [1, 2, 3],
      names: {},
      links: [
        { a: 1, b: 2, cost: 4 },
        { a: 2, b: 3, cost: 1 },
        { a: 1, b: 3, cost: 50 },
      ],
      last: 3,
    }
    const messages: Record<string, number> = {}
    for (const poisonedReverse of [true, false]) {
      const run = await TopologyRun.start(spec, { transport: 'memory', poisonedReverse })
      try {
        await run.settle()
        const before = run.messages()
        run.setLinkCost(2, 1, 60)
        const after = await run.settle()
        assertShortestPaths(
          {
            ...spec,
            links: [spec.links[0]!, spec.links[1]!, { a: 1, b: 3, cost: 50 }].map((l, i) =>
              i === 0 ? { ...l, cost: 60 } : l,
            ),
          },
          after,
        )
        messages[String(poisonedReverse)] = run.messages() - before
      } finally {
        await run.stop()
      }
    }
    assert.ok(
      messages.true! * 3 < messages.false!,
      `poisoned reverse ${messages.true} messages, without ${messages.false}`,
    )
  })

  test('a cut-off node disappears from every table', async () => {
    const spec = randomGraph(10, 0, 3) // a tree: every link is a bridge
    const run = await TopologyRun.start(spec, { transport: 'memory', maxDistance: 500 })
    try {
      await run.settle()
      const leafLink = spec.links.find(
        (l) => spec.links.filter((m) => m.a === l.a || m.b === l.a).length === 1,
      )!
      run.setLinkCost(leafLink.b, leafLink.a, Infinity)
      const result = await run.settle()
      assert.equal(result.converged, true)
      assertShortestPaths({ ...spec, links: spec.links.filter((l) => l !== leafLink) }, result)
    } finally {
      await run.stop()
    }
  })
})

describe('dv wire and robustness', () => {
  const nodes: DvNode[] = []
  after(async () => {
    for (const n of nodes) await n.stop()
  })

  test('vector codec round-trips, rejects bad lengths and negative or NaN distances', () => {
    const m = decodeVector(
      encodeVector({
        linkCost: 0.25,
        entries: [
          [1111, 0.5],
          [2222, Infinity],
        ],
      }),
    )
    assert.deepEqual(m, {
      linkCost: 0.25,
      entries: [
        [1111, 0.5],
        [2222, Infinity],
      ],
    })
    const bad = encodeVector({ entries: [[1111, 1]] })
    bad.writeDoubleBE(-1, 12)
    assert.throws(() => decodeVector(bad), { code: 'ERR_FRAME_DECODE' })
    assert.throws(() => decodeVector(bad.subarray(0, 15)), { code: 'ERR_FRAME_DECODE' })
  })

  test('poisoned reverse advertises a route back to its next hop as infinite', () => {
    const t = new DistanceVectorTable(1, { poisonedReverse: true, maxDistance: 1000 })
    t.setLink(2, 1)
    t.setLink(3, 10)
    t.receive(2, [[3, 1]])
    assert.deepEqual(t.routes.get(3), { distance: 2, nextHop: 2 })
    assert.deepEqual(new Map(t.advertisementFor(2)).get(3), Infinity)
    assert.deepEqual(new Map(t.advertisementFor(3)).get(3), 2)
  })

  test('garbage datagrams, foreign senders and bad vectors do not crash a node and are counted', async () => {
    const peer = createSocket('udp4')
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()))
    const peerPort = peer.address().port
    const node = dvNode({ port: 0, neighbors: [{ port: peerPort, cost: 1 }] })()
    nodes.push(node)
    await node.start()
    const stranger = createSocket('udp4')
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()))
    const send = (s: typeof peer, b: Uint8Array) =>
      new Promise<void>((r) => s.send(b, node.port, '127.0.0.1', () => r()))
    await send(stranger, encodePacket({ type: 'dv', seq: 1, payload: encodeVector({ entries: [[9, 1]] }) }))
    for (let i = 0; i < 50; i++) await send(peer, Buffer.alloc(i * 7, i))
    const badVector = encodeVector({ entries: [[9, 1]] })
    badVector.writeUInt16BE(3, 8)
    await send(peer, encodePacket({ type: 'dv', seq: 1, payload: badVector }))
    // A good vector still works afterwards.
    await send(peer, encodePacket({ type: 'dv', seq: 1, payload: encodeVector({ entries: [[9, 2]] }) }))
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && !node.routes().some(([d]) => d === 9))
      await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(
      node.routes().find(([d]) => d === 9),
      [9, { distance: 3, nextHop: peerPort }],
    )
    assert.ok(node.stats().rejected >= 51, `rejected ${node.stats().rejected}`)
    assert.equal(node.stats().rejectedByReason.unknown_peer, 1)
    await new Promise<void>((r) => peer.close(() => r()))
    await new Promise<void>((r) => stranger.close(() => r()))
  })

  test('options are checked field by field', () => {
    assert.throws(() => dvNode({ port: 1111, neighbors: [{ port: 2222, cost: -1 }] }), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'neighbors[0].cost',
    })
    assert.throws(() => dvNode({ port: 1111, neighbors: [{ port: 1111, cost: 1 }] }), {
      code: 'ERR_INVALID_ARGUMENT',
    })
    assert.throws(() => parseTopology('kind: dv\nlinks: []'), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'links',
    })
    assert.throws(() => parseTopology('kind: xx\nlinks: [[1,2,3]]'), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'kind',
    })
  })
})
