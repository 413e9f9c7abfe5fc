// The record of a running local cluster, in <state dir>/cluster.json, so that `status`, `logs`,
// `down` and the other commands find it from any terminal. The state dir is $DISTLAB_HOME, or
// .distlab under the working directory.
import { mkdirSync, readFileSync, writeFileSync, renameSync, rmSync, existsSync } from 'node:fs'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { AddressPlan } from '../core/ids.js'
import { ClusterNotRunningError, InvalidArgumentError } from '../core/errors.js'
import { writeSecretFile } from '../core/auth.js'

export interface NodeRecord {
  name: string
  host: string
  httpPort: number
  framePort: number
  /** Process that runs the node (the supervisor's own pid in in-process mode). */
  pid: number
  id?: string
  /** Its container (docker and swarm modes), so that a later command can kill or restart it. */
  container?: string
}

/** What the record says about a cluster of foreign programs (`distlab run`), besides its nodes. */
export interface ForeignRecordInfo {
  kind: 'process' | 'docker'
  /** Every instance in a namespace (or container) of its own. */
  isolated: boolean
  /** Link faults through distlab's relays. */
  faults: boolean
  runId?: string
  runFile?: string
  /** The dashboard of the supervisor, showing the relays' traffic live. */
  dashboardUrl?: string
  network?: string
  containers?: string[]
  /** Why link faults are off, when they are. */
  note?: string
  instances: Array<{
    name: string
    role: string
    host: string
    port: number
    pid?: number
    container?: string
  }>
}

export interface ClusterRecord {
  version: 1
  mode: 'process' | 'inproc' | 'docker' | 'swarm' | 'foreign'
  plan: AddressPlan
  block: number
  startedAt: number
  supervisorPid: number
  state: 'starting' | 'running' | 'stopping'
  /**
   * The supervisor's control API (kill, restart), on 127.0.0.1. Every request needs the per-run
   * control token of <state dir>/control.token (mode 0600) as `Authorization: Bearer <token>`.
   */
  controlUrl?: string
  nodes: NodeRecord[]
  /** Set when mode is 'foreign'. */
  foreign?: ForeignRecordInfo
}

export function stateDir(explicit?: string): string {
  return resolve(explicit ?? process.env.DISTLAB_HOME ?? '.distlab')
}

export function logDir(dir: string): string {
  return join(dir, 'logs')
}

const file = (dir: string) => join(dir, 'cluster.json')

export function readCluster(dir: string): ClusterRecord | undefined {
  try {
    return JSON.parse(readFileSync(file(dir), 'utf8')) as ClusterRecord
  } catch {
    return undefined
  }
}

/** The running cluster, or a clear error saying there is none. */
export function requireCluster(dir: string): ClusterRecord {
  const c = readCluster(dir)
  if (!c || !isAlive(c.supervisorPid))
    throw new ClusterNotRunningError(`no cluster is running (state in ${dir}); start one with \`distlab up\``)
  return c
}

export function writeCluster(dir: string, record: ClusterRecord): void {
  mkdirSync(dir, { recursive: true })
  const tmp = `${file(dir)}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(record, null, 2))
  renameSync(tmp, file(dir))
}

export function removeCluster(dir: string): void {
  rmSync(file(dir), { force: true })
}

export function clusterFileExists(dir: string): boolean {
  return existsSync(file(dir))
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function nodeUrl(n: Pick<NodeRecord, 'host' | 'httpPort'>): string {
  return `http://${n.host}:${n.httpPort}`
}

/** The node of that name; an unknown name is a usage mistake (exit 2) that lists the valid names. */
export function findNode(c: ClusterRecord, name: string): NodeRecord {
  const n = c.nodes.find((x) => x.name === name)
  if (!n)
    throw unknownNodeError(
      name,
      c.nodes.map((x) => x.name),
    )
  return n
}

// ---- the supervisor's control token ----

/** Environment variable that hands the control token to the master's dashboard (never argv). */
export const CONTROL_TOKEN_ENV = 'DISTLAB_CONTROL_TOKEN'
const CONTROL_TOKEN_FILE = 'control.token'

/**
 * A new random control token for one run, written to <dir>/control.token readable by its owner
 * only: whoever can read the state dir may kill and restart nodes, nobody else on the machine.
 */
export function newControlToken(dir: string): string {
  const token = randomBytes(32).toString('base64url')
  writeSecretFile(dir, CONTROL_TOKEN_FILE, token)
  return token
}

/** The running cluster's control token, or undefined when there is none (or it is unreadable). */
export function readControlToken(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, CONTROL_TOKEN_FILE), 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

export function removeControlToken(dir: string): void {
  rmSync(join(dir, CONTROL_TOKEN_FILE), { force: true })
}

/** True when `header` is exactly `Bearer <token>` (compared in constant time). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (typeof header !== 'string' || header.length > 512) return false
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!m) return false
  const given = Buffer.from(m[1]!, 'utf8')
  const want = Buffer.from(token, 'utf8')
  return given.length === want.length && timingSafeEqual(given, want)
}

export function unknownNodeError(name: string, names: readonly string[]): InvalidArgumentError {
  return new InvalidArgumentError(
    `unknown node ${JSON.stringify(name)}; the cluster has ${names.join(', ')}`,
    'name',
  )
}

/** The record of a cluster of containers (`up --mode docker|swarm`, cluster/docker.ts). */
export interface ContainerClusterRecord extends Omit<ClusterRecord, 'mode'> {
  mode: 'docker' | 'swarm'
  docker: {
    project: string
    composeFile: string
    network: string
    image: string
    /** swarm: this cluster ran `docker swarm init`, so `down` leaves the swarm again. */
    initializedSwarm?: boolean
    /** The host folder the master records its runs in, live (bind-mounted). */
    runsDir?: string
    /** The master's dashboard as the host reaches it (on loopback). */
    dashboardUrl?: string
  }
}

/** A record of containers: here, with the record, so that reading it loads no Docker client. */
export function isContainerRecord(rec: unknown): rec is ContainerClusterRecord {
  const m = (rec as { mode?: string } | undefined)?.mode
  return m === 'docker' || m === 'swarm'
}

/** A record of foreign programs (`distlab run`). */
export function isForeignRecord(rec: ClusterRecord | undefined): boolean {
  return rec?.mode === 'foreign'
}
