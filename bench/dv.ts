// Distance-vector convergence: rounds (longest causal chain of table-changing messages) and
// messages, against the graph's hop diameter, for random connected graphs of 10 to 500 routers on
// the in-memory network with simulated time; and after a link fails, with and without poisoned
// reverse (Kurose & Ross §5.2.2).
import { TopologyRun, type TopologySpec } from '../src/protocols/cn/topology.js'
import { seededRandom } from '../src/core/random.js'
import { writeResult } from './lib.js'

function randomGraph(size: number, extra: number, seed: number): TopologySpec {
  const random = seededRandom(seed)
  const nodes = Array.from({ length: size }, (_, i) => 10_000 + i)
  const links: TopologySpec['links'] = []
  const has = new Set<string>()
  const add = (a: number, b: number) => {
    const key = `${Math.min(a, b)}-${Math.max(a, b)}`
    if (a === b || has.has(key)) return
    has.add(key)
    links.push({ a, b, cost: 1 + Math.floor(random() * 10) })
  }
  for (let i = 1; i < size; i++) add(nodes[i]!, nodes[Math.floor(random() * i)]!)
  for (let k = 0; k < extra; k++)
    add(nodes[Math.floor(random() * size)]!, nodes[Math.floor(random() * size)]!)
  return { kind: 'dv', nodes, names: {}, links, last: nodes[0]! }
}

function hopDiameter(spec: TopologySpec): number {
  const adj = new Map<number, number[]>(spec.nodes.map((n) => [n, []]))
  for (const l of spec.links) {
    adj.get(l.a)!.push(l.b)
    adj.get(l.b)!.push(l.a)
  }
  let diameter = 0
  for (const s of spec.nodes) {
    const dist = new Map([[s, 0]])
    const queue = [s]
    for (let i = 0; i < queue.length; i++)
      for (const v of adj.get(queue[i]!)!)
        if (!dist.has(v)) {
          dist.set(v, dist.get(queue[i]!)! + 1)
          queue.push(v)
        }
    for (const d of dist.values()) diameter = Math.max(diameter, d)
  }
  return diameter
}

function connectedWithout(spec: TopologySpec, cut: TopologySpec['links'][number]): boolean {
  const adj = new Map<number, number[]>(spec.nodes.map((n) => [n, []]))
  for (const l of spec.links) {
    if (l === cut) continue
    adj.get(l.a)!.push(l.b)
    adj.get(l.b)!.push(l.a)
  }
  const seen = new Set([spec.nodes[0]!])
  const queue = [spec.nodes[0]!]
  for (let i = 0; i < queue.length; i++)
    for (const v of adj.get(queue[i]!)!)
      if (!seen.has(v)) {
        seen.add(v)
        queue.push(v)
      }
  return seen.size === spec.nodes.length
}

const SIZES = [10, 25, 50, 100, 200, 500]
const convergeRows: Array<Array<string | number>> = []
const failureRows: Array<Array<string | number>> = []
const data: unknown[] = []

for (const n of SIZES) {
  const spec = randomGraph(n, Math.round(n / 2), n)
  const diameter = hopDiameter(spec)
  const results: Record<
    string,
    { rounds: number; messages: number; failRounds: number; failMessages: number; converged: boolean }
  > = {}
  for (const poisonedReverse of [true, false]) {
    const t0 = performance.now()
    const run = await TopologyRun.start(spec, {
      transport: 'memory',
      poisonedReverse,
      maxDistance: 1000,
      timeoutMs: 10_000_000,
    })
    try {
      const first = await run.settle()
      // Fail the cheapest link whose loss keeps the graph connected (a cut is the last section).
      const link = [...spec.links].sort((x, y) => x.cost - y.cost).find((l) => connectedWithout(spec, l))!
      const r0 = run.maxRoundSent()
      const m0 = run.messages()
      run.setLinkCost(link.a, link.b, Infinity)
      const after = await run.settle()
      results[String(poisonedReverse)] = {
        rounds: first.rounds,
        messages: first.messages,
        failRounds: Math.max(0, after.rounds - r0),
        failMessages: after.messages - m0,
        converged: first.converged && after.converged,
      }
    } finally {
      await run.stop()
    }
    process.stderr.write(
      `n=${n} poisonedReverse=${poisonedReverse}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    )
  }
  const pr = results.true!
  const plain = results.false!
  convergeRows.push([
    n,
    spec.links.length,
    diameter,
    pr.rounds,
    pr.messages,
    Number((pr.messages / n).toFixed(1)),
    pr.converged ? 'yes' : 'NO',
  ])
  failureRows.push([
    n,
    pr.failRounds,
    pr.failMessages,
    plain.failRounds,
    plain.failMessages,
    Number((plain.failMessages / Math.max(1, pr.failMessages)).toFixed(2)),
  ])
  data.push({ n, links: spec.links.length, diameter, poisonedReverse: pr, plain })
}

// The classic case poisoned reverse exists for: a cut-off router, distances bounded by maxDistance.
const cut: Array<Array<string | number>> = []
for (const poisonedReverse of [true, false]) {
  const spec: TopologySpec = {
    kind: 'dv',
    nodes: [1, 2, 3, 4],
    names: {},
    links: [
      { a: 1, b: 2, cost: 1 },
      { a: 2, b: 3, cost: 1 },
      { a: 3, b: 4, cost: 1 },
      { a: 2, b: 4, cost: 1 },
    ],
    last: 1,
  }
  const run = await TopologyRun.start(spec, { transport: 'memory', poisonedReverse, maxDistance: 100 })
  try {
    await run.settle()
    const r0 = run.maxRoundSent()
    const m0 = run.messages()
    run.setLinkCost(1, 2, Infinity)
    const after = await run.settle()
    cut.push([
      poisonedReverse ? 'on' : 'off',
      Math.max(0, after.rounds - r0),
      after.messages - m0,
      after.converged ? 'yes' : 'NO',
    ])
  } finally {
    await run.stop()
  }
}

writeResult('dv', {
  title: 'Distance-vector convergence',
  description:
    'Random connected graphs (a random spanning tree plus n/2 extra links, costs 1..10) on the in-memory datagram network with ' +
    'simulated time (1 ms per hop), the `last` router starting the exchange. Rounds: the longest causal chain of messages that changed ' +
    'a table (each message carries one more than the message that caused it). Converged: quiet, and every table satisfies ' +
    'D_x(y) = min_v c(x,v) + D_v(y).',
  sections: [
    {
      heading: 'From cold start',
      columns: ['routers', 'links', 'hop diameter', 'rounds', 'messages', 'messages / router', 'converged'],
      rows: convergeRows,
      notes: [
        'Asynchronous Bellman-Ford with triggered updates: rounds exceed the diameter because longer paths are often heard before shorter ones.',
      ],
    },
    {
      heading: 'After the cheapest link fails (the graph stays connected)',
      columns: [
        'routers',
        'rounds (poisoned reverse)',
        'messages (poisoned reverse)',
        'rounds (plain)',
        'messages (plain)',
        'plain / poisoned messages',
      ],
      rows: failureRows,
    },
    {
      heading: 'A router cut off (1-2 fails in 1-2, 2-3, 3-4, 2-4; unreachable at distance 100)',
      columns: ['poisoned reverse', 'rounds', 'messages', 'converged'],
      rows: cut,
      notes: [
        'Without poisoned reverse 2, 3 and 4 count to infinity through each other; poisoned reverse stops the two-router loops but not the three-router loop 2-3-4, which still counts up to the bound.',
      ],
    },
  ],
  data,
})
