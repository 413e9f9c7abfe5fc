// Fault scenarios (YAML files run against a fresh cluster, each ending with a verdict) and the
// socket fuzzer.
export { loadScenario, parseScenario, resolveScenario, faultCount, ScenarioFileError } from './spec.js'
export type { Scenario, Step, Workload } from './spec.js'
export {
  runScenario,
  ScenarioRunError,
  POLL_INTERVAL_MS,
  SCENARIO_NETWORK,
  SCENARIO_PROJECT,
} from './runner.js'
export type { ScenarioReport, WorkloadReport, ScenarioRunInit } from './runner.js'
export {
  anycastVerdict,
  downloadVerdict,
  journalEntries,
  ScenarioWorkloadError,
  type AnycastEvidence,
  type DownloadEvidence,
  type MasterCrash,
  type WorkloadVerdict,
} from './workloads.js'
export * from './fuzz.js'
