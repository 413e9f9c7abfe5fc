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
import { Kind, Observers, prepareKey, step, WindowBits, type LinOp } from './lin-kv-model.js'
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

type Verdict = true | false | 'unknown'

interface SearchResult {
  verdict: Verdict
  /** History index of the furthest return event at which the search had to backtrack. */
  maxBlocked: number
  /** Operations of the deepest partial linearization reached, in order (when tracked). */
  deepest: LinOp[]
  configurations: number
}

const NIL = -1

/** Deterministic 32-bit hashes for operation ids (xorshift32). */
function zobrist(n: number): Uint32Array {
  const z = new Uint32Array(n)
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    z[i] = x >>> 0
  }
  return z
}

interface CacheEntry {
  state: number
  /** The windows (see WindowBits) of the two bitsets. */
  lo: number
  words: number[]
  ilo: number
  iwords: number[]
}

/** Checks one key's operations (any order); `deadline` is a performance.now() value. */
export function searchKey(ops: readonly LinOp[], deadline: number, trackDeepest = false): SearchResult {
  const byCall = ops.slice().sort((x, y) => x.call - y.call)
  const n = byCall.length
  const prep = prepareKey(byCall)
  if (prep.impossibleAt >= 0) {
    return { verdict: false, maxBlocked: prep.impossibleAt, deepest: [], configurations: 0 }
  }
  const { kind: opKind, a: opA, b: opB, twin } = prep
  // Events: call of op i and, when finite, its return; sorted by history position.
  const evPos: number[] = []
  const evOp: number[] = []
  const evCall: boolean[] = []
  for (let i = 0; i < n; i++) {
    const op = byCall[i] as LinOp
    evPos.push(op.call)
    evOp.push(i)
    evCall.push(true)
    if (op.ret !== Infinity) {
      evPos.push(op.ret)
      evOp.push(i)
      evCall.push(false)
    }
  }
  const order = Array.from(evPos.keys()).sort(
    (x, y) => (evPos[x] as number) - (evPos[y] as number) || (evCall[x] ? -1 : 1),
  )
  const E = order.length
  const HEAD = E
  const next = new Int32Array(E + 1)
  const prev = new Int32Array(E + 1)
  const entOp = new Int32Array(E)
  const entCall = new Uint8Array(E)
  const entPos = new Float64Array(E)
  const callEntry = new Int32Array(n).fill(NIL)
  const retEntry = new Int32Array(n).fill(NIL)
  for (let j = 0; j < E; j++) {
    const ev = order[j] as number
    entOp[j] = evOp[ev] as number
    entCall[j] = evCall[ev] ? 1 : 0
    entPos[j] = evPos[ev] as number
    if (evCall[ev]) callEntry[entOp[j] as number] = j
    else retEntry[entOp[j] as number] = j
    next[j] = j + 1 < E ? j + 1 : NIL
    prev[j] = j === 0 ? HEAD : j - 1
  }
  next[HEAD] = E > 0 ? 0 : NIL
  prev[HEAD] = NIL

  const unlink = (x: number): void => {
    next[prev[x] as number] = next[x] as number
    if (next[x] !== NIL) prev[next[x] as number] = prev[x] as number
  }
  const relink = (x: number): void => {
    next[prev[x] as number] = x
    if (next[x] !== NIL) prev[next[x] as number] = x
  }

  // Bit positions: operations with a return in one window, indefinite ones in the other.
  const pos = new Int32Array(n)
  const indefinite = new Uint8Array(n)
  let finiteCount = 0
  let indefiniteCount = 0
  for (let i = 0; i < n; i++) {
    if ((byCall[i] as LinOp).ret === Infinity) {
      indefinite[i] = 1
      pos[i] = indefiniteCount++
    } else pos[i] = finiteCount++
  }
  const fin = new WindowBits(finiteCount)
  const ind = new WindowBits(indefiniteCount)
  const setBit = (id: number): void => (indefinite[id] === 1 ? ind : fin).set(pos[id] as number)
  const clearBit = (id: number): void => (indefinite[id] === 1 ? ind : fin).clear(pos[id] as number)
  const isSet = (id: number): boolean => (indefinite[id] === 1 ? ind : fin).has(pos[id] as number)
  const z = zobrist(n)
  let hash = 0
  const cache = new Map<number, CacheEntry[]>()
  let configurations = 0
  /** Adds the current (bits, state) to the cache; false if it was already there. */
  const remember = (h: number, state: number): boolean => {
    const key = (h ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0
    let bucket = cache.get(key)
    if (bucket !== undefined) {
      for (const c of bucket) {
        if (c.state === state && fin.equals(c.lo, c.words) && ind.equals(c.ilo, c.iwords)) return false
      }
    } else {
      bucket = []
      cache.set(key, bucket)
    }
    bucket.push({ state, lo: fin.lo, words: fin.snapshot(), ilo: ind.lo, iwords: ind.snapshot() })
    configurations++
    return true
  }

  const stackEntry = new Int32Array(n)
  const stackState = new Int32Array(n)
  // Dead indefinite cas ops: once the state leaves `a` and every writer of `a` is linearized, an
  // indefinite cas from `a` can never apply; whether it is in the linearized set no longer
  // matters, so it is marked linearized (one configuration instead of two).
  const writersLeft = new Map<number, number>()
  const needers = new Map<number, number[]>()
  for (let i = 0; i < n; i++) {
    const k = opKind[i] as Kind
    if (k !== Kind.Write && k !== Kind.Cas) continue
    const w = k === Kind.Write ? (opA[i] as number) : (opB[i] as number)
    writersLeft.set(w, (writersLeft.get(w) ?? 0) + 1)
    if (k === Kind.Cas && (byCall[i] as LinOp).ret === Infinity && opA[i] !== 0) {
      const list = needers.get(opA[i] as number)
      if (list === undefined) needers.set(opA[i] as number, [i])
      else list.push(i)
    }
  }
  const observers = new Observers(opKind, opA)
  const callOf = (id: number): number => (byCall[id] as LinOp).call
  /** History position of the first return event at or after `from` in the list (the frontier). */
  const frontier = (from: number): number => {
    let e = from
    while (e !== NIL && entCall[e] === 1) e = next[e] as number
    return e === NIL ? Infinity : (entPos[e] as number)
  }
  const forced = new Int32Array(n)
  let fsp = 0
  const stackForced = new Int32Array(n)
  const writes = (id: number): number => {
    const k = opKind[id] as Kind
    return k === Kind.Write ? (opA[id] as number) : k === Kind.Cas ? (opB[id] as number) : -1
  }
  let sp = 0
  let state = 0
  let remaining = 0
  for (const op of byCall) if (op.ret !== Infinity) remaining++
  let best = -1
  let deepest: LinOp[] = []
  let maxBlocked = -1
  let iterations = 0
  let entry = next[HEAD] as number
  for (;;) {
    if (remaining === 0) return { verdict: true, maxBlocked, deepest: [], configurations }
    if ((++iterations & 1023) === 0 && performance.now() > deadline) {
      return { verdict: 'unknown', maxBlocked, deepest, configurations }
    }
    if (entry !== NIL && entCall[entry] === 1) {
      const id = entOp[entry] as number
      const t = twin[id] as number
      const w0 = indefinite[id] === 1 ? writes(id) : -1
      const s2 =
        (t !== NIL && !isSet(t)) ||
        (w0 >= 0 &&
          !observers.observed(w0) &&
          !observers.garbageUseful(state, frontier(entry), callOf, isSet))
          ? -1
          : step(opKind[id] as Kind, opA[id] as number, opB[id] as number, state)
      if (s2 >= 0) {
        setBit(id)
        let h2 = (hash ^ (z[id] as number)) >>> 0
        const w = writes(id)
        if (w >= 0) writersLeft.set(w, (writersLeft.get(w) as number) - 1)
        observers.update(opKind[id] as Kind, opA[id] as number, -1)
        const f0 = fsp
        if (s2 !== state && state !== 0 && writersLeft.get(state) === 0) {
          const list = needers.get(state)
          if (list !== undefined) {
            for (const d of list) {
              if (isSet(d)) continue
              setBit(d)
              h2 = (h2 ^ (z[d] as number)) >>> 0
              forced[fsp++] = d
            }
          }
        }
        if (remember(h2, s2)) {
          for (let i = f0; i < fsp; i++) unlink(callEntry[forced[i] as number] as number)
          stackForced[sp] = f0
          stackEntry[sp] = entry
          stackState[sp] = state
          sp++
          state = s2
          hash = h2
          const r = retEntry[id] as number
          unlink(entry)
          if (r !== NIL) {
            unlink(r)
            remaining--
          }
          if (sp > best) {
            best = sp
            if (trackDeepest) {
              deepest = []
              for (let i = 0; i < sp; i++)
                deepest.push(byCall[entOp[stackEntry[i] as number] as number] as LinOp)
            }
          }
          entry = next[HEAD] as number
          continue
        }
        while (fsp > f0) clearBit(forced[--fsp] as number)
        if (w >= 0) writersLeft.set(w, (writersLeft.get(w) as number) + 1)
        observers.update(opKind[id] as Kind, opA[id] as number, 1)
        clearBit(id)
      }
      entry = next[entry] as number
      continue
    }
    // A return event whose call is not linearized yet (or, defensively, the end of the list).
    if (entry !== NIL && (entPos[entry] as number) > maxBlocked) maxBlocked = entPos[entry] as number
    if (sp === 0) return { verdict: false, maxBlocked, deepest, configurations }
    sp--
    const e = stackEntry[sp] as number
    state = stackState[sp] as number
    const id = entOp[e] as number
    const w = writes(id)
    if (w >= 0) writersLeft.set(w, (writersLeft.get(w) as number) + 1)
    observers.update(opKind[id] as Kind, opA[id] as number, 1)
    clearBit(id)
    hash = (hash ^ (z[id] as number)) >>> 0
    const r = retEntry[id] as number
    if (r !== NIL) {
      relink(r)
      remaining++
    }
    relink(e)
    const f0 = stackForced[sp] as number
    while (fsp > f0) {
      const d = forced[--fsp] as number
      clearBit(d)
      hash = (hash ^ (z[d] as number)) >>> 0
      relink(callEntry[d] as number)
    }
    entry = next[e] as number
  }
}

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

export function checkLinKv(history: History, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const started = performance.now()
  const deadline = started + o.timeBudgetMs
  // Register values as small integers; 0 is "no value" (a missing key, or a read of null).
  const internedPrimitives = new Map<unknown, number>([[null, 0]])
  const internedObjects = new Map<string, number>()
  let nextValueId = 1
  const intern = (v: unknown): number => {
    if (v === undefined) return 0
    const prim = v === null || typeof v !== 'object'
    const k = prim ? v : valueKey(v)
    const table: Map<unknown, number> = prim ? internedPrimitives : internedObjects
    let id = table.get(k)
    if (id === undefined) {
      id = nextValueId++
      table.set(k, id)
    }
    return id
  }
  // Keys that are JSON primitives are their own identity; others go by their JSON text, in a
  // table of their own so a string can never pose as an object key.
  const byKey = new Map<unknown, { key: unknown; ops: LinOp[] }>()
  const byObjectKey = new Map<string, { key: unknown; ops: LinOp[] }>()
  const malformed: unknown[] = []
  let malformedCount = 0
  const bad = (invoke: Op, complete: Op | undefined, reason: string): void => {
    malformedCount++
    if (malformed.length < MAX_MALFORMED) malformed.push({ op: opRef(invoke, complete), reason })
  }
  const pairs = pairHistory(history)
  for (const { invoke, complete } of pairs) {
    const f = invoke.f
    if (f !== 'read' && f !== 'write' && f !== 'cas') continue
    const type = complete?.type ?? 'info'
    const code = complete?.error?.[0]
    const iv = invoke.value
    if (!Array.isArray(iv) || iv.length !== 2) {
      bad(invoke, complete, 'value is not [key, value]')
      continue
    }
    const ret = type === 'info' || complete === undefined ? Infinity : complete.index
    let kind: Kind | undefined
    let a = 0
    let b = 0
    if (f === 'read') {
      if (type === 'ok') {
        const cv = complete?.value
        if (!Array.isArray(cv) || cv.length !== 2) {
          bad(invoke, complete, 'read result is not [key, value]')
          continue
        }
        kind = Kind.Read
        a = intern(cv[1])
      } else if (type === 'fail' && code === MaelstromErrorCode.keyDoesNotExist) {
        kind = Kind.Missing
      }
    } else if (f === 'write') {
      if (type === 'ok' || type === 'info') {
        kind = Kind.Write
        a = intern(iv[1])
      }
    } else {
      const fromTo: unknown = iv[1]
      if (!Array.isArray(fromTo) || fromTo.length !== 2) {
        bad(invoke, complete, 'cas value is not [key, [from, to]]')
        continue
      }
      a = intern(fromTo[0])
      if (type === 'ok' || type === 'info') {
        kind = Kind.Cas
        b = intern(fromTo[1])
      } else if (code === MaelstromErrorCode.preconditionFailed) kind = Kind.CasFailDiffers
      else if (code === MaelstromErrorCode.keyDoesNotExist) kind = Kind.Missing
    }
    if (kind === undefined) continue
    const key: unknown = iv[0]
    const primKey = key === null || typeof key !== 'object'
    const table: Map<unknown, { key: unknown; ops: LinOp[] }> = primKey ? byKey : byObjectKey
    const k = primKey ? key : valueKey(key)
    let group = table.get(k)
    if (group === undefined) {
      group = { key, ops: [] }
      table.set(k, group)
    }
    group.ops.push({ kind, a, b, call: invoke.index, ret, invoke, complete })
  }

  const keyCount = byKey.size + byObjectKey.size
  let checked = 0
  let unknownKeys = 0
  let failedKeys = 0
  let configurations = 0
  let maxOpsPerKey = 0
  let outOfTime = false
  const witnesses: unknown[] = []
  const groups: Array<{ key: unknown; ops: LinOp[] }> = []
  for (const g of byKey.values()) groups.push(g)
  for (const g of byObjectKey.values()) groups.push(g)
  for (const { key, ops } of groups) {
    maxOpsPerKey = Math.max(maxOpsPerKey, ops.length)
    if (outOfTime || performance.now() > deadline) {
      outOfTime = true
      unknownKeys++
      continue
    }
    const r = searchKey(ops, deadline)
    configurations += r.configurations
    if (r.verdict === 'unknown') {
      outOfTime = true
      unknownKeys++
      continue
    }
    checked++
    if (r.verdict === true) continue
    failedKeys++
    if (witnesses.length < MAX_WITNESSES)
      witnesses.push(counterexample(key, ops, r.maxBlocked, deadline, o.shrink))
  }

  const anomalies: Record<string, unknown[]> = {}
  if (witnesses.length > 0) anomalies['nonlinearizable'] = witnesses
  if (malformed.length > 0) anomalies['malformed'] = malformed
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'key-count': keyCount,
    'keys-checked': checked,
    'keys-nonlinearizable': failedKeys,
    'keys-unknown': unknownKeys,
    'max-ops-per-key': maxOpsPerKey,
    configurations,
    'malformed-count': malformedCount,
    'search-ms': Math.round(performance.now() - started),
  }
  if (failedKeys > 0 || malformedCount > 0) return { valid: false, anomalies, stats }
  if (unknownKeys > 0) {
    return {
      valid: 'unknown',
      anomalies,
      stats,
      reason: `the time budget of ${o.timeBudgetMs} ms ran out with ${unknownKeys} of ${keyCount} keys unchecked`,
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
