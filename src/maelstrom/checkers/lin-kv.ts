// lin-kv: is the history linearizable for a map of registers with read, write and cas?
//
// The search is Wing & Gong's, made just-in-time by Lowe ("Testing for linearizability", 2017)
// and memoised as in Porcupine: walk the history's call/return events in real-time order, try to
// linearize each pending call against a sequential register model, backtrack at a return whose
// call is not yet linearized, and never revisit a (linearized set, state) configuration. By
// P-compositionality (Herlihy & Wing) each key is a separate register, checked on its own.
// Everything is iterative: an explicit stack, a doubly linked event list with O(1) lift/unlift,
// a bitset of linearized operations with a Zobrist hash. `fail` operations did not happen; the
// ones with code 20/22 still tell what the state was (missing / not equal to `from`), so they
// are checked as reads. `info` operations may take effect at any point after their call, or never.
//
// When a key is not linearizable the checker returns a small sub-history that is not either: the
// key's operations up to the deepest point the search got stuck, shrunk by removing operations
// while it stays non-linearizable. Removals are limited to ones that cannot hide a bug: any read,
// and a write whose value no remaining operation observed (so no remaining read or cas could have
// depended on it); a non-linearizable shrunk history therefore proves the full one is too.
import type { History, Op } from '../history.js'
import { MaelstromErrorCode } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import { Kind, type LinOp } from './lin-kv-model.js'
import { searchKey } from './lin-kv-search.js'
export type { LinOp }
import {
  opRef,
  opStats,
  resolveCheckOptions,
  showValue,
  valueKey,
  type OpRef,
  pairHistory,
} from './common.js'

/** What a removal of `removed` from `ops` keeps true: a non-linearizable rest proves `ops` is too. */
function soundRemoval(rest: readonly LinOp[], removed: readonly LinOp[]): boolean {
  let writes = false
  for (const op of removed) if (op.kind === Kind.Write || op.kind === Kind.Cas) writes = true
  if (!writes) return true
  const observed = new Set<number>()
  const differs = new Set<number>()
  for (const op of rest) {
    if (op.kind === Kind.Read || op.kind === Kind.Cas) observed.add(op.a)
    else if (op.kind === Kind.CasFailDiffers) differs.add(op.a)
  }
  for (const op of removed) {
    if (op.kind !== Kind.Write && op.kind !== Kind.Cas) continue
    const v = op.kind === Kind.Write ? op.a : op.b
    if (observed.has(v)) return false
    for (const d of differs) if (d !== v) return false
  }
  return true
}

/**
 * Delta-debugging shrink of a non-linearizable history; `minimal` if it ran to a fixpoint (no
 * single sound removal keeps it non-linearizable). `blocked`, the operation the search could not
 * linearize, is tried last: it is nearly always part of the answer, and a chunk holding it would
 * always fail. The list is writes then observations (reads, failed cas), each by call time, and
 * chunks go from its end backwards: observations are always safe to drop, and once a write's
 * observers are gone the write may go too.
 */
function shrink(
  ops: LinOp[],
  blocked: LinOp | undefined,
  deadline: number,
): { ops: LinOp[]; minimal: boolean } {
  const stillFails = (rest: LinOp[], removed: LinOp[]): boolean =>
    rest.length > 0 && soundRemoval(rest, removed) && searchKey(rest, deadline).verdict === false
  const kept = blocked !== undefined && ops.includes(blocked) ? [blocked] : []
  const writes = (op: LinOp): number => (op.kind === Kind.Write || op.kind === Kind.Cas ? 0 : 1)
  let others = ops.filter((op) => op !== blocked).sort((x, y) => writes(x) - writes(y) || x.call - y.call)
  let chunk = Math.max(1, Math.ceil(others.length / 2))
  while (others.length > 0) {
    let removedAny = false
    let end = others.length
    while (end > 0) {
      if (performance.now() > deadline) return { ops: kept.concat(others), minimal: false }
      const start = Math.max(0, end - chunk)
      const rest = others.slice(0, start).concat(others.slice(end))
      if (stillFails(kept.concat(rest), others.slice(start, end))) {
        others = rest
        removedAny = true
      }
      end = start
    }
    if (chunk === 1 && !removedAny) break
    chunk = removedAny ? Math.max(1, Math.min(chunk, Math.ceil(others.length / 2))) : Math.max(1, chunk >>> 1)
  }
  if (kept.length > 0 && stillFails(others, kept)) return shrink(others, undefined, deadline)
  return { ops: kept.concat(others), minimal: true }
}

const MAX_MALFORMED = 50
/** Failing keys reported with a counterexample; the rest are only counted. */
const MAX_WITNESSES = 3

/** One key's operations; `key` as the history wrote it. */
interface KeyOps {
  key: unknown
  ops: LinOp[]
}

/**
 * The history read as register operations per key: values interned to small integers (0 is "no
 * value": a missing key, or a read of null), operations that tell nothing dropped, malformed ones
 * recorded (the first MAX_MALFORMED) and counted.
 */
class KeyIndex {
  private readonly internedPrimitives = new Map<unknown, number>([[null, 0]])
  private readonly internedObjects = new Map<string, number>()
  private nextValueId = 1
  // Keys that are JSON primitives are their own identity; others go by their JSON text, in a
  // table of their own so a string can never pose as an object key.
  private readonly byKey = new Map<unknown, KeyOps>()
  private readonly byObjectKey = new Map<string, KeyOps>()
  readonly malformed: unknown[] = []
  malformedCount = 0

  intern(v: unknown): number {
    if (v === undefined) return 0
    const prim = v === null || typeof v !== 'object'
    const k = prim ? v : valueKey(v)
    const table: Map<unknown, number> = prim ? this.internedPrimitives : this.internedObjects
    let id = table.get(k)
    if (id === undefined) {
      id = this.nextValueId++
      table.set(k, id)
    }
    return id
  }

  bad(invoke: Op, complete: Op | undefined, reason: string): void {
    this.malformedCount++
    if (this.malformed.length < MAX_MALFORMED) this.malformed.push({ op: opRef(invoke, complete), reason })
  }

  add(key: unknown, op: LinOp): void {
    const primKey = key === null || typeof key !== 'object'
    const table: Map<unknown, KeyOps> = primKey ? this.byKey : this.byObjectKey
    const k = primKey ? key : valueKey(key)
    let group = table.get(k)
    if (group === undefined) {
      group = { key, ops: [] }
      table.set(k, group)
    }
    group.ops.push(op)
  }

  groups(): KeyOps[] {
    const out: KeyOps[] = []
    for (const g of this.byKey.values()) out.push(g)
    for (const g of this.byObjectKey.values()) out.push(g)
    return out
  }
}

/** The register step an operation is evidence of, or undefined if it tells nothing (or is malformed). */
function classify(
  index: KeyIndex,
  invoke: Op,
  complete: Op | undefined,
): { kind: Kind; a: number; b: number } | undefined {
  const f = invoke.f
  const type = complete?.type ?? 'info'
  const code = complete?.error?.[0]
  const iv = invoke.value as unknown[]
  if (f === 'read') {
    if (type === 'fail' && code === MaelstromErrorCode.keyDoesNotExist)
      return { kind: Kind.Missing, a: 0, b: 0 }
    if (type !== 'ok') return undefined
    const cv = complete?.value
    if (!Array.isArray(cv) || cv.length !== 2) {
      index.bad(invoke, complete, 'read result is not [key, value]')
      return undefined
    }
    return { kind: Kind.Read, a: index.intern(cv[1]), b: 0 }
  }
  if (f === 'write') {
    return type === 'ok' || type === 'info' ? { kind: Kind.Write, a: index.intern(iv[1]), b: 0 } : undefined
  }
  const fromTo: unknown = iv[1]
  if (!Array.isArray(fromTo) || fromTo.length !== 2) {
    index.bad(invoke, complete, 'cas value is not [key, [from, to]]')
    return undefined
  }
  const a = index.intern(fromTo[0])
  if (type === 'ok' || type === 'info') return { kind: Kind.Cas, a, b: index.intern(fromTo[1]) }
  if (code === MaelstromErrorCode.preconditionFailed) return { kind: Kind.CasFailDiffers, a, b: 0 }
  if (code === MaelstromErrorCode.keyDoesNotExist) return { kind: Kind.Missing, a, b: 0 }
  return undefined
}

function indexHistory(pairs: ReturnType<typeof pairHistory>): KeyIndex {
  const index = new KeyIndex()
  for (const { invoke, complete } of pairs) {
    const f = invoke.f
    if (f !== 'read' && f !== 'write' && f !== 'cas') continue
    const iv = invoke.value
    if (!Array.isArray(iv) || iv.length !== 2) {
      index.bad(invoke, complete, 'value is not [key, value]')
      continue
    }
    const c = classify(index, invoke, complete)
    if (c === undefined) continue
    const type = complete?.type ?? 'info'
    const ret = type === 'info' || complete === undefined ? Infinity : complete.index
    index.add(iv[0], { kind: c.kind, a: c.a, b: c.b, call: invoke.index, ret, invoke, complete })
  }
  return index
}

interface KeyTally {
  checked: number
  unknownKeys: number
  failedKeys: number
  configurations: number
  maxOpsPerKey: number
  witnesses: unknown[]
}

/** Searches each key in turn until the budget runs out; counterexamples for the first failing keys. */
function searchKeys(groups: readonly KeyOps[], deadline: number, shrinkWitness: boolean): KeyTally {
  const t: KeyTally = {
    checked: 0,
    unknownKeys: 0,
    failedKeys: 0,
    configurations: 0,
    maxOpsPerKey: 0,
    witnesses: [],
  }
  let outOfTime = false
  for (const { key, ops } of groups) {
    t.maxOpsPerKey = Math.max(t.maxOpsPerKey, ops.length)
    if (outOfTime || performance.now() > deadline) {
      outOfTime = true
      t.unknownKeys++
      continue
    }
    const r = searchKey(ops, deadline)
    t.configurations += r.configurations
    if (r.verdict === 'unknown') {
      outOfTime = true
      t.unknownKeys++
      continue
    }
    t.checked++
    if (r.verdict === true) continue
    t.failedKeys++
    if (t.witnesses.length < MAX_WITNESSES)
      t.witnesses.push(counterexample(key, ops, r.maxBlocked, deadline, shrinkWitness))
  }
  return t
}

export function checkLinKv(history: History, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const started = performance.now()
  const pairs = pairHistory(history)
  const index = indexHistory(pairs)
  const groups = index.groups()
  const t = searchKeys(groups, started + o.timeBudgetMs, o.shrink)
  const anomalies: Record<string, unknown[]> = {}
  if (t.witnesses.length > 0) anomalies['nonlinearizable'] = t.witnesses
  if (index.malformed.length > 0) anomalies['malformed'] = index.malformed
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'key-count': groups.length,
    'keys-checked': t.checked,
    'keys-nonlinearizable': t.failedKeys,
    'keys-unknown': t.unknownKeys,
    'max-ops-per-key': t.maxOpsPerKey,
    configurations: t.configurations,
    'malformed-count': index.malformedCount,
    'search-ms': Math.round(performance.now() - started),
  }
  if (t.failedKeys > 0 || index.malformedCount > 0) return { valid: false, anomalies, stats }
  if (t.unknownKeys > 0) {
    return {
      valid: 'unknown',
      anomalies,
      stats,
      reason: `the time budget of ${o.timeBudgetMs} ms ran out with ${t.unknownKeys} of ${groups.length} keys unchecked`,
    }
  }
  return { valid: true, anomalies, stats }
}

function refs(ops: readonly LinOp[]): OpRef[] {
  return ops
    .slice()
    .sort((x, y) => x.call - y.call)
    .map((op) => opRef(op.invoke, op.complete))
}

function counterexample(
  key: unknown,
  ops: LinOp[],
  maxBlocked: number,
  deadline: number,
  doShrink: boolean,
): unknown {
  // The operations called before the deepest return the search got stuck at. Every
  // configuration the full search explored stopped at or before that event, and dropping ops
  // called after it leaves those explorations unchanged, so these alone are not linearizable.
  let witness = ops.filter((op) => op.call < maxBlocked)
  if (witness.length === 0) witness = ops
  let minimal = false
  const blocked = ops.find((op) => op.ret === maxBlocked)
  if (doShrink) ({ ops: witness, minimal } = shrink(witness, blocked, deadline))
  const partial = searchKey(witness, deadline, true)
  return {
    key: showValue(key),
    ops: refs(witness),
    'linearizable-prefix': partial.deepest.map((op) => opRef(op.invoke, op.complete)),
    minimal,
    'key-op-count': ops.length,
  }
}
