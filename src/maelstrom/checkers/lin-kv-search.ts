// The search behind lin-kv (see lin-kv.ts for the algorithm and its sources): one key's
// operations, walked as a doubly linked list of call/return events with O(1) lift and unlift, a
// linearized set kept as two windowed bitsets with a Zobrist hash, and a memo of the (set, state)
// configurations already explored. Everything is iterative, over typed arrays: this is the hot loop.
import { Kind, Observers, prepareKey, step, WindowBits, type LinOp } from './lin-kv-model.js'

export type Verdict = true | false | 'unknown'

export interface SearchResult {
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

/**
 * The call event of every operation and, when finite, its return, sorted by history position
 * (a call before a return at the same position), as a doubly linked list headed by `head`.
 */
class EventList {
  readonly head: number
  readonly next: Int32Array
  readonly prev: Int32Array
  readonly op: Int32Array
  readonly isCall: Uint8Array
  readonly pos: Float64Array
  readonly callEntry: Int32Array
  readonly retEntry: Int32Array

  constructor(byCall: readonly LinOp[]) {
    const n = byCall.length
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
    this.head = E
    this.next = new Int32Array(E + 1)
    this.prev = new Int32Array(E + 1)
    this.op = new Int32Array(E)
    this.isCall = new Uint8Array(E)
    this.pos = new Float64Array(E)
    this.callEntry = new Int32Array(n).fill(NIL)
    this.retEntry = new Int32Array(n).fill(NIL)
    for (let j = 0; j < E; j++) {
      const ev = order[j] as number
      this.op[j] = evOp[ev] as number
      this.isCall[j] = evCall[ev] ? 1 : 0
      this.pos[j] = evPos[ev] as number
      if (evCall[ev]) this.callEntry[evOp[ev] as number] = j
      else this.retEntry[evOp[ev] as number] = j
      this.next[j] = j + 1 < E ? j + 1 : NIL
      this.prev[j] = j === 0 ? E : j - 1
    }
    this.next[E] = E > 0 ? 0 : NIL
    this.prev[E] = NIL
  }

  first(): number {
    return this.next[this.head] as number
  }
  unlink(x: number): void {
    const next = this.next
    const prev = this.prev
    next[prev[x] as number] = next[x] as number
    if (next[x] !== NIL) prev[next[x] as number] = prev[x] as number
  }
  relink(x: number): void {
    const next = this.next
    const prev = this.prev
    next[prev[x] as number] = x
    if (next[x] !== NIL) prev[next[x] as number] = x
  }
  /** History position of the first return event at or after `from` in the list. */
  frontier(from: number): number {
    let e = from
    while (e !== NIL && this.isCall[e] === 1) e = this.next[e] as number
    return e === NIL ? Infinity : (this.pos[e] as number)
  }
}

interface CacheEntry {
  state: number
  /** The windows (see WindowBits) of the two bitsets. */
  lo: number
  words: number[]
  ilo: number
  iwords: number[]
}

/**
 * The set of linearized operations: ops with a return in one windowed bitset, indefinite ones in
 * the other, and the memo of (set, state) configurations already explored.
 */
class LinearizedSet {
  /** Bit position of each op in its window, and which window. */
  private readonly bit: Int32Array
  readonly indefinite: Uint8Array
  private readonly fin: WindowBits
  private readonly ind: WindowBits
  private readonly cache = new Map<number, CacheEntry[]>()
  /** Zobrist hash of each op id: the set's hash is the xor of its members'. */
  readonly z: Uint32Array
  configurations = 0

  constructor(byCall: readonly LinOp[]) {
    const n = byCall.length
    this.bit = new Int32Array(n)
    this.indefinite = new Uint8Array(n)
    let finiteCount = 0
    let indefiniteCount = 0
    for (let i = 0; i < n; i++) {
      if ((byCall[i] as LinOp).ret === Infinity) {
        this.indefinite[i] = 1
        this.bit[i] = indefiniteCount++
      } else this.bit[i] = finiteCount++
    }
    this.fin = new WindowBits(finiteCount)
    this.ind = new WindowBits(indefiniteCount)
    this.z = zobrist(n)
  }

  set(id: number): void {
    ;(this.indefinite[id] === 1 ? this.ind : this.fin).set(this.bit[id] as number)
  }
  clear(id: number): void {
    ;(this.indefinite[id] === 1 ? this.ind : this.fin).clear(this.bit[id] as number)
  }
  has(id: number): boolean {
    return (this.indefinite[id] === 1 ? this.ind : this.fin).has(this.bit[id] as number)
  }

  /** Adds the current set with `state` (set hash `h`) to the memo; false if it was already there. */
  remember(h: number, state: number): boolean {
    const key = (h ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0
    const { fin, ind } = this
    let bucket = this.cache.get(key)
    if (bucket !== undefined) {
      for (const c of bucket) {
        if (c.state === state && fin.equals(c.lo, c.words) && ind.equals(c.ilo, c.iwords)) return false
      }
    } else {
      bucket = []
      this.cache.set(key, bucket)
    }
    bucket.push({ state, lo: fin.lo, words: fin.snapshot(), ilo: ind.lo, iwords: ind.snapshot() })
    this.configurations++
    return true
  }
}

/** Checks one key's operations (any order); `deadline` is a performance.now() value. */
export function searchKey(ops: readonly LinOp[], deadline: number, trackDeepest = false): SearchResult {
  const byCall = ops.slice().sort((x, y) => x.call - y.call)
  const prep = prepareKey(byCall)
  if (prep.impossibleAt >= 0) {
    return { verdict: false, maxBlocked: prep.impossibleAt, deepest: [], configurations: 0 }
  }
  return new KeySearch(byCall, prep.kind, prep.a, prep.b, prep.twin, trackDeepest).run(deadline)
}

/** The search's state: the linearization stack, the register, and the bookkeeping of reductions. */
class KeySearch {
  private readonly events: EventList
  private readonly set: LinearizedSet
  private readonly observers: Observers
  // Dead indefinite cas ops: once the state leaves `a` and every writer of `a` is linearized, an
  // indefinite cas from `a` can never apply; whether it is in the linearized set no longer
  // matters, so it is marked linearized (one configuration instead of two).
  private readonly writersLeft = new Map<number, number>()
  private readonly needers = new Map<number, number[]>()
  private readonly forced: Int32Array
  private fsp = 0
  private readonly stackEntry: Int32Array
  private readonly stackState: Int32Array
  private readonly stackForced: Int32Array
  private sp = 0
  private state = 0
  private hash = 0
  /** Return events still in the list: zero means every finite op is linearized. */
  private remaining = 0
  private best = -1
  private deepest: LinOp[] = []
  private maxBlocked = -1
  private readonly callOf = (id: number): number => (this.byCall[id] as LinOp).call
  private readonly isSet = (id: number): boolean => this.set.has(id)

  constructor(
    private readonly byCall: readonly LinOp[],
    private readonly opKind: Uint8Array,
    private readonly opA: Int32Array,
    private readonly opB: Int32Array,
    private readonly twin: Int32Array,
    private readonly trackDeepest: boolean,
  ) {
    const n = byCall.length
    this.events = new EventList(byCall)
    this.set = new LinearizedSet(byCall)
    this.observers = new Observers(opKind, opA)
    this.forced = new Int32Array(n)
    this.stackEntry = new Int32Array(n)
    this.stackState = new Int32Array(n)
    this.stackForced = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      const k = opKind[i] as Kind
      if ((byCall[i] as LinOp).ret !== Infinity) this.remaining++
      if (k !== Kind.Write && k !== Kind.Cas) continue
      const w = this.writes(i)
      this.writersLeft.set(w, (this.writersLeft.get(w) ?? 0) + 1)
      if (k === Kind.Cas && (byCall[i] as LinOp).ret === Infinity && opA[i] !== 0) {
        const list = this.needers.get(opA[i] as number)
        if (list === undefined) this.needers.set(opA[i] as number, [i])
        else list.push(i)
      }
    }
  }

  run(deadline: number): SearchResult {
    const ev = this.events
    let iterations = 0
    let entry = ev.first()
    for (;;) {
      if (this.remaining === 0) return this.result(true)
      if ((++iterations & 1023) === 0 && performance.now() > deadline) return this.result('unknown')
      if (entry !== NIL && ev.isCall[entry] === 1) {
        entry = this.tryLinearize(entry) ? ev.first() : (ev.next[entry] as number)
        continue
      }
      // A return event whose call is not linearized yet (or, defensively, the end of the list).
      if (entry !== NIL && (ev.pos[entry] as number) > this.maxBlocked)
        this.maxBlocked = ev.pos[entry] as number
      if (this.sp === 0) return this.result(false)
      entry = this.backtrack()
    }
  }

  private result(verdict: Verdict): SearchResult {
    const deepest = verdict === true ? [] : this.deepest
    return { verdict, maxBlocked: this.maxBlocked, deepest, configurations: this.set.configurations }
  }

  /** The value op `id` writes, or -1. */
  private writes(id: number): number {
    const k = this.opKind[id] as Kind
    return k === Kind.Write ? (this.opA[id] as number) : k === Kind.Cas ? (this.opB[id] as number) : -1
  }

  /** The state after linearizing the call at `entry` now, or -1 if it cannot (or need not) go now. */
  private candidate(entry: number): number {
    const id = this.events.op[entry] as number
    const t = this.twin[id] as number
    if (t !== NIL && !this.set.has(t)) return -1
    const w0 = this.set.indefinite[id] === 1 ? this.writes(id) : -1
    if (
      w0 >= 0 &&
      !this.observers.observed(w0) &&
      !this.observers.garbageUseful(this.state, this.events.frontier(entry), this.callOf, this.isSet)
    ) {
      return -1
    }
    return step(this.opKind[id] as Kind, this.opA[id] as number, this.opB[id] as number, this.state)
  }

  /** Linearizes the call at `entry` if it can go and the configuration is new; true if it did. */
  private tryLinearize(entry: number): boolean {
    const s2 = this.candidate(entry)
    if (s2 < 0) return false
    const id = this.events.op[entry] as number
    const f0 = this.fsp
    const h2 = this.apply(id, s2)
    if (this.set.remember(h2, s2)) {
      this.push(entry, id, s2, h2, f0)
      return true
    }
    this.unapply(id, f0)
    return false
  }

  /** Marks `id` linearized, and with it the cas ops this move leaves dead; the new set's hash. */
  private apply(id: number, s2: number): number {
    const { set, state } = this
    set.set(id)
    let h2 = (this.hash ^ (set.z[id] as number)) >>> 0
    const w = this.writes(id)
    if (w >= 0) this.writersLeft.set(w, (this.writersLeft.get(w) as number) - 1)
    this.observers.update(this.opKind[id] as Kind, this.opA[id] as number, -1)
    if (s2 !== state && state !== 0 && this.writersLeft.get(state) === 0) {
      const list = this.needers.get(state)
      if (list !== undefined) {
        for (const d of list) {
          if (set.has(d)) continue
          set.set(d)
          h2 = (h2 ^ (set.z[d] as number)) >>> 0
          this.forced[this.fsp++] = d
        }
      }
    }
    return h2
  }

  /** Undoes `apply(id)` down to forced-stack height `f0` (the hash is the caller's). */
  private unapply(id: number, f0: number): void {
    while (this.fsp > f0) this.set.clear(this.forced[--this.fsp] as number)
    const w = this.writes(id)
    if (w >= 0) this.writersLeft.set(w, (this.writersLeft.get(w) as number) + 1)
    this.observers.update(this.opKind[id] as Kind, this.opA[id] as number, 1)
    this.set.clear(id)
  }

  /** Commits an applied move: lifts its events (and the forced ops' calls) out of the list. */
  private push(entry: number, id: number, s2: number, h2: number, f0: number): void {
    const ev = this.events
    for (let i = f0; i < this.fsp; i++) ev.unlink(ev.callEntry[this.forced[i] as number] as number)
    const sp = this.sp
    this.stackForced[sp] = f0
    this.stackEntry[sp] = entry
    this.stackState[sp] = this.state
    this.sp = sp + 1
    this.state = s2
    this.hash = h2
    const r = ev.retEntry[id] as number
    ev.unlink(entry)
    if (r !== NIL) {
      ev.unlink(r)
      this.remaining--
    }
    if (this.sp > this.best) {
      this.best = this.sp
      if (this.trackDeepest) {
        this.deepest = []
        for (let i = 0; i < this.sp; i++)
          this.deepest.push(this.byCall[ev.op[this.stackEntry[i] as number] as number] as LinOp)
      }
    }
  }

  /** Pops the last move, putting its events back; the entry to go on from. */
  private backtrack(): number {
    const ev = this.events
    const sp = --this.sp
    const e = this.stackEntry[sp] as number
    this.state = this.stackState[sp] as number
    const id = ev.op[e] as number
    const w = this.writes(id)
    if (w >= 0) this.writersLeft.set(w, (this.writersLeft.get(w) as number) + 1)
    this.observers.update(this.opKind[id] as Kind, this.opA[id] as number, 1)
    this.set.clear(id)
    this.hash = (this.hash ^ (this.set.z[id] as number)) >>> 0
    const r = ev.retEntry[id] as number
    if (r !== NIL) {
      ev.relink(r)
      this.remaining++
    }
    ev.relink(e)
    const f0 = this.stackForced[sp] as number
    while (this.fsp > f0) {
      const d = this.forced[--this.fsp] as number
      this.set.clear(d)
      this.hash = (this.hash ^ (this.set.z[d] as number)) >>> 0
      ev.relink(ev.callEntry[d] as number)
    }
    return ev.next[e] as number
  }
}
