// echo: every acknowledged echo returns exactly what was sent (Maelstrom's echo workload).
import type { History } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import { opRef, opStats, valueKey, pairHistory } from './common.js'

export function checkEcho(history: History, _opts?: CheckOptions): CheckResult {
  const mismatched: unknown[] = []
  let ok = 0
  const pairs = pairHistory(history)
  for (const { invoke, complete } of pairs) {
    if (invoke.f !== 'echo' || complete?.type !== 'ok') continue
    ok++
    if (valueKey(complete.value) !== valueKey(invoke.value)) {
      mismatched.push({ op: opRef(invoke, complete), expected: invoke.value, got: complete.value })
    }
  }
  const anomalies: Record<string, unknown[]> = {}
  if (mismatched.length > 0) anomalies['mismatched'] = mismatched
  const stats = { ...opStats(history, pairs), 'mismatched-count': mismatched.length }
  if (mismatched.length > 0) return { valid: false, anomalies, stats }
  if (ok === 0) return { valid: 'unknown', anomalies, stats, reason: 'no echo was acknowledged' }
  return { valid: true, anomalies, stats }
}
