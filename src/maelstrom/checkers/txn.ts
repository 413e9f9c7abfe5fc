// txn-list-append and txn-rw-register: an Elle-style analysis (Kingsbury & Alvaro, "Elle:
// inferring isolation anomalies from experimental observations", 2020). From what transactions
// read, infer each key's version order, build Adya's dependency graph (ww, wr, rw edges between
// committed transactions), and look for the cycles and non-cyclic anomalies each isolation level
// forbids:
// - G0 write cycle (ww only), G1c (ww + wr), G-single (one rw), G2 (more rw);
// - G1a aborted read (a value written only by a failed transaction), G1b intermediate read (a value
//   its writer overwrote within the same transaction);
// - lost-update: two committed transactions read the same version of a key and both wrote it;
// - always errors: internal (a transaction disagrees with its own earlier reads and writes),
//   garbage-read (a value nobody wrote), duplicate-elements and incompatible-order (list reads that
//   are not prefixes of one order).
// List-append recovers the full version order of every key from the longest read. A register only
// reveals order where a transaction read a version and then wrote the key (v before v'), and
// that the initial nil comes first; versions related in no such way give no edges, so some cycles
// in rw-register histories go unseen (as in Elle without real-time or process order).
import type { History, Op } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import {
  opRef,
  opStats,
  pairHistory,
  resolveCheckOptions,
  showValue,
  valueKey,
  type ConsistencyModel,
  type OpRef,
} from './common.js'
import { DepGraph, EDGE_NAMES, RW, WR, WW } from './graph.js'

const MAX_EXAMPLES = 20

/** Anomalies each model forbids (Adya; Elle's names). The "always" ones are added to every model. */
const FORBIDDEN: Record<ConsistencyModel, readonly string[]> = {
  'read-uncommitted': ['G0'],
  'read-committed': ['G0', 'G1a', 'G1b', 'G1c'],
  serializable: ['G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2', 'lost-update'],
  'strict-serializable': ['G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2', 'lost-update'],
}
const ALWAYS = ['internal', 'garbage-read', 'duplicate-elements', 'incompatible-order', 'malformed']

interface Txn {
  id: number
  invoke: Op
  complete: Op | undefined
  status: 'ok' | 'info' | 'fail'
  mops: Array<{ f: string; key: string; rawKey: unknown; value: unknown }>
  node: number // graph node, -1 when not in the graph
}

interface Writer {
  txn: Txn
  /** The writer wrote another value to the same key after this one. */
  intermediate: boolean
}

class Found {
  readonly lists = new Map<string, unknown[]>()
  readonly counts = new Map<string, number>()
  add(kind: string, example: () => unknown): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
    let list = this.lists.get(kind)
    if (list === undefined) this.lists.set(kind, (list = []))
    if (list.length < MAX_EXAMPLES) list.push(example())
  }
}

function parseTxns(history: History, found: Found): { txns: Txn[]; pairs: ReturnType<typeof pairHistory> } {
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
function writers(txns: Txn[], wf: string): Map<string, Map<string, Writer>> {
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
function nodeOf(t: Txn, nodes: Txn[]): number {
  if (t.node >= 0) return t.node
  if (t.status === 'fail') return -1
  t.node = nodes.length
  nodes.push(t)
  return t.node
}

interface ReadFacts {
  txn: Txn
  key: string
  rawKey: unknown
  /** The version read, ignoring the reader's own writes: a value key, or null for the initial. */
  version: string | null
  /** The reader wrote the key after this read (for lost updates). */
  thenWrote: boolean
}

export function checkTxnListAppend(history: History, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const found = new Found()
  const { txns, pairs } = parseTxns(history, found)
  const byKey = writers(txns, 'append')
  const reads: ReadFacts[] = []
  const longest = new Map<string, string[]>() // key -> longest read list (value keys)
  const readLists: Array<{ txn: Txn; key: string; list: string[] }> = []
  for (const t of txns) {
    if (t.status !== 'ok') continue
    const known = new Map<string, string[] | undefined>()
    const appended = new Map<string, string[]>()
    for (let i = 0; i < t.mops.length; i++) {
      const m = t.mops[i] as Txn['mops'][number]
      if (m.f === 'append') {
        let a = appended.get(m.key)
        if (a === undefined) appended.set(m.key, (a = []))
        a.push(valueKey(m.value))
        continue
      }
      if (m.f !== 'r') continue
      const raw = m.value === null ? [] : m.value
      if (!Array.isArray(raw)) {
        found.add('malformed', () => ({
          op: opRef(t.invoke, t.complete),
          reason: 'a list read is not a list',
        }))
        continue
      }
      const list: string[] = []
      const seen = new Set<string>()
      for (const x of raw) {
        const k = valueKey(x)
        if (seen.has(k))
          found.add('duplicate-elements', () => ({
            key: showValue(m.rawKey),
            element: showValue(x),
            op: opRef(t.invoke, t.complete),
          }))
        seen.add(k)
        list.push(k)
      }
      // Internal consistency: what this transaction already knows of the key.
      const own = appended.get(m.key) ?? []
      const before = known.get(m.key)
      const expectPrefix = before === undefined ? undefined : before.concat(own)
      const ok =
        expectPrefix !== undefined
          ? expectPrefix.length === list.length && expectPrefix.every((x, j) => x === list[j])
          : own.length <= list.length && own.every((x, j) => x === list[list.length - own.length + j])
      if (!ok)
        found.add('internal', () => ({
          key: showValue(m.rawKey),
          read: showValue(raw),
          op: opRef(t.invoke, t.complete),
        }))
      known.set(m.key, list)
      appended.set(m.key, [])
      // The version read from others: drop this transaction's own trailing appends.
      let end = list.length
      const ownAll = byKey.get(m.key)
      while (end > 0 && ownAll?.get(list[end - 1] as string)?.txn === t) end--
      const external = end === list.length ? list : list.slice(0, end)
      readLists.push({ txn: t, key: m.key, list })
      let thenWrote = false
      for (let j = i + 1; j < t.mops.length; j++)
        if (t.mops[j]?.f === 'append' && t.mops[j]?.key === m.key) thenWrote = true
      reads.push({
        txn: t,
        key: m.key,
        rawKey: m.rawKey,
        version: external.length === 0 ? null : (external[external.length - 1] as string),
        thenWrote,
      })
      const cur = longest.get(m.key)
      if (cur === undefined || list.length > cur.length) longest.set(m.key, list)
    }
  }
  // Every read must be a prefix of the longest read of its key.
  const order = new Map<string, Map<string, number>>() // key -> value -> position
  for (const [key, list] of longest) {
    const pos = new Map<string, number>()
    list.forEach((v, i) => pos.set(v, i))
    order.set(key, pos)
  }
  for (const r of readLists) {
    const full = longest.get(r.key) as string[]
    for (let j = 0; j < r.list.length; j++) {
      if (r.list[j] !== full[j]) {
        found.add('incompatible-order', () => ({
          key: r.key,
          read: r.list.slice(0, 50),
          longest: full.slice(0, 50),
          op: opRef(r.txn.invoke, r.txn.complete),
        }))
        break
      }
    }
  }
  const nodes: Txn[] = []
  for (const t of txns) if (t.status === 'ok') nodeOf(t, nodes)
  // Indefinite appends that someone read committed.
  for (const [key, list] of longest)
    for (const v of list) {
      const w = byKey.get(key)?.get(v)
      if (w !== undefined && w.txn.status === 'info') nodeOf(w.txn, nodes)
    }
  const g = new DepGraph(nodes.length)
  for (const [key, list] of longest) {
    const ws = byKey.get(key)
    for (let i = 0; i + 1 < list.length; i++) {
      const a = ws?.get(list[i] as string)
      const b = ws?.get(list[i + 1] as string)
      if (a !== undefined && b !== undefined && a.txn.node >= 0 && b.txn.node >= 0)
        g.link(a.txn.node, b.txn.node, WW)
    }
  }
  for (const r of reads) {
    const ws = byKey.get(r.key)
    const full = longest.get(r.key) ?? []
    let nextIndex = 0
    if (r.version !== null) {
      const w = ws?.get(r.version)
      if (w === undefined) continue // garbage-read, reported below with every element
      readChecks(w, r, found)
      if (w.txn.node >= 0) g.link(w.txn.node, r.txn.node, WR)
      nextIndex = (order.get(r.key)?.get(r.version) ?? full.length) + 1
    }
    const next = full[nextIndex]
    const nw = next === undefined ? undefined : ws?.get(next)
    if (nw !== undefined && nw.txn.node >= 0) g.link(r.txn.node, nw.txn.node, RW)
  }
  // Aborted reads anywhere in a list, not only the last element.
  for (const r of readLists)
    for (const v of r.list) {
      const w = byKey.get(r.key)?.get(v)
      if (w === undefined)
        found.add('garbage-read', () => ({ key: r.key, value: v, op: opRef(r.txn.invoke, r.txn.complete) }))
      else if (w.txn.status === 'fail' && w.txn !== r.txn)
        found.add('G1a', () => ({
          key: r.key,
          value: v,
          writer: opRef(w.txn.invoke, w.txn.complete),
          reader: opRef(r.txn.invoke, r.txn.complete),
        }))
    }
  lostUpdates(reads, found)
  cycles(g, nodes, found, performance.now() + o.timeBudgetMs)
  return verdict(history, pairs, txns, found, o.consistencyModel)
}

export function checkTxnRwRegister(history: History, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const found = new Found()
  const { txns, pairs } = parseTxns(history, found)
  const byKey = writers(txns, 'w')
  const reads: ReadFacts[] = []
  // Inferred version order: key -> version (null = initial) -> next versions.
  const successors = new Map<string, Map<string | null, Set<string>>>()
  const follows = (key: string, a: string | null, b: string): void => {
    let m = successors.get(key)
    if (m === undefined) successors.set(key, (m = new Map()))
    let s = m.get(a)
    if (s === undefined) m.set(a, (s = new Set()))
    s.add(b)
  }
  for (const t of txns) {
    if (t.status !== 'ok') continue
    const state = new Map<string, { value: string | null; wrote: boolean }>()
    const externalRead = new Map<string, ReadFacts>()
    for (const m of t.mops) {
      if (m.f === 'w') {
        const v = valueKey(m.value)
        const prior = state.get(m.key)
        const ext = externalRead.get(m.key)
        if (ext !== undefined && prior !== undefined && !prior.wrote) {
          ext.thenWrote = true
          follows(m.key, ext.version, v)
        }
        state.set(m.key, { value: v, wrote: true })
        continue
      }
      if (m.f !== 'r') continue
      const v = m.value === null || m.value === undefined ? null : valueKey(m.value)
      const prior = state.get(m.key)
      if (prior !== undefined) {
        if (prior.value !== v)
          found.add('internal', () => ({
            key: showValue(m.rawKey),
            expected: prior.value,
            read: showValue(m.value),
            op: opRef(t.invoke, t.complete),
          }))
        continue
      }
      state.set(m.key, { value: v, wrote: false })
      const r: ReadFacts = { txn: t, key: m.key, rawKey: m.rawKey, version: v, thenWrote: false }
      externalRead.set(m.key, r)
      reads.push(r)
    }
  }
  const nodes: Txn[] = []
  for (const t of txns) if (t.status === 'ok') nodeOf(t, nodes)
  for (const r of reads) {
    if (r.version === null) continue
    const w = byKey.get(r.key)?.get(r.version)
    if (w !== undefined && w.txn.status === 'info') nodeOf(w.txn, nodes)
  }
  const g = new DepGraph(nodes.length)
  // ww from the inferred order (the initial version has no writer).
  for (const [key, m] of successors) {
    const ws = byKey.get(key)
    for (const [a, nexts] of m) {
      if (a === null) continue
      const wa = ws?.get(a)
      for (const b of nexts) {
        const wb = ws?.get(b)
        if (wa !== undefined && wb !== undefined && wa.txn.node >= 0 && wb.txn.node >= 0)
          g.link(wa.txn.node, wb.txn.node, WW)
      }
    }
  }
  for (const r of reads) {
    const ws = byKey.get(r.key)
    if (r.version !== null) {
      const w = ws?.get(r.version)
      if (w === undefined) {
        found.add('garbage-read', () => ({
          key: showValue(r.rawKey),
          value: r.version,
          op: opRef(r.txn.invoke, r.txn.complete),
        }))
        continue
      }
      readChecks(w, r, found)
      if (w.txn.status === 'fail') {
        found.add('G1a', () => ({
          key: showValue(r.rawKey),
          value: r.version,
          writer: opRef(w.txn.invoke, w.txn.complete),
          reader: opRef(r.txn.invoke, r.txn.complete),
        }))
      }
      if (w.txn.node >= 0) g.link(w.txn.node, r.txn.node, WR)
      for (const b of successors.get(r.key)?.get(r.version) ?? []) {
        const wb = ws?.get(b)
        if (wb !== undefined && wb.txn.node >= 0) g.link(r.txn.node, wb.txn.node, RW)
      }
    } else if (ws !== undefined) {
      // The initial state comes before every version: a reader of nil precedes every writer.
      for (const w of ws.values()) if (w.txn.node >= 0) g.link(r.txn.node, w.txn.node, RW)
    }
  }
  lostUpdates(reads, found)
  cycles(g, nodes, found, performance.now() + o.timeBudgetMs)
  return verdict(history, pairs, txns, found, o.consistencyModel)
}

/** G1b: the version read was overwritten by its own writer later in the same transaction. */
function readChecks(w: Writer, r: ReadFacts, found: Found): void {
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
function lostUpdates(reads: ReadFacts[], found: Found): void {
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
function cycles(g: DepGraph, nodes: Txn[], found: Found, deadline: number): void {
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

function verdict(
  history: History,
  pairs: ReturnType<typeof pairHistory>,
  txns: Txn[],
  found: Found,
  model: ConsistencyModel,
): CheckResult {
  const forbidden = new Set(FORBIDDEN[model].concat(ALWAYS))
  const anomalies: Record<string, unknown[]> = {}
  const allowed: Record<string, number> = {}
  for (const [kind, list] of found.lists) {
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
