// Independent reference for the routing tests: all-pairs shortest paths by Floyd–Warshall, and
// random connected graphs.
import { seededRandom } from '../../../src/core/random.js'
import type { TopologySpec } from '../../../src/protocols/cn/topology.js'

export function floydWarshall(
  nodes: number[],
  edges: Array<{ a: number; b: number; cost: number }>,
): Map<number, Map<number, number>> {
  const idx = new Map(nodes.map((n, i) => [n, i]))
  const n = nodes.length
  const d = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 0 : Infinity)))
  for (const e of edges) {
    const i = idx.get(e.a)!
    const j = idx.get(e.b)!
    d[i]![j] = Math.min(d[i]![j]!, e.cost)
    d[j]![i] = Math.min(d[j]![i]!, e.cost)
  }
  for (let k = 0; k < n; k++)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) if (d[i]![k]! + d[k]![j]! < d[i]![j]!) d[i]![j] = d[i]![k]! + d[k]![j]!
  const out = new Map<number, Map<number, number>>()
  nodes.forEach((a, i) => out.set(a, new Map(nodes.map((b, j) => [b, d[i]![j]!]))))
  return out
}

/** A random connected graph: a random spanning tree plus extra edges; integer costs 1..10. */
export function randomGraph(size: number, extraEdges: number, seed: number, firstPort = 20000): TopologySpec {
  const random = seededRandom(seed)
  const nodes = Array.from({ length: size }, (_, i) => firstPort + i)
  const links: TopologySpec['links'] = []
  const has = new Set<string>()
  const add = (a: number, b: number) => {
    const key = `${Math.min(a, b)}-${Math.max(a, b)}`
    if (a === b || has.has(key)) return
    has.add(key)
    links.push({ a, b, cost: 1 + Math.floor(random() * 10) })
  }
  for (let i = 1; i < size; i++) add(nodes[i]!, nodes[Math.floor(random() * i)]!)
  for (let k = 0; k < extraEdges; k++)
    add(nodes[Math.floor(random() * size)]!, nodes[Math.floor(random() * size)]!)
  return { kind: 'dv', nodes, names: {}, links, last: nodes[size - 1]! }
}
