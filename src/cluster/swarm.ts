// The Swarm launcher: deploy/stack.yml on a swarm (a single-node one made here when the engine is
// not in a swarm yet), master and nodes on an overlay network. The host reaches the tasks through
// their docker_gwbridge addresses, which go into the cluster record for `status` and the rest.
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterError } from '../core/errors.js'
import { checkInteger, checkString } from '../core/options.js'
import { MASTER_NAME, nodeName } from '../core/ids.js'
import type { Startable } from '../core/interfaces.js'
import { writeKeyFile } from '../core/auth.js'
import {
  DEFAULT_IMAGE,
  LogFiles,
  PACKAGE_ROOT,
  checkContainerStart,
  containerRecord,
  docker,
  followLines,
  recordHealthy,
  releaseContainerRecord,
  writeContainerRecord,
  type ContainerClusterRecord,
} from './docker.js'
import { logDir, type NodeRecord } from './state.js'

export const STACK_FILE = join(PACKAGE_ROOT, 'deploy', 'stack.yml')
export const DEFAULT_STACK = 'distlab'
export const OVERLAY_NETWORK = 'Proj1-distributed-overlay'
export const GATEWAY_BRIDGE = 'docker_gwbridge'
/** Pause before following a service's logs again when `docker service logs -f` ended. */
export const LOG_FOLLOW_RETRY_MS = 1000

/** 'active' when this engine is a swarm member, else 'inactive' (or 'pending', 'error', ...). */
export async function swarmState(): Promise<string> {
  return (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim()
}

/**
 * Makes this engine a single-node swarm when it is not in one. The control plane listens on
 * loopback only. Returns true when it initialised the swarm (so the caller can leave it again).
 */
export async function ensureSwarm(): Promise<boolean> {
  if ((await swarmState()) === 'active') return false
  await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377'], {
    timeoutMs: 60_000,
  })
  return true
}

/** Leaves the swarm and removes the docker_gwbridge network that `swarm init` created. */
export async function leaveSwarm(): Promise<void> {
  await docker(['swarm', 'leave', '--force'], { allowFailure: true, timeoutMs: 60_000 })
  await docker(['network', 'rm', GATEWAY_BRIDGE], { allowFailure: true })
}

/**
 * Parses a line of `docker service logs --no-task-ids`: `distlab_node.3@host    | text` → node3
 * (the task's slot, as the node names itself), `distlab_master.1@host | text` → master.
 */
export function parseServiceLogLine(line: string, stack: string): { name: string; text: string } | undefined {
  const bar = line.indexOf('|')
  if (bar < 0 || !line.startsWith(`${stack}_`)) return undefined
  const m = /^([a-zA-Z][a-zA-Z0-9-]*)\.(\d+)(?:@\S*)?$/.exec(line.slice(stack.length + 1, bar).trim())
  if (!m) return undefined
  const text = line.slice(bar + 1).replace(/^ /, '')
  return { name: m[1] === MASTER_NAME ? MASTER_NAME : `${m[1]}${m[2]}`, text }
}

/** Running containers of a stack: task name → container id. */
export async function stackContainers(stack: string): Promise<Map<string, string>> {
  const r = await docker([
    'ps',
    '--no-trunc',
    '--filter',
    `label=com.docker.stack.namespace=${stack}`,
    '--format',
    '{{.ID}} {{.Label "com.docker.swarm.service.name"}} {{.Label "com.docker.swarm.task.name"}}',
  ])
  const out = new Map<string, string>()
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [id, , task] = line.split(' ')
    if (id && task) out.set(task, id)
  }
  return out
}

/** Container id → its address on docker_gwbridge (how the host reaches a task). */
export async function gatewayAddresses(): Promise<Map<string, string>> {
  const r = await docker(['network', 'inspect', GATEWAY_BRIDGE, '--format', '{{json .Containers}}'], {
    allowFailure: true,
  })
  const out = new Map<string, string>()
  if (r.code !== 0) return out
  const containers = JSON.parse(r.stdout || '{}') as Record<string, { IPv4Address: string }> | null
  for (const [id, c] of Object.entries(containers ?? {})) out.set(id, c.IPv4Address.split('/')[0]!)
  return out
}

/**
 * `docker stack rm`, then waits until the stack's containers and its network are gone (the command
 * itself returns before they are).
 */
export async function removeStack(stack: string, network: string, timeoutMs = 120_000): Promise<boolean> {
  await docker(['stack', 'rm', stack], { allowFailure: true, timeoutMs })
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = await stackContainers(stack).catch(() => new Map())
    const net = await docker(['network', 'inspect', network], { allowFailure: true })
    if (left.size === 0 && net.code !== 0) return true
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 500))
  }
}

export interface SwarmClusterInit {
  /** Nodes besides the master. @default 4 */
  nodes?: number
  stateDir: string
  /** @default distlab:latest */
  image?: string
  /** Stack name. @default distlab */
  stack?: string
  /** Overlay network name. @default Proj1-distributed-overlay */
  network?: string
  /** @default deploy/stack.yml */
  stackFile?: string
  /** Cluster key; without one the stack runs open (DISTLAB_INSECURE=1). */
  key?: string
  /** Leave the swarm at stop() when start() created it. @default true */
  leaveSwarmOnStop?: boolean
  /** @default 90 s + 1 s per node */
  startTimeoutMs?: number
  onProgress?: (healthy: number, total: number) => void
}

export class SwarmCluster implements Startable {
  readonly nodes: number
  readonly stack: string
  readonly network: string
  readonly image: string
  readonly stackFile: string
  private record?: ContainerClusterRecord
  private initializedSwarm = false
  private logFiles?: LogFiles
  private readonly followers = new Set<ChildProcess>()
  private retry?: NodeJS.Timeout
  private started = false
  private stopped = false

  constructor(private readonly init: SwarmClusterInit) {
    this.nodes = checkInteger('nodes', init.nodes ?? 4, 1, 1000)
    this.stack = checkString('stack', init.stack ?? DEFAULT_STACK, /^[a-z0-9][a-z0-9_-]*$/)
    this.network = checkString('network', init.network ?? OVERLAY_NETWORK, /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/)
    this.image = init.image ?? DEFAULT_IMAGE
    this.stackFile = init.stackFile ?? STACK_FILE
  }

  list(): NodeRecord[] {
    return this.record?.nodes ?? []
  }

  get cluster(): ContainerClusterRecord | undefined {
    return this.record
  }

  async start(): Promise<void> {
    if (!existsSync(this.stackFile)) throw new ClusterError(`no stack file at ${this.stackFile}`)
    await checkContainerStart(this.init.stateDir, this.image)
    this.started = true
    if (this.init.key !== undefined) writeKeyFile(this.init.stateDir, this.init.key)
    this.initializedSwarm = await ensureSwarm()
    const names = [MASTER_NAME, ...Array.from({ length: this.nodes }, (_, i) => nodeName(i + 1))]
    this.record = containerRecord('swarm', this.nodes, {
      project: this.stack,
      composeFile: this.stackFile,
      network: this.network,
      image: this.image,
      initializedSwarm: this.initializedSwarm,
    })
    writeContainerRecord(this.init.stateDir, this.record)
    this.logFiles = new LogFiles(logDir(this.init.stateDir))
    const timeoutMs = this.init.startTimeoutMs ?? 90_000 + 1000 * this.nodes
    try {
      await docker(['stack', 'deploy', '-c', this.stackFile, this.stack], {
        timeoutMs,
        env: {
          ...process.env,
          DISTLAB_IMAGE: this.image,
          DISTLAB_NODES: String(this.nodes),
          DISTLAB_NETWORK: this.network,
          DISTLAB_KEY: this.init.key ?? '',
          DISTLAB_INSECURE: this.init.key === undefined ? '1' : '0',
        },
      })
      for (const service of [MASTER_NAME, 'node']) this.followLogs(`${this.stack}_${service}`)
      // Tasks are named <stack>_master.1 and <stack>_node.<slot>; node<slot> is their name.
      const want = new Map(
        names.map((n) => [
          n === MASTER_NAME ? `${this.stack}_master.1` : `${this.stack}_node.${n.slice(4)}`,
          n,
        ]),
      )
      const deadline = Date.now() + timeoutMs
      const urls = new Map<string, string>()
      while (urls.size < want.size) {
        const tasks = await stackContainers(this.stack)
        const gw = await gatewayAddresses()
        for (const [task, id] of tasks) {
          const prefix = task.split('.').slice(0, 2).join('.')
          const name = want.get(prefix)
          const ip = gw.get(id)
          if (!name || !ip) continue
          const n = this.record.nodes.find((x) => x.name === name)!
          n.host = ip
          urls.set(name, `http://${ip}:${n.httpPort}`)
        }
        this.init.onProgress?.(0, want.size)
        if (urls.size === want.size) break
        if (Date.now() > deadline)
          throw new ClusterError(
            `the stack's tasks did not all start within ${timeoutMs} ms (${urls.size} of ${want.size})`,
          )
        await new Promise((r) => setTimeout(r, 500))
      }
      const left = Math.max(10_000, deadline - Date.now())
      await recordHealthy(this.init.stateDir, this.record, urls, left, this.init.onProgress)
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /**
   * Copies a service's logs into the state dir's per-node files (for `distlab logs`) until stop().
   * The followers also keep the supervising process (`up --mode swarm`, detached or not) alive
   * while the stack runs, as compose's log follower does for docker mode.
   */
  private followLogs(service: string, since?: string): void {
    if (this.stopped) return
    let followed = false
    const child = followLines(
      'docker',
      [
        'service',
        'logs',
        '--follow',
        '--no-task-ids',
        ...(since ? ['--since', since] : ['--tail', 'all']),
        service,
      ],
      (line) => {
        const p = parseServiceLogLine(line, this.stack)
        if (!p) return
        followed = true
        this.logFiles?.write(p.name, p.text)
      },
    )
    this.followers.add(child)
    child.once('close', () => {
      this.followers.delete(child)
      // The engine was busy or the service not there yet: follow again (from where this one ended
      // when it got any line, so none is written twice) until stop().
      const from = followed ? new Date().toISOString() : since
      if (!this.stopped) this.retry = setTimeout(() => this.followLogs(service, from), LOG_FOLLOW_RETRY_MS)
    })
  }

  /** Removes the stack and its network; leaves the swarm when start() created it. Twice is harmless. */
  async stop(): Promise<void> {
    if (this.stopped || !this.started) return
    this.stopped = true
    if (this.record) {
      this.record.state = 'stopping'
      writeContainerRecord(this.init.stateDir, this.record)
    }
    clearTimeout(this.retry)
    for (const f of this.followers) f.kill('SIGTERM')
    this.logFiles?.close()
    await removeStack(this.stack, this.network)
    if (this.initializedSwarm && this.init.leaveSwarmOnStop !== false) await leaveSwarm()
    releaseContainerRecord(this.init.stateDir, this.init.key !== undefined)
  }
}
