// g-counter and pn-counter (Maelstrom's CRDT counter workloads). The counter is eventually
// consistent, so a read during the run may miss any add still in flight or not yet gossiped, but
// it can only count adds that were invoked before it returned: every read must lie between the
// sum of the negative and the sum of the positive deltas of those adds. The final read on each
// node (one invoked after every add had finished) must count every acknowledged add exactly, and
// any subset of the indefinite ones: sum(ok) + sum(negative info) <= read <= sum(ok) + sum(positive
// info). A read above the bound counts something twice (or invents it); below it loses adds.
import type { History, Op } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import { opRef, opStats, pairHistory } from './common.js'

const MAX_EXAMPLES = 50

interface Add {
  invoke: Op
  complete: Op | undefined
  delta: number
  ok: boolean
}

type Pairs = ReturnType<typeof pairHistory>

/** The adds that may have happened (failed ones did not), by invocation; bad deltas recorded. */
function collectAdds(pairs: Pairs, growOnly: boolean, malformed: unknown[], badDelta: unknown[]): Add[] {
  const adds: Add[] = []
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== 'add' || complete?.type === 'fail') continue
    const delta = invoke.value
    if (typeof delta !== 'number' || !Number.isFinite(delta)) {
      if (malformed.length < MAX_EXAMPLES)
        malformed.push({ op: opRef(invoke, complete), reason: 'delta is not a number' })
      continue
    }
    if (growOnly && delta < 0 && badDelta.length < MAX_EXAMPLES) badDelta.push(opRef(invoke, complete))
    adds.push({ invoke, complete, delta, ok: complete?.type === 'ok' })
  }
  adds.sort((a, b) => a.invoke.index - b.invoke.index)
  return adds
}

/**
 * The bounds a read can lie in: prefix sums of positive and negative deltas of the adds invoked
 * before it, and for a final read, the acknowledged sum widened by the indefinite adds.
 */
class CounterBounds {
  private readonly invokeIdx: Float64Array
  private readonly posPrefix: Float64Array
  private readonly negPrefix: Float64Array
  okSum = 0
  private infoPos = 0
  private infoNeg = 0
  /** History index of the last add event: a read invoked after it is final. */
  lastAddEvent = -1

  constructor(adds: readonly Add[]) {
    this.invokeIdx = new Float64Array(adds.length)
    this.posPrefix = new Float64Array(adds.length + 1)
    this.negPrefix = new Float64Array(adds.length + 1)
    for (let i = 0; i < adds.length; i++) {
      const a = adds[i] as Add
      this.invokeIdx[i] = a.invoke.index
      this.posPrefix[i + 1] = (this.posPrefix[i] as number) + Math.max(0, a.delta)
      this.negPrefix[i + 1] = (this.negPrefix[i] as number) + Math.min(0, a.delta)
      if (a.ok) this.okSum += a.delta
      else if (a.delta > 0) this.infoPos += a.delta
      else this.infoNeg += a.delta
      const done = a.complete?.type === 'ok' ? a.complete.index : -1
      this.lastAddEvent = Math.max(this.lastAddEvent, a.invoke.index, done)
    }
  }

  /** [lower, upper] for a read that returned at history index `index`. */
  during(index: number): [number, number] {
    let lo = 0
    let hi = this.invokeIdx.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.invokeIdx[mid] as number) < index) lo = mid + 1
      else hi = mid
    }
    return [this.negPrefix[lo] as number, this.posPrefix[lo] as number]
  }

  final(): [number, number] {
    return [this.okSum + this.infoNeg, this.okSum + this.infoPos]
  }
}

interface ReadCheck {
  reads: number
  outOfBounds: unknown[]
  outOfBoundsCount: number
  finalByNode: Map<string, { invoke: Op; complete: Op; value: number }>
}

/** read-out-of-bounds for every acknowledged read; the last final read of each node kept. */
function checkReads(pairs: Pairs, bounds: CounterBounds, malformed: unknown[]): ReadCheck {
  const rc: ReadCheck = { reads: 0, outOfBounds: [], outOfBoundsCount: 0, finalByNode: new Map() }
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== 'read' || complete?.type !== 'ok') continue
    const value = complete.value
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      if (malformed.length < MAX_EXAMPLES)
        malformed.push({ op: opRef(invoke, complete), reason: 'read value is not a number' })
      continue
    }
    rc.reads++
    const [lower, upper] = bounds.during(complete.index)
    if (value < lower || value > upper) {
      rc.outOfBoundsCount++
      if (rc.outOfBounds.length < MAX_EXAMPLES) {
        const direction = value > upper ? 'too-high' : 'too-low'
        rc.outOfBounds.push({ op: opRef(invoke, complete), value, lower, upper, direction })
      }
    }
    if (invoke.index > bounds.lastAddEvent)
      rc.finalByNode.set(complete.node ?? invoke.node ?? '', { invoke, complete, value })
  }
  return rc
}

/** final-read-out-of-bounds: a node's final read outside what the adds allow. */
function checkFinalReads(rc: ReadCheck, [lower, upper]: [number, number]): unknown[] {
  const out: unknown[] = []
  for (const [node, r] of rc.finalByNode) {
    if (r.value >= lower && r.value <= upper) continue
    out.push({
      node,
      op: opRef(r.invoke, r.complete),
      value: r.value,
      lower,
      upper,
      // too-high: an add counted twice (or a value never added); too-low: acknowledged adds lost.
      direction: r.value > upper ? 'too-high' : 'too-low',
    })
  }
  return out
}

export function checkCounter(history: History, _opts?: CheckOptions, growOnly = false): CheckResult {
  const pairs = pairHistory(history)
  const malformed: unknown[] = []
  const badDelta: unknown[] = []
  const adds = collectAdds(pairs, growOnly, malformed, badDelta)
  const bounds = new CounterBounds(adds)
  const rc = checkReads(pairs, bounds, malformed)
  const finalBounds = bounds.final()
  const finalOutOfBounds = checkFinalReads(rc, finalBounds)
  const anomalies: Record<string, unknown[]> = {}
  if (finalOutOfBounds.length > 0) anomalies['final-read-out-of-bounds'] = finalOutOfBounds
  if (rc.outOfBoundsCount > 0) anomalies['read-out-of-bounds'] = rc.outOfBounds
  if (malformed.length > 0) anomalies['malformed'] = malformed
  if (badDelta.length > 0) anomalies['negative-delta'] = badDelta
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'add-count': adds.length,
    'read-count': rc.reads,
    'final-reads': rc.finalByNode.size,
    'acknowledged-sum': bounds.okSum,
    bounds: finalBounds,
    'out-of-bounds-count': rc.outOfBoundsCount,
  }
  if (Object.keys(anomalies).length > 0) return { valid: false, anomalies, stats }
  if (rc.finalByNode.size === 0) {
    return { valid: 'unknown', anomalies, stats, reason: 'no read was invoked after every add had finished' }
  }
  return { valid: true, anomalies, stats }
}

export function checkGCounter(history: History, opts?: CheckOptions): CheckResult {
  return checkCounter(history, opts, true)
}

export function checkPnCounter(history: History, opts?: CheckOptions): CheckResult {
  return checkCounter(history, opts, false)
}
