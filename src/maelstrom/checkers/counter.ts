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

export function checkCounter(history: History, _opts?: CheckOptions, growOnly = false): CheckResult {
  const pairs = pairHistory(history)
  const adds: Add[] = []
  const malformed: unknown[] = []
  const badDelta: unknown[] = []
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
  // Adds by invocation index, with prefix sums of positive and negative deltas.
  adds.sort((a, b) => a.invoke.index - b.invoke.index)
  const invokeIdx = new Float64Array(adds.length)
  const posPrefix = new Float64Array(adds.length + 1)
  const negPrefix = new Float64Array(adds.length + 1)
  let okSum = 0
  let infoPos = 0
  let infoNeg = 0
  let lastAddEvent = -1
  for (let i = 0; i < adds.length; i++) {
    const a = adds[i] as Add
    invokeIdx[i] = a.invoke.index
    posPrefix[i + 1] = (posPrefix[i] as number) + Math.max(0, a.delta)
    negPrefix[i + 1] = (negPrefix[i] as number) + Math.min(0, a.delta)
    if (a.ok) okSum += a.delta
    else if (a.delta > 0) infoPos += a.delta
    else infoNeg += a.delta
    lastAddEvent = Math.max(lastAddEvent, a.invoke.index, a.complete?.type === 'ok' ? a.complete.index : -1)
  }
  const countInvokedBefore = (index: number): number => {
    let lo = 0
    let hi = invokeIdx.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((invokeIdx[mid] as number) < index) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  const outOfBounds: unknown[] = []
  const finalOutOfBounds: unknown[] = []
  let outOfBoundsCount = 0
  let reads = 0
  const finalByNode = new Map<string, { invoke: Op; complete: Op; value: number }>()
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== 'read' || complete?.type !== 'ok') continue
    const value = complete.value
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      if (malformed.length < MAX_EXAMPLES)
        malformed.push({ op: opRef(invoke, complete), reason: 'read value is not a number' })
      continue
    }
    reads++
    const n = countInvokedBefore(complete.index)
    const lower = negPrefix[n] as number
    const upper = posPrefix[n] as number
    if (value < lower || value > upper) {
      outOfBoundsCount++
      if (outOfBounds.length < MAX_EXAMPLES) {
        outOfBounds.push({
          op: opRef(invoke, complete),
          value,
          lower,
          upper,
          direction: value > upper ? 'too-high' : 'too-low',
        })
      }
    }
    if (invoke.index > lastAddEvent)
      finalByNode.set(complete.node ?? invoke.node ?? '', { invoke, complete, value })
  }
  const finalLower = okSum + infoNeg
  const finalUpper = okSum + infoPos
  for (const [node, r] of finalByNode) {
    if (r.value >= finalLower && r.value <= finalUpper) continue
    finalOutOfBounds.push({
      node,
      op: opRef(r.invoke, r.complete),
      value: r.value,
      lower: finalLower,
      upper: finalUpper,
      // too-high: an add counted twice (or a value never added); too-low: acknowledged adds lost.
      direction: r.value > finalUpper ? 'too-high' : 'too-low',
    })
  }
  const anomalies: Record<string, unknown[]> = {}
  if (finalOutOfBounds.length > 0) anomalies['final-read-out-of-bounds'] = finalOutOfBounds
  if (outOfBoundsCount > 0) anomalies['read-out-of-bounds'] = outOfBounds
  if (malformed.length > 0) anomalies['malformed'] = malformed
  if (badDelta.length > 0) anomalies['negative-delta'] = badDelta
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'add-count': adds.length,
    'read-count': reads,
    'final-reads': finalByNode.size,
    'acknowledged-sum': okSum,
    bounds: [finalLower, finalUpper],
    'out-of-bounds-count': outOfBoundsCount,
  }
  if (Object.keys(anomalies).length > 0) return { valid: false, anomalies, stats }
  if (finalByNode.size === 0) {
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
