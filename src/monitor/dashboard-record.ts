// <stateDir>/dashboard.json: where a running master's dashboard and run are. Apart from
// master-extras.ts so that `distlab status` and `up --detach` read it without loading the run store
// and the dashboard.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** What <stateDir>/dashboard.json holds while the master runs. */
export interface DashboardRecord {
  url: string
  runId: string
  runFile: string
  pid: number
}

export function dashboardRecordPath(stateDir: string): string {
  return join(stateDir, 'dashboard.json')
}

/** The running master's dashboard URL and run, if its record is there. */
export function readDashboardRecord(stateDir: string): DashboardRecord | undefined {
  try {
    return JSON.parse(readFileSync(dashboardRecordPath(stateDir), 'utf8')) as DashboardRecord
  } catch {
    return undefined
  }
}
