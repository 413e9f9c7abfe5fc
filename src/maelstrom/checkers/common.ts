// Helpers every checker shares: option resolution, value identity for JSON values that came off
// the wire, latency quantiles in Maelstrom's shape, and the op counts Maelstrom prints per run.
import { pairOps, type History, type Op } from '../history.js'
import { InvalidArgumentError } from '../../core/errors.js'

export interface CheckOptions {
  /**
   * Wall-clock budget for searches that can blow up (lin-kv's linearizability search and the
   * shrinking of its counterexample). Past it the verdict is `unknown`.
   * @default 10000 (milliseconds)
   */
  timeBudgetMs?: number
  /**
   * broadcast / g-set: treat a read that misses an element already known to be present as an
   * error (Jepsen's set-full `:linearizable? true`). Maelstrom's broadcast is eventually
   * consistent, so by default such reads are only counted as `stale`.
   * @default false
   */
  linearizable?: boolean
  /**
   * lin-kv: shrink the failing key's history to a minimal non-linearizable sub-history.
   * @default true
   */
  shrink?: boolean
  /**
   * txn-rw-register / txn-list-append: the consistency models the system claims (Maelstrom's
   * `--consistency-models`); the strongest one decides which anomalies make the run invalid.
   * Known: read-uncommitted, read-committed, serializable, strict-serializable (checked as
   * serializable: no real-time edges).
   * @default ['serializable']
   */
  consistencyModels?: readonly string[]
}

export const CONSISTENCY_MODELS = [
  'read-uncommitted',
  'read-committed',
  'serializable',
  'strict-serializable',
] as const
export type ConsistencyModel = (typeof CONSISTENCY_MODELS)[number]

export interface ResolvedCheckOptions {
  readonly timeBudgetMs: number
  readonly linearizable: boolean
  readonly shrink: boolean
  /** The strongest model asked for. */
  readonly consistencyModel: ConsistencyModel
}

export const DEFAULT_TIME_BUDGET_MS = 10_000

export function resolveCheckOptions(init: CheckOptions = {}): ResolvedCheckOptions {
  const timeBudgetMs = init.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS
  if (typeof timeBudgetMs !== 'number' || !Number.isFinite(timeBudgetMs) || timeBudgetMs < 0) {
    throw new InvalidArgumentError(
      'timeBudgetMs must be a finite number of milliseconds >= 0',
      'timeBudgetMs',
    )
  }
  const linearizable = init.linearizable ?? false
  if (typeof linearizable !== 'boolean')
    throw new InvalidArgumentError('linearizable must be a boolean', 'linearizable')
  const shrink = init.shrink ?? true
  if (typeof shrink !== 'boolean') throw new InvalidArgumentError('shrink must be a boolean', 'shrink')
  const models = init.consistencyModels ?? ['serializable']
  if (!Array.isArray(models) || models.length === 0) {
    throw new InvalidArgumentError('consistencyModels must be a non-empty list', 'consistencyModels')
  }
  let strongest = -1
  for (const m of models) {
    const i = (CONSISTENCY_MODELS as readonly unknown[]).indexOf(m)
    if (i < 0) {
      throw new InvalidArgumentError(
        `consistencyModels: unknown model ${String(m)} (known: ${CONSISTENCY_MODELS.join(', ')})`,
        'consistencyModels',
      )
    }
    strongest = Math.max(strongest, i)
  }
  const consistencyModel = CONSISTENCY_MODELS[strongest] as ConsistencyModel
  return Object.freeze({ timeBudgetMs, linearizable, shrink, consistencyModel })
}

/**
 * A string that is equal for equal JSON values: the identity of an element, id or register value.
 * Values come from nodes' replies, so a value JSON cannot encode (too deep, cyclic) gets a key of
 * its own instead of throwing.
 */
export function valueKey(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? `n${v}` : `x${String(v)}`
    case 'string':
      return `s${v}`
    case 'boolean':
      return v ? 'true' : 'false'
    default:
      try {
        return `j${JSON.stringify(v)}`
      } catch {
        return `?${String(v)}`
      }
  }
}

/** Short readable form of a value for anomaly reports. */
export function showValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  try {
    const s = JSON.stringify(v)
    return s.length > 200 ? `${s.slice(0, 200)}...` : v
  } catch {
    return String(v)
  }
}

export const QUANTILES = [0, 0.5, 0.95, 0.99, 1] as const

/** Quantiles (Maelstrom's 0, 0.5, 0.95, 0.99, 1) of values, nearest-rank; empty input -> {}. */
export function quantiles(
  values: ArrayLike<number>,
  qs: readonly number[] = QUANTILES,
): Record<string, number> {
  const out: Record<string, number> = {}
  if (values.length === 0) return out
  const sorted = Float64Array.from(values).sort()
  for (const q of qs) {
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
    out[String(q)] = sorted[i] as number
  }
  return out
}

export const NS_PER_MS = 1_000_000

export interface OpPair {
  invoke: Op
  complete: Op | undefined
}

/** The checkers' name for pairOps (../history.ts): one pairing rule for the runtime and the checkers. */
export const pairHistory: (history: History) => OpPair[] = pairOps

/** Counts of invocations and their outcomes, availability, and ok-latency quantiles (ms). */
export function opStats(history: History, pairs: OpPair[] = pairHistory(history)): Record<string, unknown> {
  let okCount = 0
  let failCount = 0
  let infoCount = 0
  const latencies: number[] = []
  for (const { invoke, complete } of pairs) {
    const t = complete?.type ?? 'info'
    if (t === 'ok') {
      okCount++
      if (complete !== undefined) latencies.push((complete.time - invoke.time) / NS_PER_MS)
    } else if (t === 'fail') failCount++
    else infoCount++
  }
  const count = pairs.length
  return {
    count,
    'ok-count': okCount,
    'fail-count': failCount,
    'info-count': infoCount,
    availability: count === 0 ? 1 : okCount / count,
    'latencies-ms': quantiles(latencies),
  }
}

/** A compact description of one operation for anomaly reports and the sequence diagram. */
export interface OpRef {
  /** History index of the invocation. */
  index: number
  /** History index of the completion, if any. */
  completeIndex?: number
  process: number
  client: string
  node?: string
  f: string
  type: Op['type']
  value: unknown
  /** Invocation and completion time, ns since the run started. */
  time: number
  completeTime?: number
}

export function opRef(invoke: Op, complete: Op | undefined): OpRef {
  const ref: OpRef = {
    index: invoke.index,
    process: invoke.process,
    client: invoke.client,
    f: invoke.f,
    type: complete?.type ?? 'info',
    value: showValue(complete?.type === 'ok' ? complete.value : invoke.value),
    time: invoke.time,
  }
  if (complete !== undefined) {
    ref.completeIndex = complete.index
    ref.completeTime = complete.time
  }
  const node = complete?.node ?? invoke.node
  if (node !== undefined) ref.node = node
  return ref
}

/** Pairs with the completion missing treated as `info` (the client never heard back). */
export function completionType(complete: Op | undefined): Op['type'] {
  return complete === undefined ? 'info' : complete.type
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Anomalies found so far, by kind: every one counted, the first `maxExamples` of each kept as
 * examples (an example is built only when it is kept).
 */
export class AnomalyExamples {
  readonly examples = new Map<string, unknown[]>()
  readonly counts = new Map<string, number>()
  constructor(private readonly maxExamples: number) {}
  add(kind: string, example: () => unknown): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
    let list = this.examples.get(kind)
    if (list === undefined) this.examples.set(kind, (list = []))
    if (list.length < this.maxExamples) list.push(example())
  }
}
