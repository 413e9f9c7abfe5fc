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

interface AddIndex {
  elements: Map<string, Element>
  attempts: number
  acknowledged: number
}

/** Each element added (failed adds did not happen), known from its earliest acknowledgement. */
function indexAdds(pairs: ReturnType<typeof pairHistory>, addF: string): AddIndex {
  const elements = new Map<string, Element>()
  let attempts = 0
  let acknowledged = 0
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== addF) continue
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
  return { elements, attempts, acknowledged }
}

interface ReadIndex {
  /** Acknowledged reads by invocation. */
  reads: Read[]
  malformed: unknown[]
  duplicated: Map<string, { element: unknown; count: number; read: unknown }>
  unexpected: Map<string, { element: unknown; read: unknown }>
}

/** Every acknowledged read as a set; a read that shows an element makes it known from then on. */
function indexReads(
  pairs: ReturnType<typeof pairHistory>,
  readF: string,
  elements: Map<string, Element>,
): ReadIndex {
  const ix: ReadIndex = { reads: [], malformed: [], duplicated: new Map(), unexpected: new Map() }
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== readF || complete?.type !== 'ok') continue
    const value = complete.value
    if (!Array.isArray(value)) {
      if (ix.malformed.length < MAX_EXAMPLES)
        ix.malformed.push({ op: opRef(invoke, complete), reason: 'read value is not a list' })
      continue
    }
    const set = new Set<string>()
    for (const x of value) {
      const k = valueKey(x)
      if (set.has(k)) {
        const d = ix.duplicated.get(k)
        if (d === undefined)
          ix.duplicated.set(k, { element: showValue(x), count: 2, read: opRef(invoke, complete) })
        else d.count++
        continue
      }
      set.add(k)
      const el = elements.get(k)
      if (el === undefined) {
        if (!ix.unexpected.has(k))
          ix.unexpected.set(k, { element: showValue(x), read: opRef(invoke, complete) })
        continue
      }
      if (complete.index < el.knownIndex) {
        el.knownIndex = complete.index
        el.knownTime = complete.time
      }
    }
    ix.reads.push({ invoke, complete, node: complete.node ?? invoke.node ?? '', elements: set })
  }
  ix.reads.sort((a, b) => a.invoke.index - b.invoke.index)
  return ix
}

/** The element outcomes, counted, with the first MAX_EXAMPLES of each kept. */
class Outcomes {
  readonly lost: unknown[] = []
  readonly stale: unknown[] = []
  readonly neverRead: unknown[] = []
  readonly latencies: number[] = []
  lostCount = 0
  staleCount = 0
  staleReadCount = 0
  neverReadCount = 0
  stableCount = 0
  unknownCount = 0

  /** Classifies element `k` against every read that began after its add. */
  judge(k: string, el: Element, reads: readonly Read[]): void {
    if (el.knownIndex === Infinity) {
      this.unknownCount++
      return
    }
    let lastAfterKnown: Read | undefined
    let lastAbsentTime: number | undefined
    let staleReads = 0
    const lastOnNode = new Map<string, Read>()
    for (const r of reads) {
      if (r.invoke.index < el.add.index) continue
      const present = r.elements.has(k)
      if (!present) lastAbsentTime = r.invoke.time
      if (r.invoke.index < el.knownIndex) continue
      lastAfterKnown = r
      lastOnNode.set(r.node, r)
      if (!present) staleReads++
    }
    if (lastAfterKnown === undefined) {
      this.neverReadCount++
      if (this.neverRead.length < MAX_EXAMPLES)
        this.neverRead.push({ element: showValue(el.value), add: opRef(el.add, el.addComplete) })
      return
    }
    const missingOn: string[] = []
    for (const [node, r] of lastOnNode) if (!r.elements.has(k)) missingOn.push(node)
    if (missingOn.length > 0 || !lastAfterKnown.elements.has(k)) {
      const lastAbsent = missingOn.length > 0 ? lastOnNode.get(missingOn[0] as string) : lastAfterKnown
      this.addLost(el, missingOn, lastAbsent)
      return
    }
    this.stableCount++
    this.latencies.push(Math.max(0, (lastAbsentTime ?? el.add.time) - el.add.time) / NS_PER_MS)
    if (staleReads > 0) this.addStale(el, staleReads)
  }

  private addLost(el: Element, missingOn: string[], lastAbsent: Read | undefined): void {
    this.lostCount++
    if (this.lost.length >= MAX_EXAMPLES) return
    this.lost.push({
      element: showValue(el.value),
      add: opRef(el.add, el.addComplete),
      'known-time': el.knownTime,
      'missing-on': missingOn,
      'last-absent-read':
        lastAbsent === undefined ? undefined : opRef(lastAbsent.invoke, lastAbsent.complete),
    })
  }

  private addStale(el: Element, staleReads: number): void {
    this.staleCount++
    this.staleReadCount += staleReads
    if (this.stale.length >= MAX_EXAMPLES) return
    this.stale.push({
      element: showValue(el.value),
      add: opRef(el.add, el.addComplete),
      'stale-reads': staleReads,
    })
  }
}

export function checkSetFull(history: History, spec: SetFullSpec, opts?: CheckOptions): CheckResult {
  const o = resolveCheckOptions(opts)
  const pairs = pairHistory(history)
  const adds = indexAdds(pairs, spec.addF)
  const { reads, malformed, duplicated, unexpected } = indexReads(pairs, spec.readF, adds.elements)
  const out = new Outcomes()
  for (const [k, el] of adds.elements) out.judge(k, el, reads)

  const staleIsError = o.linearizable && out.staleCount > 0
  const anomalies: Record<string, unknown[]> = {}
  if (out.lostCount > 0) anomalies['lost'] = out.lost
  if (duplicated.size > 0) anomalies['duplicated'] = firstN(duplicated.values(), MAX_EXAMPLES)
  if (unexpected.size > 0) anomalies['unexpected'] = firstN(unexpected.values(), MAX_EXAMPLES)
  if (malformed.length > 0) anomalies['malformed'] = malformed
  if (staleIsError) anomalies['stale'] = out.stale
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'attempt-count': adds.attempts,
    'acknowledged-count': adds.acknowledged,
    'stable-count': out.stableCount,
    'lost-count': out.lostCount,
    'never-read-count': out.neverReadCount,
    'stale-count': out.staleCount,
    'stale-read-count': out.staleReadCount,
    'duplicated-count': duplicated.size,
    'unexpected-count': unexpected.size,
    'indefinite-count': out.unknownCount,
    'stable-latencies': quantiles(out.latencies),
    stale: out.stale,
    'never-read': out.neverRead,
  }
  const invalid =
    out.lostCount > 0 || duplicated.size > 0 || unexpected.size > 0 || malformed.length > 0 || staleIsError
  if (invalid) return { valid: false, anomalies, stats }
  if (out.stableCount === 0) {
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
