// The checkers of distlab's Maelstrom layer, keyed by Maelstrom's workload names. Each reads a
// History (../history.ts) and returns a CheckResult: `valid` true / false / 'unknown', the
// anomalies found by their Jepsen/Maelstrom/Elle names, and the workload's stats.
import type { Checker } from './types.js'
import { checkEcho } from './echo.js'
import { checkUniqueIds } from './unique-ids.js'
import { checkBroadcast, checkGSet } from './set-full.js'
import { checkGCounter, checkPnCounter } from './counter.js'
import { checkLinKv } from './lin-kv.js'
import { checkKafka } from './kafka.js'
import { checkTxnListAppend, checkTxnRwRegister } from './txn.js'

export type { Checker, CheckOptions, CheckResult } from './types.js'
export {
  opStats,
  quantiles,
  resolveCheckOptions,
  DEFAULT_TIME_BUDGET_MS,
  CONSISTENCY_MODELS,
} from './common.js'
export { checkEcho } from './echo.js'
export { checkUniqueIds } from './unique-ids.js'
export { checkBroadcast, checkGSet, checkSetFull } from './set-full.js'
export { checkGCounter, checkPnCounter } from './counter.js'
export { checkLinKv } from './lin-kv.js'
export { checkKafka } from './kafka.js'
export { checkTxnListAppend, checkTxnRwRegister } from './txn.js'

export const checkers: Record<string, Checker> = {
  echo: checkEcho,
  'unique-ids': checkUniqueIds,
  broadcast: checkBroadcast,
  'g-set': checkGSet,
  'g-counter': checkGCounter,
  'pn-counter': checkPnCounter,
  'lin-kv': checkLinKv,
  kafka: checkKafka,
  'txn-rw-register': checkTxnRwRegister,
  'txn-list-append': checkTxnListAppend,
}

/** The checker for a Maelstrom workload name, or undefined. */
export function checkerFor(workload: string): Checker | undefined {
  return Object.hasOwn(checkers, workload) ? checkers[workload] : undefined
}
