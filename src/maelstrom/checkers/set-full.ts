// Jepsen's set-full analysis, the checker behind Maelstrom's broadcast and g-set workloads. For
// every element added: when it became known (its add was acknowledged, or a read first showed
// it), which reads began after that and missed it, and whether it was still there at the end.
// Outcomes per element: stable (every read from some point on shows it), lost (known, then the
// last read after that misses it), never-read (no read began after it was known). A read that
// misses a known element which later reads show again is stale: allowed for an eventually
// consistent set, an error when `linearizable` is set. Beyond set-full, an element missing from
// the last read of one node (while known before that read began) is lost on that node: a
// broadcast must reach every node, so this catches a node that stops gossiping to one peer.
import type { History, Op } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import {
  NS_PER_MS,
  opRef,
  opStats,
  quantiles,
  resolveCheckOptions,
  showValue,
  valueKey,
  pairHistory,
} from './common.js'

/** Examples kept per anomaly kind; counts cover them all. */
const MAX_EXAMPLES = 50

export interface SetFullSpec {
  /** The add function's name: `broadcast` (broadcast) or `add` (g-set). */
  addF: string
  /** The read function's name. */
  readF: string
}

interface Element {
  value: unknown
  add: Op
  addComplete: Op | undefined
  /** History index of the event after which the element is certainly in the set. */
  knownIndex: number
  knownTime: number
}

interface Read {
  invoke: Op
  complete: Op
  node: string
  elements: Set<string>
}

export function checkSetFull(history: History, spec: SetFullSpec, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const elements = new Map<string, Element>()
  const reads: Read[] = []
  const malformed: unknown[] = []
  const duplicated = new Map<string, { element: unknown; count: number; read: unknown }>()
  const unexpected = new Map<string, { element: unknown; read: unknown }>()
  let attempts = 0
  let acknowledged = 0
  const pairs = pairHistory(history)
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== spec.addF) continue
    attempts++
    if (complete?.type === 'fail') continue
    const k = valueKey(invoke.value)
    const okIndex = complete?.type === 'ok' ? complete.index : Infinity
    if (complete?.type === 'ok') acknowledged++
    const prev = elements.get(k)
    if (prev === undefined || okIndex < prev.knownIndex) {
      elements.set(k, {
        value: invoke.value,
        add: prev?.add ?? invoke,
        addComplete: complete,
        knownIndex: okIndex,
        knownTime: complete?.type === 'ok' ? complete.time : Infinity,
      })
    }
  }
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== spec.readF || complete?.type !== 'ok') continue
    const value = complete.value
    if (!Array.isArray(value)) {
      if (malformed.length < MAX_EXAMPLES)
        malformed.push({ op: opRef(invoke, complete), reason: 'read value is not a list' })
      continue
    }
    const set = new Set<string>()
    for (const x of value) {
      const k = valueKey(x)
      if (set.has(k)) {
        const d = duplicated.get(k)
        if (d === undefined)
          duplicated.set(k, { element: showValue(x), count: 2, read: opRef(invoke, complete) })
        else d.count++
        continue
      }
      set.add(k)
      const el = elements.get(k)
      if (el === undefined) {
        if (!unexpected.has(k)) unexpected.set(k, { element: showValue(x), read: opRef(invoke, complete) })
        continue
      }
      // A read that shows an element makes it known from the read's completion on.
      if (complete.index < el.knownIndex) {
        el.knownIndex = complete.index
        el.knownTime = complete.time
      }
    }
    reads.push({ invoke, complete, node: complete.node ?? invoke.node ?? '', elements: set })
  }
  reads.sort((a, b) => a.invoke.index - b.invoke.index)

  const lost: unknown[] = []
  const stale: unknown[] = []
  const neverRead: unknown[] = []
  const latencies: number[] = []
  let lostCount = 0
  let staleCount = 0
  let staleReadCount = 0
  let neverReadCount = 0
  let stableCount = 0
  let unknownCount = 0
  for (const [k, el] of elements) {
    if (el.knownIndex === Infinity) {
      unknownCount++
      continue
    }
    let readsAfterKnown = 0
    let lastAfterKnown: Read | undefined
    let lastAbsentTime: number | undefined
    let staleReads = 0
    const lastOnNode = new Map<string, Read>()
    for (const r of reads) {
      if (r.invoke.index < el.add.index) continue
      const present = r.elements.has(k)
      if (!present) lastAbsentTime = r.invoke.time
      if (r.invoke.index < el.knownIndex) continue
      readsAfterKnown++
      lastAfterKnown = r
      lastOnNode.set(r.node, r)
      if (!present) staleReads++
    }
    if (readsAfterKnown === 0 || lastAfterKnown === undefined) {
      neverReadCount++
      if (neverRead.length < MAX_EXAMPLES)
        neverRead.push({ element: showValue(el.value), add: opRef(el.add, el.addComplete) })
      continue
    }
    const missingOn: string[] = []
    for (const [node, r] of lastOnNode) if (!r.elements.has(k)) missingOn.push(node)
    if (missingOn.length > 0 || !lastAfterKnown.elements.has(k)) {
      lostCount++
      if (lost.length < MAX_EXAMPLES) {
        const lastAbsent = missingOn.length > 0 ? lastOnNode.get(missingOn[0] as string) : lastAfterKnown
        lost.push({
          element: showValue(el.value),
          add: opRef(el.add, el.addComplete),
          'known-time': el.knownTime,
          'missing-on': missingOn,
          'last-absent-read':
            lastAbsent === undefined ? undefined : opRef(lastAbsent.invoke, lastAbsent.complete),
        })
      }
      continue
    }
    stableCount++
    latencies.push(Math.max(0, (lastAbsentTime ?? el.add.time) - el.add.time) / NS_PER_MS)
    if (staleReads > 0) {
      staleCount++
      staleReadCount += staleReads
      if (stale.length < MAX_EXAMPLES) {
        stale.push({
          element: showValue(el.value),
          add: opRef(el.add, el.addComplete),
          'stale-reads': staleReads,
        })
      }
    }
  }

  const anomalies: Record<string, unknown[]> = {}
  if (lostCount > 0) anomalies['lost'] = lost
  if (duplicated.size > 0) anomalies['duplicated'] = firstN(duplicated.values(), MAX_EXAMPLES)
  if (unexpected.size > 0) anomalies['unexpected'] = firstN(unexpected.values(), MAX_EXAMPLES)
  if (malformed.length > 0) anomalies['malformed'] = malformed
  if (o.linearizable && staleCount > 0) anomalies['stale'] = stale
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'attempt-count': attempts,
    'acknowledged-count': acknowledged,
    'stable-count': stableCount,
    'lost-count': lostCount,
    'never-read-count': neverReadCount,
    'stale-count': staleCount,
    'stale-read-count': staleReadCount,
    'duplicated-count': duplicated.size,
    'unexpected-count': unexpected.size,
    'indefinite-count': unknownCount,
    'stable-latencies': quantiles(latencies),
    stale,
    'never-read': neverRead,
  }
  const invalid =
    lostCount > 0 ||
    duplicated.size > 0 ||
    unexpected.size > 0 ||
    malformed.length > 0 ||
    (o.linearizable && staleCount > 0)
  if (invalid) return { valid: false, anomalies, stats }
  if (stableCount === 0) {
    return { valid: 'unknown', anomalies, stats, reason: 'no element was both added and read back' }
  }
  return { valid: true, anomalies, stats }
}

function firstN<T>(it: Iterable<T>, n: number): T[] {
  const out: T[] = []
  for (const x of it) {
    if (out.length >= n) break
    out.push(x)
  }
  return out
}

/** Maelstrom's broadcast workload: `broadcast` adds a message, `read` returns all seen. */
export function checkBroadcast(history: History, opts?: CheckOptions): CheckResult {
  return checkSetFull(history, { addF: 'broadcast', readF: 'read' }, opts)
}

/** Maelstrom's g-set workload: a grow-only set with `add` and `read`. */
export function checkGSet(history: History, opts?: CheckOptions): CheckResult {
  return checkSetFull(history, { addF: 'add', readF: 'read' }, opts)
}
