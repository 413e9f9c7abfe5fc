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
import type { History } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import { opRef, resolveCheckOptions, showValue, valueKey } from './common.js'
import { DepGraph, RW, WR, WW } from './graph.js'
import {
  cycles,
  Found,
  lostUpdates,
  nodeOf,
  parseTxns,
  readChecks,
  verdict,
  writers,
  type ReadFacts,
  type Txn,
  type Writer,
} from './txn-common.js'

type Mop = Txn['mops'][number]
type WritersByKey = Map<string, Map<string, Writer>>

/** What the committed transactions' list reads tell. */
interface ListReads {
  reads: ReadFacts[]
  /** key -> longest read list (value keys). */
  longest: Map<string, string[]>
  readLists: Array<{ txn: Txn; key: string; list: string[] }>
}

export function checkTxnListAppend(history: History, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const found = new Found()
  const { txns, pairs } = parseTxns(history, found)
  const byKey = writers(txns, 'append')
  const lr: ListReads = { reads: [], longest: new Map(), readLists: [] }
  for (const t of txns) if (t.status === 'ok') scanListTxn(t, byKey, lr, found)
  const order = checkListOrders(lr, found)
  const { g, nodes } = listAppendGraph(txns, byKey, lr, order, found)
  abortedListReads(lr, byKey, found)
  lostUpdates(lr.reads, found)
  cycles(g, nodes, found, performance.now() + o.timeBudgetMs)
  return verdict(history, pairs, txns, found, o.consistencyModel)
}

/** One committed transaction's list reads: duplicates, internal consistency, the version read. */
function scanListTxn(t: Txn, byKey: WritersByKey, lr: ListReads, found: Found): void {
  const known = new Map<string, string[] | undefined>()
  const appended = new Map<string, string[]>()
  for (let i = 0; i < t.mops.length; i++) {
    const m = t.mops[i] as Mop
    if (m.f === 'append') {
      let a = appended.get(m.key)
      if (a === undefined) appended.set(m.key, (a = []))
      a.push(valueKey(m.value))
      continue
    }
    if (m.f !== 'r') continue
    const raw = m.value === null ? [] : m.value
    if (!Array.isArray(raw)) {
      found.add('malformed', () => ({ op: opRef(t.invoke, t.complete), reason: 'a list read is not a list' }))
      continue
    }
    const list = readList(t, m, raw, found)
    if (!internallyConsistent(list, known.get(m.key), appended.get(m.key) ?? []))
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
    lr.readLists.push({ txn: t, key: m.key, list })
    let thenWrote = false
    for (let j = i + 1; j < t.mops.length; j++)
      if (t.mops[j]?.f === 'append' && t.mops[j]?.key === m.key) thenWrote = true
    const version = external.length === 0 ? null : (external[external.length - 1] as string)
    lr.reads.push({ txn: t, key: m.key, rawKey: m.rawKey, version, thenWrote })
    const cur = lr.longest.get(m.key)
    if (cur === undefined || list.length > cur.length) lr.longest.set(m.key, list)
  }
}

/** A read list as value keys; an element seen twice is duplicate-elements. */
function readList(t: Txn, m: Mop, raw: readonly unknown[], found: Found): string[] {
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
  return list
}

/**
 * Whether a read agrees with what its transaction already knows of the key: exactly its earlier
 * read plus its own appends since, or (with no earlier read) ending in its own appends.
 */
function internallyConsistent(list: readonly string[], before: string[] | undefined, own: string[]): boolean {
  if (before !== undefined) {
    const expectPrefix = before.concat(own)
    return expectPrefix.length === list.length && expectPrefix.every((x, j) => x === list[j])
  }
  return own.length <= list.length && own.every((x, j) => x === list[list.length - own.length + j])
}

/** Every read must be a prefix of the longest read of its key; key -> value -> position. */
function checkListOrders(lr: ListReads, found: Found): Map<string, Map<string, number>> {
  const order = new Map<string, Map<string, number>>()
  for (const [key, list] of lr.longest) {
    const pos = new Map<string, number>()
    list.forEach((v, i) => pos.set(v, i))
    order.set(key, pos)
  }
  for (const r of lr.readLists) {
    const full = lr.longest.get(r.key) as string[]
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
  return order
}

/** The dependency graph: ww from each key's full order, wr to readers, rw to the next writer. */
function listAppendGraph(
  txns: Txn[],
  byKey: WritersByKey,
  lr: ListReads,
  order: Map<string, Map<string, number>>,
  found: Found,
): { g: DepGraph; nodes: Txn[] } {
  const nodes: Txn[] = []
  for (const t of txns) if (t.status === 'ok') nodeOf(t, nodes)
  // Indefinite appends that someone read committed.
  for (const [key, list] of lr.longest)
    for (const v of list) {
      const w = byKey.get(key)?.get(v)
      if (w !== undefined && w.txn.status === 'info') nodeOf(w.txn, nodes)
    }
  const g = new DepGraph(nodes.length)
  for (const [key, list] of lr.longest) {
    const ws = byKey.get(key)
    for (let i = 0; i + 1 < list.length; i++) {
      const a = ws?.get(list[i] as string)
      const b = ws?.get(list[i + 1] as string)
      if (a !== undefined && b !== undefined && a.txn.node >= 0 && b.txn.node >= 0)
        g.link(a.txn.node, b.txn.node, WW)
    }
  }
  for (const r of lr.reads) {
    const ws = byKey.get(r.key)
    const full = lr.longest.get(r.key) ?? []
    let nextIndex = 0
    if (r.version !== null) {
      const w = ws?.get(r.version)
      if (w === undefined) continue // garbage-read, reported with every element
      readChecks(w, r, found)
      if (w.txn.node >= 0) g.link(w.txn.node, r.txn.node, WR)
      nextIndex = (order.get(r.key)?.get(r.version) ?? full.length) + 1
    }
    const next = full[nextIndex]
    const nw = next === undefined ? undefined : ws?.get(next)
    if (nw !== undefined && nw.txn.node >= 0) g.link(r.txn.node, nw.txn.node, RW)
  }
  return { g, nodes }
}

/** garbage-read and G1a (aborted read) anywhere in a list, not only the last element. */
function abortedListReads(lr: ListReads, byKey: WritersByKey, found: Found): void {
  for (const r of lr.readLists)
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
}

/** Inferred version order: key -> version (null = initial) -> next versions. */
type Successors = Map<string, Map<string | null, Set<string>>>

export function checkTxnRwRegister(history: History, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const found = new Found()
  const { txns, pairs } = parseTxns(history, found)
  const byKey = writers(txns, 'w')
  const reads: ReadFacts[] = []
  const successors: Successors = new Map()
  for (const t of txns) if (t.status === 'ok') scanRegisterTxn(t, reads, successors, found)
  const nodes: Txn[] = []
  for (const t of txns) if (t.status === 'ok') nodeOf(t, nodes)
  for (const r of reads) {
    if (r.version === null) continue
    const w = byKey.get(r.key)?.get(r.version)
    if (w !== undefined && w.txn.status === 'info') nodeOf(w.txn, nodes)
  }
  const g = new DepGraph(nodes.length)
  registerWwEdges(g, byKey, successors)
  for (const r of reads) registerReadEdges(g, r, byKey, successors, found)
  lostUpdates(reads, found)
  cycles(g, nodes, found, performance.now() + o.timeBudgetMs)
  return verdict(history, pairs, txns, found, o.consistencyModel)
}

/** One committed transaction: its external reads, internal consistency, and read-then-write order. */
function scanRegisterTxn(t: Txn, reads: ReadFacts[], successors: Successors, found: Found): void {
  const state = new Map<string, { value: string | null; wrote: boolean }>()
  const externalRead = new Map<string, ReadFacts>()
  for (const m of t.mops) {
    if (m.f === 'w') {
      const v = valueKey(m.value)
      const prior = state.get(m.key)
      const ext = externalRead.get(m.key)
      if (ext !== undefined && prior !== undefined && !prior.wrote) {
        ext.thenWrote = true
        follows(successors, m.key, ext.version, v)
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

function follows(successors: Successors, key: string, a: string | null, b: string): void {
  let m = successors.get(key)
  if (m === undefined) successors.set(key, (m = new Map()))
  let s = m.get(a)
  if (s === undefined) m.set(a, (s = new Set()))
  s.add(b)
}

/** ww from the inferred order (the initial version has no writer). */
function registerWwEdges(g: DepGraph, byKey: WritersByKey, successors: Successors): void {
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
}

/** wr from the writer of the version read, rw to the writers of its successors; garbage-read, G1a. */
function registerReadEdges(
  g: DepGraph,
  r: ReadFacts,
  byKey: WritersByKey,
  successors: Successors,
  found: Found,
): void {
  const ws = byKey.get(r.key)
  if (r.version === null) {
    // The initial state comes before every version: a reader of nil precedes every writer.
    if (ws !== undefined) for (const w of ws.values()) if (w.txn.node >= 0) g.link(r.txn.node, w.txn.node, RW)
    return
  }
  const w = ws?.get(r.version)
  if (w === undefined) {
    found.add('garbage-read', () => ({
      key: showValue(r.rawKey),
      value: r.version,
      op: opRef(r.txn.invoke, r.txn.complete),
    }))
    return
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
}
