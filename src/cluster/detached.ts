// A cluster run in the background (`distlab up -d`, `distlab run -d`): a supervisor process of
// its own, detached from the terminal, its output in <state dir>/supervisor.log. The caller waits
// until the supervisor's cluster record says it runs, or learns why it did not start.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterError } from '../core/errors.js'
import { BIN_PATH } from './role-process.js'
import { isAlive, readCluster, type ClusterRecord } from './state.js'

/** How often the record is read while the supervisor starts, in ms. */
const DETACHED_POLL_MS = 100

export interface DetachedInit {
  stateDir: string
  /** The distlab command line the supervisor runs (what follows `distlab`). */
  args: string[]
  /** Environment added to this process's for the supervisor (a key goes here, never in argv). */
  env?: Record<string, string>
  /** Time allowed until the record says running, in ms; then the supervisor gets SIGTERM. */
  timeoutMs: number
}

/**
 * Starts a supervisor in the background and resolves with its record once its cluster runs. If the
 * supervisor exits first the error is the last `distlab: ...` line of its log.
 */
export async function startDetached(init: DetachedInit): Promise<{ record: ClusterRecord; pid: number }> {
  const dir = init.stateDir
  mkdirSync(dir, { recursive: true })
  const logFile = join(dir, 'supervisor.log')
  const out = openSync(logFile, 'w')
  const child = spawn(process.execPath, [BIN_PATH, ...init.args], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, DISTLAB_SUPERVISED: '1', ...init.env },
  })
  closeSync(out)
  child.unref()
  const deadline = Date.now() + init.timeoutMs
  for (;;) {
    await new Promise((r) => setTimeout(r, DETACHED_POLL_MS))
    const rec = readCluster(dir)
    if (rec && rec.supervisorPid === child.pid && rec.state === 'running')
      return { record: rec, pid: child.pid }
    if (child.exitCode !== null || (child.pid && !isAlive(child.pid))) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
      const why = log
        .split('\n')
        .filter((l) => l.startsWith('distlab: '))
        .pop()
      throw new ClusterError(
        why ? why.replace(/^distlab: /, '') : `the cluster failed to start; see ${logFile}`,
      )
    }
    if (Date.now() > deadline) {
      if (child.pid) process.kill(child.pid, 'SIGTERM')
      throw new ClusterError(`the cluster did not come up in time; see ${logFile}`)
    }
  }
}
