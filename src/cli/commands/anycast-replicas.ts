// Standalone anycast replicas on one machine (issue 16 item 8): `distlab anycast serve --port 5000`
// three times works because each replica takes a loopback address of its own (127.0.200.N, N from
// a trailing number of --name, else the first free one), and each records its name and address in
// the state dir so that `anycast client` finds them and names them, a replica killed with -9 included.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AddressInUseError } from '../../core/errors.js'
import { isAlive } from '../../cluster/state.js'
import { AnycastServer, type AnycastServerInit, type AnycastTarget } from '../../protocols/anycast/index.js'

/** The loopback /24 standalone replicas take their addresses from (clear of cluster blocks' nodes). */
export const REPLICA_NET = '127.0.200'
/** Replica records read at most (one small file each). */
const MAX_RECORDS = 254

export interface ReplicaRecord {
  name: string
  host: string
  port: number
  pid: number
}

/** The address a replica named `name` prefers: 127.0.200.N for a name ending in N (1-254). */
export function preferredSlot(name: string | undefined): number | undefined {
  const m = name === undefined ? null : /(\d{1,3})$/.exec(name)
  const n = m ? Number(m[1]) : NaN
  return n >= 1 && n <= 254 ? n : undefined
}

/**
 * Starts a replica on a loopback address of its own: the name's slot when it has one (an error if
 * that address is taken), else the first of 127.0.200.1-254 where the port is free.
 */
export async function serveOnOwnAddress(init: Omit<AnycastServerInit, 'host'>): Promise<AnycastServer> {
  const slot = preferredSlot(init.name)
  const slots = slot !== undefined ? [slot] : Array.from({ length: 254 }, (_, i) => i + 1)
  let last: unknown
  for (const n of slots) {
    const server = new AnycastServer({ ...init, host: `${REPLICA_NET}.${n}` })
    try {
      await server.start()
      return server
    } catch (err) {
      last = err
      if (!(err instanceof AddressInUseError)) throw err
    }
  }
  throw last
}

const dirOf = (stateDir: string) => join(stateDir, 'anycast')
const fileOf = (stateDir: string, host: string, port: number) => join(dirOf(stateDir), `${host}_${port}.json`)

/** Records this replica, and forgets replicas whose process is gone (killed before a new session). */
export function recordReplica(stateDir: string, r: ReplicaRecord): void {
  for (const old of recordedReplicas(stateDir))
    if (old.pid > 0 && !isAlive(old.pid)) forgetReplica(stateDir, old.host, old.port)
  mkdirSync(dirOf(stateDir), { recursive: true })
  writeFileSync(fileOf(stateDir, r.host, r.port), JSON.stringify(r))
}

export function forgetReplica(stateDir: string, host: string, port: number): void {
  rmSync(fileOf(stateDir, host, port), { force: true })
}

/** Replicas started from this state dir, dead ones (killed with -9) included, by address. */
export function recordedReplicas(stateDir: string): ReplicaRecord[] {
  let files: string[]
  try {
    files = readdirSync(dirOf(stateDir)).filter((f) => f.endsWith('.json'))
  } catch {
    return []
  }
  const out: ReplicaRecord[] = []
  for (const f of files.sort().slice(0, MAX_RECORDS)) {
    try {
      const r = JSON.parse(readFileSync(join(dirOf(stateDir), f), 'utf8')) as Partial<ReplicaRecord>
      if (typeof r.name === 'string' && typeof r.host === 'string' && typeof r.port === 'number')
        out.push({ name: r.name, host: r.host, port: r.port, pid: typeof r.pid === 'number' ? r.pid : 0 })
    } catch {
      // a half-written or foreign file: skipped
    }
  }
  return out
}

/** Gives targets without a name the name their replica recorded. */
export function nameTargets(targets: AnycastTarget[], records: ReplicaRecord[]): AnycastTarget[] {
  const byAddress = new Map(records.map((r) => [`${r.host}:${r.port}`, r.name]))
  return targets.map((t) => (t.name ? t : { ...t, name: byAddress.get(`${t.host}:${t.port}`) }))
}
