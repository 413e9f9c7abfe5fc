// unique-ids: no id is handed out twice among acknowledged `generate` operations (Jepsen's
// unique-ids checker: attempted, acknowledged, duplicated counts and the numeric range).
import type { History } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import { opRef, opStats, showValue, valueKey, type OpRef, pairHistory } from './common.js'

/** At most this many duplicated ids are listed with their operations; all are counted. */
const MAX_EXAMPLES = 100

export function checkUniqueIds(history: History, _opts?: CheckOptions): CheckResult {
  const seen = new Map<string, { id: unknown; ops: OpRef[]; count: number }>()
  let attempted = 0
  let acknowledged = 0
  let min: number | undefined
  let max: number | undefined
  const pairs = pairHistory(history)
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== 'generate') continue
    attempted++
    if (complete?.type !== 'ok') continue
    acknowledged++
    const id = complete.value
    if (typeof id === 'number' && Number.isFinite(id)) {
      if (min === undefined || id < min) min = id
      if (max === undefined || id > max) max = id
    }
    const k = valueKey(id)
    const entry = seen.get(k)
    if (entry === undefined) {
      seen.set(k, { id, ops: [opRef(invoke, complete)], count: 1 })
      continue
    }
    entry.count++
    if (entry.ops.length < 10) entry.ops.push(opRef(invoke, complete))
  }
  const duplicated: unknown[] = []
  let duplicatedCount = 0
  for (const { id, ops, count } of seen.values()) {
    if (count < 2) continue
    duplicatedCount++
    if (duplicated.length < MAX_EXAMPLES) duplicated.push({ id: showValue(id), count, ops })
  }
  const anomalies: Record<string, unknown[]> = {}
  if (duplicatedCount > 0) anomalies['duplicated'] = duplicated
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'attempted-count': attempted,
    'acknowledged-count': acknowledged,
    'duplicated-count': duplicatedCount,
  }
  if (min !== undefined && max !== undefined) stats['range'] = [min, max]
  if (duplicatedCount > 0) return { valid: false, anomalies, stats }
  if (acknowledged === 0) return { valid: 'unknown', anomalies, stats, reason: 'no id was acknowledged' }
  return { valid: true, anomalies, stats }
}
