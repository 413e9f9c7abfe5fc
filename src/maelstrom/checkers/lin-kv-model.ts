// lin-kv's sequential model (a register per key) and the reductions applied to one key's
// operations before the search, so a failing history is proved wrong without exploring every
// subset of its indefinite operations:
// - values no operation observes (no read returns them, no cas expects or rules them out) all
//   behave alike under every step, so they become one value, `garbage`;
// - indefinite operations (no return) with the same step after that are interchangeable: any
//   linearization using a later one where an earlier one is still pending can swap them. The
//   search only linearizes a twin once the one called before it is, which keeps the pending
//   ones from multiplying the configurations by 2^k;
// - a read or successful cas of a value nobody wrote can never be linearized: the key fails
//   without a search, at that operation's return.
import type { Op } from '../history.js'

export const enum Kind {
  /** ok read: state must equal `a` (0 = missing). */
  Read,
  /** write `a`. */
  Write,
  /** cas `a` -> `b`, succeeded (or indefinite). */
  Cas,
  /** cas failed with 22: state existed and differed from `a`. */
  CasFailDiffers,
  /** read or cas failed with 20: the key did not exist. */
  Missing,
}

/** One operation on one key, values interned to small integers (0 is "no value"). */
export interface LinOp {
  kind: Kind
  a: number
  b: number
  /** History index of the invocation and the completion (Infinity if indefinite). */
  call: number
  ret: number
  invoke: Op
  complete: Op | undefined
}

/** The register after `kind(a, b)` applied to `state`, or -1 if it cannot apply. */
export function step(kind: Kind, a: number, b: number, state: number): number {
  switch (kind) {
    case Kind.Read:
      return state === a ? state : -1
    case Kind.Write:
      return a
    case Kind.Cas:
      return state === a ? b : -1
    case Kind.CasFailDiffers:
      return state !== 0 && state !== a ? state : -1
    case Kind.Missing:
      return state === 0 ? 0 : -1
  }
}

export interface PreparedKey {
  kind: Uint8Array
  a: Int32Array
  b: Int32Array
  /** Per op: the previous interchangeable indefinite op (by call), or -1. */
  twin: Int32Array
  /** Return position of the earliest op that can never be linearized, or -1. */
  impossibleAt: number
}

/** The reductions above for `ops` sorted by call. */
export function prepareKey(ops: readonly LinOp[]): PreparedKey {
  const n = ops.length
  const kind = new Uint8Array(n)
  const a = new Int32Array(n)
  const b = new Int32Array(n)
  const twin = new Int32Array(n).fill(-1)
  const observed = new Set<number>([0])
  const written = new Set<number>()
  let garbage = 1
  for (const op of ops) {
    if (op.kind === Kind.Read || op.kind === Kind.Cas || op.kind === Kind.CasFailDiffers) observed.add(op.a)
    if (op.kind === Kind.Write) written.add(op.a)
    if (op.kind === Kind.Cas) written.add(op.b)
    garbage = Math.max(garbage, op.a + 1, op.b + 1)
  }
  let impossibleAt = -1
  const lastOfClass = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const op = ops[i] as LinOp
    kind[i] = op.kind
    a[i] = op.kind === Kind.Write && !observed.has(op.a) ? garbage : op.a
    b[i] = op.kind === Kind.Cas && !observed.has(op.b) ? garbage : op.b
    const needs = op.kind === Kind.Read || op.kind === Kind.Cas
    if (needs && op.ret !== Infinity && op.a !== 0 && !written.has(op.a)) {
      if (impossibleAt < 0 || op.ret < impossibleAt) impossibleAt = op.ret
    }
    if (op.ret === Infinity) {
      const cls = `${op.kind}:${a[i]}:${b[i]}`
      const prev = lastOfClass.get(cls)
      if (prev !== undefined) twin[i] = prev
      lastOfClass.set(cls, i)
    }
  }
  return { kind, a, b, twin, impossibleAt }
}

/**
 * A bitset that tracks its window: below `lo` every word is all ones, above `hi` all zeros, so a
 * configuration is stored as the words lo..hi only. The search keeps two, one for operations with
 * a return and one for indefinite ones: an indefinite operation never linearized would otherwise
 * hold `lo` down and make every stored window as long as the history.
 */
export class WindowBits {
  readonly words: Uint32Array
  lo = 0
  hi = -1
  constructor(n: number) {
    this.words = new Uint32Array((n + 31) >>> 5)
  }
  has(i: number): boolean {
    return ((this.words[i >>> 5] as number) & (1 << (i & 31))) !== 0
  }
  set(i: number): void {
    const w = i >>> 5
    const words = this.words
    words[w] = ((words[w] as number) | (1 << (i & 31))) >>> 0
    if (w > this.hi) this.hi = w
    while (this.lo < words.length && words[this.lo] === 0xffffffff) this.lo++
  }
  clear(i: number): void {
    const w = i >>> 5
    const words = this.words
    words[w] = ((words[w] as number) & ~(1 << (i & 31))) >>> 0
    if (w < this.lo) this.lo = w
    while (this.hi >= 0 && words[this.hi] === 0) this.hi--
  }
  span(): number {
    return this.hi >= this.lo ? this.hi - this.lo + 1 : 0
  }
  /** Whether the stored window (`lo`, `copy`) is this one. */
  equals(lo: number, copy: readonly number[]): boolean {
    const span = this.span()
    if (lo !== this.lo || copy.length !== span) return false
    for (let i = 0; i < span; i++) if (copy[i] !== this.words[lo + i]) return false
    return true
  }
  snapshot(): number[] {
    const out: number[] = []
    for (let i = this.lo; i <= this.hi; i++) out.push(this.words[i] as number)
    return out
  }
}

/**
 * Which values the operations not yet linearized can still tell apart. A value no remaining read,
 * cas or failed cas mentions is as good as garbage, and writing garbage only helps a failed cas
 * (state must exist and differ from its `from`): from the garbage state nothing but writes and
 * failed cas can follow, and each of those would have passed without the write unless the state
 * was missing or equal to its `from`. So an indefinite operation that writes such a value is only
 * tried when a failed cas from the current state (or, with the key missing, any failed cas) is
 * still to be linearized; dropping it, or moving it to just before that cas, turns any
 * linearization into one the search tries.
 */
export class Observers {
  private readonly left = new Map<number, number>()
  /** Failed-cas (22) operations by their `from`, and all of them, in call order. */
  private readonly differs = new Map<number, number[]>()
  private readonly allDiffers: number[] = []
  constructor(kind: Uint8Array, a: Int32Array) {
    for (let i = 0; i < kind.length; i++) {
      this.update(kind[i] as Kind, a[i] as number, 1)
      if (kind[i] !== Kind.CasFailDiffers) continue
      this.allDiffers.push(i)
      const list = this.differs.get(a[i] as number)
      if (list === undefined) this.differs.set(a[i] as number, [i])
      else list.push(i)
    }
  }
  /** +1 when an operation is un-linearized (or counted at the start), -1 when linearized. */
  update(kind: Kind, a: number, delta: number): void {
    if (kind !== Kind.Read && kind !== Kind.Cas && kind !== Kind.CasFailDiffers) return
    this.left.set(a, (this.left.get(a) ?? 0) + delta)
  }
  /**
   * Whether writing a value nobody remaining observes can help from `state`: a failed cas from
   * `state` (any, if the key is missing) not yet linearized and called before `frontier` (the
   * first return still pending), so it could be linearized next.
   */
  garbageUseful(
    state: number,
    frontier: number,
    call: (id: number) => number,
    linearized: (id: number) => boolean,
  ): boolean {
    const list = state === 0 ? this.allDiffers : this.differs.get(state)
    if (list === undefined) return false
    for (const id of list) {
      if (call(id) >= frontier) return false
      if (!linearized(id)) return true
    }
    return false
  }
  observed(v: number): boolean {
    return (this.left.get(v) ?? 0) > 0
  }
}
