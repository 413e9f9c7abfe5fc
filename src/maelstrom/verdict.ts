// Which checker judges a workload's history: the workload's checker (src/maelstrom/checkers/, pure
// functions over a history), or, for a workload without one in this build, an `unknown` verdict,
// never a guess.
import type { CheckResult, History } from './history.js'
import { checkerFor as workloadChecker, type CheckOptions } from './checkers/index.js'

export type Checker = (history: History, opts?: CheckOptions) => CheckResult

const noChecker: Checker = () => ({
  valid: 'unknown',
  anomalies: {},
  reason: 'no checker for this workload in this build',
})

export function checkerFor(workload: string): Checker {
  return workloadChecker(workload) ?? noChecker
}
