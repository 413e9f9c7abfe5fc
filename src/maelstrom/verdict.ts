// Which checker judges a workload's history. The checkers are pure functions over a history
// (src/maelstrom/checkers/, one per workload); until one exists for a workload its verdict is
// `unknown`, never a guess.
import type { CheckResult, History } from './history.js'

export type Checker = (history: History, opts?: Record<string, unknown>) => CheckResult

const noChecker: Checker = () => ({
  valid: 'unknown',
  anomalies: {},
  reason: 'no checker for this workload in this build',
})

export function checkerFor(_workload: string): Checker {
  return noChecker
}
