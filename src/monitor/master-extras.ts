// What the master runs beside its node: the run store (every telemetry event of this run in
// runs/<run id>.sqlite) and the dashboard. The dashboard's URL and the run's id are written to
// <stateDir>/dashboard.json so that `distlab up` (and tests) can print and find them.
import { writeFileSync, mkdirSync, rmSync } from 'node:fs'
import type { Node } from '../node/node.js'
import type { Startable } from '../core/interfaces.js'
import { named } from '../core/logger.js'
import { RunStore, runsDir } from './store.js'
import { Dashboard } from './dashboard.js'
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT } from './constants.js'
import { dashboardRecordPath, readDashboardRecord, type DashboardRecord } from './dashboard-record.js'

export interface MasterExtrasInit {
  /** Where the cluster's state lives (runs, logs). */
  stateDir?: string
  /** Dashboard port; 0 lets the OS choose. */
  dashboardPort?: number
  dashboardHost?: string
  /**
   * The local supervisor's control API, when a launcher started this master (the env variable
   * DISTLAB_CONTROL_URL in process mode): GET /nodes, POST /nodes/:name/kill {signal?},
   * POST /nodes/:name/restart.
   */
  controlUrl?: string
  /** The supervisor's per-run control token ($DISTLAB_CONTROL_TOKEN in process mode). */
  controlToken?: string
  /** Folder of run files. @default $DISTLAB_RUNS_DIR or ./runs */
  runsDir?: string
}

export class MasterExtras implements Startable {
  readonly store: RunStore
  readonly dashboard: Dashboard
  private started = false

  constructor(
    private readonly master: Node,
    private readonly init: MasterExtrasInit,
  ) {
    const dir = runsDir(init.runsDir)
    this.store = new RunStore({ dir })
    if (master.collector)
      this.store.attach(master.collector, () =>
        master.memberList().members.map((m) => ({
          name: m.name,
          host: m.host,
          role: m.role,
          httpPort: m.httpPort,
          framePort: m.framePort,
        })),
      )
    this.dashboard = new Dashboard(master, {
      host: init.dashboardHost ?? DEFAULT_DASHBOARD_HOST,
      port: init.dashboardPort ?? DEFAULT_DASHBOARD_PORT,
      controlUrl: init.controlUrl || undefined,
      controlToken: init.controlToken || undefined,
      store: this.store,
      runsDir: dir,
    })
  }

  async start(): Promise<void> {
    if (this.started) return
    await this.store.start()
    try {
      await this.dashboard.start()
    } catch (err) {
      await this.store.stop()
      throw err
    }
    this.started = true
    named(this.master.logger, 'distlab:monitor').info(`recording run ${this.store.id} to ${this.store.file}`)
    if (this.init.stateDir) {
      try {
        mkdirSync(this.init.stateDir, { recursive: true })
        const record: DashboardRecord = {
          url: this.dashboard.url,
          runId: this.store.id,
          runFile: this.store.file,
          pid: process.pid,
        }
        writeFileSync(dashboardRecordPath(this.init.stateDir), JSON.stringify(record, null, 2))
      } catch {
        // The record is a convenience; the log line says the same.
      }
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.dashboard.stop()
    await this.store.stop()
    if (this.init.stateDir) {
      const rec = readDashboardRecord(this.init.stateDir)
      if (rec?.pid === process.pid && rec.runId === this.store.id)
        rmSync(dashboardRecordPath(this.init.stateDir), { force: true })
    }
  }
}

/** Starts what the master runs beside its node; the result is stopped with the master. */
export async function startMasterExtras(
  master: Node,
  init: MasterExtrasInit = {},
): Promise<Startable | undefined> {
  const extras = new MasterExtras(master, init)
  await extras.start()
  return extras
}
