// What txn-list-append and txn-rw-register share (see txn.ts): transactions parsed from the
// history, writers by key and value, the dependency graph's nodes, the non-cyclic anomalies both
// find, the cycle search, and the verdict for a consistency model.
import type { History, Op } from '../history.js'
import type { CheckResult } from './types.js'
import {
  AnomalyExamples,
  opRef,
  opStats,
  pairHistory,
  showValue,
  valueKey,
  type ConsistencyModel,
  type OpRef,
} from './common.js'
import type { DepGraph } from './graph.js'
import { EDGE_NAMES, RW, WR, WW } from './graph.js'

export type Pairs = ReturnType<typeof pairHistory>

const MAX_EXAMPLES = 20

/** Anomalies each model forbids (Adya; Elle's names). The "always" ones are added to every model. */
const FORBIDDEN: Record<ConsistencyModel, readonly string[]> = {
  'read-uncommitted': ['G0'],
  'read-committed': ['G0', 'G1a', 'G1b', 'G1c'],
  serializable: ['G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2', 'lost-update'],
  'strict-serializable': ['G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2', 'lost-update'],
}
const ALWAYS = ['internal', 'garbage-read', 'duplicate-elements', 'incompatible-order', 'malformed']

export interface Txn {
  id: number
  invoke: Op
  complete: Op | undefined
  status: 'ok' | 'info' | 'fail'
  mops: Array<{ f: string; key: string; rawKey: unknown; value: unknown }>
  node: number // graph node, -1 when not in the graph
}

export interface Writer {
  txn: Txn
  /** The writer wrote another value to the same key after this one. */
  intermediate: boolean
}

/** Anomalies of a transaction history, at most MAX_EXAMPLES examples of each kind. */
export class Found extends AnomalyExamples {
  constructor() {
    super(MAX_EXAMPLES)
  }
}

export function parseTxns(
  history: History,
  found: Found,
): { txns: Txn[]; pairs: ReturnType<typeof pairHistory> } {
  const pairs = pairHistory(history)
  const txns: Txn[] = []
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== 'txn') continue
    const status = complete?.type === 'ok' ? 'ok' : complete?.type === 'fail' ? 'fail' : 'info'
    const source = status === 'ok' ? complete?.value : invoke.value
    if (!Array.isArray(source)) {
      found.add('malformed', () => ({
        op: opRef(invoke, complete),
        reason: 'txn value is not a list of micro-ops',
      }))
      continue
    }
    const mops: Txn['mops'] = []
    let bad = false
    for (const m of source) {
      if (!Array.isArray(m) || m.length !== 3 || typeof m[0] !== 'string') {
        bad = true
        break
      }
      mops.push({ f: m[0], key: valueKey(m[1]), rawKey: m[1], value: m[2] })
    }
    if (bad) {
      found.add('malformed', () => ({
        op: opRef(invoke, complete),
        reason: 'a micro-op is not [f, key, value]',
      }))
      continue
    }
    txns.push({ id: txns.length, invoke, complete, status, mops, node: -1 })
  }
  return { txns, pairs }
}

/** key -> value -> writer, for the write function `wf`; a value written twice is reported. */
export function writers(txns: Txn[], wf: string): Map<string, Map<string, Writer>> {
  const out = new Map<string, Map<string, Writer>>()
  for (const t of txns) {
    const lastWrite = new Map<string, string>()
    for (const m of t.mops) {
      if (m.f !== wf) continue
      const v = valueKey(m.value)
      let byValue = out.get(m.key)
      if (byValue === undefined) out.set(m.key, (byValue = new Map()))
      const prevInTxn = lastWrite.get(m.key)
      if (prevInTxn !== undefined) {
        const w = byValue.get(prevInTxn)
        if (w !== undefined && w.txn === t) w.intermediate = true
      }
      if (!byValue.has(v)) byValue.set(v, { txn: t, intermediate: false })
      lastWrite.set(m.key, v)
    }
  }
  return out
}

/** Adds `t` to the graph if it is committed (ok) or an indefinite one whose write was seen. */
export function nodeOf(t: Txn, nodes: Txn[]): number {
  if (t.node >= 0) return t.node
  if (t.status === 'fail') return -1
  t.node = nodes.length
  nodes.push(t)
  return t.node
}

export interface ReadFacts {
  txn: Txn
  key: string
  rawKey: unknown
  /** The version read, ignoring the reader's own writes: a value key, or null for the initial. */
  version: string | null
  /** The reader wrote the key after this read (for lost updates). */
  thenWrote: boolean
}

/** G1b: the version read was overwritten by its own writer later in the same transaction. */
export function readChecks(w: Writer, r: ReadFacts, found: Found): void {
  if (w.intermediate && w.txn !== r.txn) {
    found.add('G1b', () => ({
      key: showValue(r.rawKey),
      value: r.version,
      writer: opRef(w.txn.invoke, w.txn.complete),
      reader: opRef(r.txn.invoke, r.txn.complete),
    }))
  }
}

/** Two committed transactions read the same version of a key and then both wrote it. */
export function lostUpdates(reads: ReadFacts[], found: Found): void {
  const groups = new Map<string, ReadFacts[]>()
  const counted = new Set<string>() // one entry per transaction, key and version
  for (const r of reads) {
    if (!r.thenWrote || r.txn.status !== 'ok') continue
    const k = `${r.key}\u0000${r.version ?? '\u0001nil'}`
    const once = `${r.txn.id}\u0000${k}`
    if (counted.has(once)) continue
    counted.add(once)
    let list = groups.get(k)
    if (list === undefined) groups.set(k, (list = []))
    list.push(r)
  }
  for (const list of groups.values()) {
    if (list.length < 2) continue
    const first = list[0] as ReadFacts
    found.add('lost-update', () => ({
      key: showValue(first.rawKey),
      'read-version': first.version,
      txns: list.slice(0, 10).map((r) => opRef(r.txn.invoke, r.txn.complete)),
    }))
  }
}

function kindName(kinds: number): string {
  for (const k of [WW, WR, RW]) if ((kinds & k) !== 0) return EDGE_NAMES[k] as string
  return '?'
}

/** Finds G0, G1c, G-single and G2 cycles, one example per strongly connected component. */
export function cycles(g: DepGraph, nodes: Txn[], found: Found, deadline: number): void {
  const explained = new Set<number>() // nodes of components already explained by a stronger class
  // G0: ww only.
  for (const comp of g.sccs(WW)) {
    const within = new Set(comp)
    const a = comp[0] as number
    for (const [b, kinds] of g.adj[a] as Map<number, number>) {
      if ((kinds & WW) === 0 || !within.has(b)) continue
      const p = g.path(b, a, WW, within)
      if (p !== undefined) {
        found.add('G0', () => cycleOf(nodes, a, WW, p))
        break
      }
    }
    for (const x of comp) explained.add(x)
  }
  // G1c: ww + wr, with at least one wr.
  for (const comp of g.sccs(WW | WR)) {
    if (performance.now() > deadline) return
    const within = new Set(comp)
    let done = false
    for (const a of comp) {
      for (const [b, kinds] of g.adj[a] as Map<number, number>) {
        if ((kinds & WR) === 0 || !within.has(b)) continue
        const p = g.path(b, a, WW | WR, within)
        if (p !== undefined) {
          found.add('G1c', () => cycleOf(nodes, a, WR, p))
          done = true
          break
        }
      }
      if (done) break
    }
    if (done) for (const x of comp) explained.add(x)
  }
  // G-single (exactly one rw) and G2 (more).
  for (const comp of g.sccs(WW | WR | RW)) {
    const within = new Set(comp)
    let single = false
    let g2: unknown
    let tries = 0
    for (const a of comp) {
      for (const [b, kinds] of g.adj[a] as Map<number, number>) {
        if ((kinds & RW) === 0 || !within.has(b)) continue
        if (++tries > 1000 || performance.now() > deadline) break
        const p = g.path(b, a, WW | WR, within)
        if (p !== undefined) {
          found.add('G-single', () => cycleOf(nodes, a, RW, p))
          single = true
          break
        }
        if (g2 === undefined) {
          const q = g.path(b, a, WW | WR | RW, within)
          if (q !== undefined) g2 = cycleOf(nodes, a, RW, q)
        }
      }
      if (single || tries > 1000) break
    }
    if (!single && g2 !== undefined && !comp.every((x) => explained.has(x))) found.add('G2', () => g2)
  }
}

/**
 * The cycle a -kind-> b -path-> a: `cycle` lists the transactions in order (flat, so readers that
 * look two levels into an example find them) and `edges[i]` is the edge from cycle[i] to the next.
 */
function cycleOf(
  nodes: Txn[],
  a: number,
  kind: number,
  path: Array<{ node: number; kinds: number }>,
): unknown {
  const ref = (i: number): OpRef => opRef((nodes[i] as Txn).invoke, (nodes[i] as Txn).complete)
  const cycle: OpRef[] = [ref(a)]
  const edges: string[] = [kindName(kind)]
  // path steps are [from-node, kinds of the edge leaving it]; the first from-node is b.
  for (const s of path) {
    cycle.push(ref(s.node))
    edges.push(kindName(s.kinds))
  }
  return { cycle, edges }
}

export function verdict(
  history: History,
  pairs: ReturnType<typeof pairHistory>,
  txns: Txn[],
  found: Found,
  model: ConsistencyModel,
): CheckResult {
  const forbidden = new Set(FORBIDDEN[model].concat(ALWAYS))
  const anomalies: Record<string, unknown[]> = {}
  const allowed: Record<string, number> = {}
  for (const [kind, list] of found.examples) {
    if (forbidden.has(kind)) anomalies[kind] = list
    else allowed[kind] = found.counts.get(kind) ?? list.length
  }
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'txn-count': txns.length,
    'consistency-model': model,
    'anomaly-counts': Object.fromEntries(found.counts),
    'allowed-anomalies': allowed,
  }
  if (Object.keys(anomalies).length > 0) return { valid: false, anomalies, stats }
  if (!txns.some((t) => t.status === 'ok'))
    return { valid: 'unknown', anomalies, stats, reason: 'no transaction committed' }
  return { valid: true, anomalies, stats }
}
