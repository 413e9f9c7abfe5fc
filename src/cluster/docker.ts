// The Docker launcher: the same node program in containers on a Compose network. It builds the
// image (from a base imported from the host's own node binary when no registry is reachable),
// writes a compose file (master + node1..nodeN on the network `Proj1-distributed-network` of seed
// 000), runs it with `docker compose` or `docker-compose` (v1, what Debian ships), waits until every
// container answers GET /health, and records the containers' addresses in the cluster record so
// that `status`, `send`, `monitor` and the rest find them as in local mode. The master records
// its run straight into the host's runs folder (a bind mount), so `runs` and `analyze` read a
// container run while it is recorded, as a local one.
import { type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ClusterError, ClusterRunningError } from '../core/errors.js'
import { checkInteger, checkString } from '../core/options.js'
import { DEFAULT_FRAME_PORT, DEFAULT_HTTP_PORT, MASTER_NAME, nodeName } from '../core/ids.js'
import type { Startable } from '../core/interfaces.js'
import { bearerHeaders, removeKeyFile, writeKeyFile } from '../core/auth.js'
import {
  DockerError,
  DockerUnavailableError,
  docker,
  runCommand,
  type RunOptions,
  type RunResult,
} from './docker-cli.js'
import {
  isAlive,
  logDir,
  readCluster,
  writeCluster,
  type ClusterRecord,
  type ContainerClusterRecord,
  type NodeRecord,
} from './state.js'
import { checkDashboardPortFree, dashboardUrl } from './forward.js'
import type { ContainerClusterInit } from './container-init.js'
import { DEFAULT_IMAGE, imageExists } from './docker-image.js'
import { composeYaml, NETWORK_NAME, prepareRunsDir } from './docker-compose-spec.js'
import { runsDir } from '../monitor/constants.js'
import { followLines, LogFiles, parseComposeLogLine } from './docker-logs.js'
import {
  checkNetworkForUp,
  removeProjectNetworks,
  stopProjectContainers,
  type KeptNetwork,
} from './docker-network.js'

export const DEFAULT_PROJECT = 'distlab'
export const HEALTH_POLL_INTERVAL_MS = 250

// Callers reach the command runner (docker, runCommand, its errors and options) through here too.
export * from './docker-cli.js'
export { sharedLibraries } from './rootfs-image.js'
export {
  BUILD_LABEL,
  DEFAULT_BASE_IMAGE,
  DEFAULT_IMAGE,
  DOCKERFILE_PATH,
  IMAGE_UID,
  LOCAL_BASE_REPOSITORY,
  PACKAGE_ROOT,
  buildImage,
  buildLocalBaseImage,
  imageExists,
  imageSize,
  localBaseTag,
  nativeAddons,
  prepareBuildContext,
  productionPackages,
  removeStageImages,
  type BuildContextInfo,
  type BuildImageInit,
  type LocalBaseImageInit,
} from './docker-image.js'
export {
  CONTAINER_RUNS_DIR,
  NETWORK_NAME,
  composeSpec,
  composeYaml,
  masterRunsMount,
  prepareRunsDir,
  serviceFileYaml,
  type ComposeSpecInit,
} from './docker-compose-spec.js'
import { NodeClient } from '../client/node-client.js'
import { completeViews } from './views.js'
export { LogFiles, followLines, parseComposeLogLine } from './docker-logs.js'
export {
  NETWORK_RM_PATIENCE_MS,
  STALE_COUNT_PATIENCE_MS,
  STOP_CONCURRENCY,
  checkNetworkForUp,
  keptNetworkLine,
  networkEndpoints,
  type KeptNetwork,
  type NetworkEndpoint,
} from './docker-network.js'

/** True when the engine answers `docker info`. */
export async function dockerReady(): Promise<boolean> {
  try {
    await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 })
    return true
  } catch {
    return false
  }
}

/** Throws DockerUnavailableError with what to do when the engine does not answer. */
export async function requireDocker(): Promise<void> {
  if (!(await dockerReady()))
    throw new DockerUnavailableError(
      'the Docker engine does not answer; start it with `bash scripts/docker-start.sh` (or `sudo systemctl start docker`)',
    )
}

let composeCache: string[] | undefined

/** `docker compose` (v2) when the plugin is there, else `docker-compose` (v1). */
export async function composeCommand(): Promise<string[]> {
  if (composeCache) return composeCache
  const v2 = await docker(['compose', 'version'], { allowFailure: true, timeoutMs: 20_000 }).catch(
    () => undefined,
  )
  if (v2 && v2.code === 0) return (composeCache = ['docker', 'compose'])
  const v1 = await runCommand('docker-compose', ['version'], { allowFailure: true, timeoutMs: 20_000 }).catch(
    () => undefined,
  )
  if (v1 && v1.code === 0) return (composeCache = ['docker-compose'])
  throw new DockerUnavailableError(
    'neither `docker compose` nor `docker-compose` works (apt-get install -y docker-compose)',
  )
}

/** Runs the compose program with `-p project -f file` and the given arguments. */
export async function compose(
  project: string,
  file: string,
  args: string[],
  o: RunOptions = {},
): Promise<RunResult> {
  const [cmd, ...pre] = await composeCommand()
  // compose v1 gives up on a busy engine after 60 s, and creating 50 containers at once makes the
  // engine busy: a longer wait.
  // (COMPOSE_PARALLEL_LIMIT is left alone: v1 deadlocks with it below the number of services.)
  const env = { COMPOSE_HTTP_TIMEOUT: '300', ...(o.env ?? process.env) }
  return runCommand(cmd!, [...pre, '-p', project, '-f', file, ...args], { ...o, env })
}

// ---- the compose project ----

export interface ContainerInfo {
  id: string
  /** The compose service (master, node1, ...). */
  service: string
  /** The replica number of a scaled service (1 for an unscaled one). */
  number: number
  name: string
  /** Address on the project's network. */
  ip: string
  /** The container's main process as the host sees it. */
  pid: number
  running: boolean
  health?: string
}

/** Every container of a compose project (running or not). */
export async function projectContainers(project: string, network?: string): Promise<ContainerInfo[]> {
  const ids = (
    await docker(['ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`])
  ).stdout
    .split('\n')
    .filter(Boolean)
  return inspectContainers(ids, network)
}

export async function inspectContainers(ids: string[], network?: string): Promise<ContainerInfo[]> {
  if (ids.length === 0) return []
  const r = await docker(['inspect', ...ids])
  const all = JSON.parse(r.stdout) as Array<{
    Id: string
    Name: string
    Config: { Labels?: Record<string, string> }
    State: { Running: boolean; Pid: number; Health?: { Status: string } }
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> }
  }>
  return all.map((c) => {
    const nets = c.NetworkSettings.Networks ?? {}
    const ip = (network ? nets[network]?.IPAddress : undefined) ?? Object.values(nets)[0]?.IPAddress ?? ''
    const labels = c.Config.Labels ?? {}
    return {
      id: c.Id,
      service: labels['com.docker.compose.service'] ?? labels['com.docker.swarm.service.name'] ?? '',
      number: Number(labels['com.docker.compose.container-number'] ?? 1),
      name: c.Name.replace(/^\//, ''),
      ip,
      pid: c.State.Pid,
      running: c.State.Running,
      health: c.State.Health?.Status,
    }
  })
}

/** Polls GET /health on every address until all answer 200; returns the ids they report. */
export async function waitHealthy(
  urls: Map<string, string>,
  timeoutMs: number,
  onProgress?: (healthy: number, total: number) => void,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>()
  const deadline = Date.now() + timeoutMs
  while (ids.size < urls.size) {
    await Promise.all(
      [...urls].map(async ([name, url]) => {
        if (ids.has(name)) return
        try {
          ids.set(name, (await new NodeClient({ url, name, timeoutMs: 2000 }).health()).id)
        } catch {
          // not up yet
        }
      }),
    )
    onProgress?.(ids.size, urls.size)
    if (ids.size === urls.size) break
    if (Date.now() > deadline) {
      const missing = [...urls.keys()].filter((n) => !ids.has(n))
      throw new ClusterError(
        `${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''} did not answer /health within ${timeoutMs} ms`,
      )
    }
    await new Promise((r) => setTimeout(r, HEALTH_POLL_INTERVAL_MS))
  }
  return ids
}

/**
 * Records the containers' addresses, waits until each answers GET /health, then records the ids
 * they report and the cluster as running.
 */
export async function recordHealthy(
  stateDir: string,
  rec: ContainerClusterRecord,
  urls: Map<string, string>,
  timeoutMs: number,
  onProgress?: (healthy: number, total: number) => void,
): Promise<void> {
  writeContainerRecord(stateDir, rec)
  const ids = await waitHealthy(urls, timeoutMs, onProgress)
  // Every node knows every other when the start returns (cluster/views.ts).
  await completeViews(
    [...urls].map(([name, url]) => ({ name, url })),
    { headers: bearerHeaders(stateDir) },
  )
  for (const n of rec.nodes) n.id = ids.get(n.name)
  rec.state = 'running'
  writeContainerRecord(stateDir, rec)
}

/**
 * What a container launcher checks before it starts anything: no other cluster runs from this
 * state dir, the engine answers, the image is there.
 */
export async function checkContainerStart(stateDir: string, image: string): Promise<void> {
  const existing = readCluster(stateDir)
  if (existing && isAlive(existing.supervisorPid) && existing.supervisorPid !== process.pid)
    throw new ClusterRunningError(
      `a cluster is already running (${existing.nodes.length} nodes, supervisor pid ${existing.supervisorPid}); stop it with \`distlab down\` first`,
    )
  await requireDocker()
  if (!(await imageExists(image)))
    throw new DockerError(
      `no image ${image}; build it with \`distlab deploy image\` (offline: \`bash scripts/docker-build-image.sh\`)`,
    )
}

/** After a container cluster stopped: its key file (when it had one) and, if ours, its record go. */
export function releaseContainerRecord(stateDir: string, keyed: boolean): void {
  if (keyed) removeKeyFile(stateDir)
  const rec = readCluster(stateDir)
  if (rec && rec.supervisorPid === process.pid) rmSync(join(stateDir, 'cluster.json'), { force: true })
}

/**
 * The record of a container cluster about to start: master and node1..nodeN, every address still
 * unknown (filled in once the engine has placed the containers), this process as supervisor.
 */
export function containerRecord(
  mode: ContainerClusterRecord['mode'],
  nodes: number,
  info: ContainerClusterRecord['docker'],
): ContainerClusterRecord {
  const names = [MASTER_NAME, ...Array.from({ length: nodes }, (_, i) => nodeName(i + 1))]
  return {
    version: 1,
    mode,
    plan: 'loopback',
    block: 0,
    startedAt: Date.now(),
    supervisorPid: process.pid,
    state: 'starting',
    nodes: names.map((name) => ({
      name,
      host: '',
      httpPort: DEFAULT_HTTP_PORT,
      framePort: DEFAULT_FRAME_PORT,
      pid: process.pid,
    })),
    docker: info,
  }
}

export function writeContainerRecord(dir: string, rec: ContainerClusterRecord): void {
  // The shared record type names the local modes only; commands that read it use host/httpPort.
  writeCluster(dir, rec as unknown as ClusterRecord)
}

/** A container cluster going down says so in its record (`status` shows it) before anything stops. */
export function markStopping(dir: string, rec: ContainerClusterRecord | undefined): void {
  if (!rec) return
  rec.state = 'stopping'
  writeContainerRecord(dir, rec)
}

export interface DockerClusterInit extends ContainerClusterInit {
  /** Compose project name. @default distlab */
  project?: string
  /** @default Proj1-distributed-network */
  network?: string
  /** Publish the master's API (5000) and dashboard (8080) on this host address. @default none */
  publishHost?: string
  /** Time allowed until every node answers /health, in ms. @default 60 s + 1 s per node */
  startTimeoutMs?: number
}

export class DockerCluster extends EventEmitter implements Startable {
  readonly nodes: number
  readonly project: string
  readonly network: string
  readonly image: string
  readonly composeFile: string
  readonly runsDir: string
  private record?: ContainerClusterRecord
  private logFiles?: LogFiles
  private follower?: ChildProcess
  private stopped = false
  private started = false
  /** The networks the last stop() could not remove (keptNetworkLine says why). */
  keptNetworks: KeptNetwork[] = []

  constructor(private readonly init: DockerClusterInit) {
    super()
    this.nodes = checkInteger('nodes', init.nodes ?? 4, 1, 1000)
    this.project = checkString('project', init.project ?? DEFAULT_PROJECT, /^[a-z0-9][a-z0-9_-]*$/)
    this.network = init.network ?? NETWORK_NAME
    this.image = init.image ?? DEFAULT_IMAGE
    this.composeFile = resolve(init.stateDir, 'docker', 'compose.yml')
    this.runsDir = runsDir(init.runsDir)
  }

  list(): NodeRecord[] {
    return this.record?.nodes ?? []
  }

  get cluster(): ContainerClusterRecord | undefined {
    return this.record
  }

  async start(): Promise<void> {
    await checkContainerStart(this.init.stateDir, this.image)
    // A taken port is one clear line now, not the engine's bind error after the network is made.
    if (this.init.dashboard) await checkDashboardPortFree(this.init.dashboard)
    // A network of this name left empty is reused (compose does); one in use by others is refused.
    await checkNetworkForUp(this.network, this.project)
    mkdirSync(dirname(this.composeFile), { recursive: true })
    // The master records its runs straight into the host's runs folder (see masterRunsMount).
    prepareRunsDir(this.runsDir)
    writeFileSync(
      this.composeFile,
      composeYaml({
        nodes: this.nodes,
        image: this.image,
        network: this.network,
        publishHost: this.init.publishHost,
        dashboard: this.init.dashboard,
        runsDir: this.runsDir,
      }),
    )
    if (this.init.key !== undefined) writeKeyFile(this.init.stateDir, this.init.key)
    this.record = containerRecord('docker', this.nodes, {
      project: this.project,
      composeFile: this.composeFile,
      network: this.network,
      image: this.image,
      runsDir: this.runsDir,
      ...(this.init.dashboard ? { dashboardUrl: dashboardUrl(this.init.dashboard) } : {}),
    })
    writeContainerRecord(this.init.stateDir, this.record)
    this.started = true
    try {
      const timeoutMs = this.init.startTimeoutMs ?? 60_000 + 1000 * this.nodes
      await compose(this.project, this.composeFile, ['up', '-d', '--remove-orphans'], {
        timeoutMs,
        // Without a key the cluster is open, as local mode without one: the operator's choice.
        env: {
          ...process.env,
          DISTLAB_KEY: this.init.key ?? '',
          DISTLAB_INSECURE: this.init.key ? '0' : '1',
        },
      })
      this.followLogs()
      const containers = await projectContainers(this.project, this.network)
      const byService = new Map(containers.map((c) => [c.service, c]))
      const urls = new Map<string, string>()
      for (const n of this.record.nodes) {
        const c = byService.get(n.name)
        if (!c?.ip) throw new DockerError(`container ${n.name} has no address on ${this.network}`)
        n.host = c.ip
        n.pid = c.pid
        n.container = c.id
        urls.set(n.name, `http://${c.ip}:${n.httpPort}`)
      }
      await recordHealthy(this.init.stateDir, this.record, urls, timeoutMs, this.init.onProgress)
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  private followLogs(): void {
    const files = new LogFiles(logDir(this.init.stateDir))
    this.logFiles = files
    void composeCommand().then(([cmd, ...pre]) => {
      if (this.stopped) return
      this.follower = followLines(
        cmd!,
        [...pre, '-p', this.project, '-f', this.composeFile, 'logs', '-f', '--no-color', '--tail', 'all'],
        (line) => {
          const p = parseComposeLogLine(line)
          if (!p) return
          files.write(p.service, p.text)
          this.init.onLine?.(p.service, p.text)
        },
      )
    })
  }

  /** `compose down`: every container and the network go; the record is removed. Twice is harmless. */
  async stop(): Promise<void> {
    if (this.stopped || !this.started) return
    this.stopped = true
    markStopping(this.init.stateDir, this.record)
    this.follower?.kill('SIGTERM')
    // 10 s for each container to stop: time for the master to close its run store cleanly.
    this.keptNetworks = await composeDown(this.project, this.composeFile, {
      network: this.network,
      graceS: 10,
    })
    this.logFiles?.close()
    releaseContainerRecord(this.init.stateDir, this.init.key !== undefined)
  }
}

/**
 * Removes a compose project's containers, network and anonymous volumes: the network by the
 * project's label and, when given, by its fixed name (compose reuses a network of that name that
 * another run left). Returns the networks the engine would not remove (empty when nothing is left):
 * see docker-network.ts for the one a busy Docker 20.10 keeps with no endpoint on it. The running
 * containers stop first, a few at a time, `graceS` (5) seconds each.
 */
export async function composeDown(
  project: string,
  composeFile: string,
  o: { network?: string; timeoutMs?: number; graceS?: number } = {},
): Promise<KeptNetwork[]> {
  const timeoutMs = o.timeoutMs ?? 180_000
  const label = `label=com.docker.compose.project=${project}`
  const had = (await docker(['ps', '-aq', '--filter', label], { allowFailure: true })).stdout.trim() !== ''
  // A few at a time, not compose's all at once: the engine loses count of endpoints going at once.
  await stopProjectContainers(project, o.graceS ?? 5, timeoutMs)
  if (existsSync(composeFile)) {
    await compose(project, composeFile, ['down', '--volumes', '--remove-orphans', '--timeout', '5'], {
      timeoutMs,
      allowFailure: true,
    })
  }
  // Whatever is left (the file is gone, or down failed half-way) is removed by label.
  const left = (await docker(['ps', '-aq', '--filter', label], { allowFailure: true })).stdout
    .split('\n')
    .filter(Boolean)
  if (left.length) await docker(['rm', '-f', '-v', ...left], { allowFailure: true, timeoutMs })
  return removeProjectNetworks(project, o.network, had, timeoutMs)
}

/** Makes a bridge network labelled `label=1` unless one of that name exists; true when this call made it. */
export async function ensureDockerNetwork(network: string, label: string): Promise<boolean> {
  const has = await docker(['network', 'inspect', network], { allowFailure: true, timeoutMs: 20_000 })
  if (has.code === 0) return false
  await docker(['network', 'create', '--driver', 'bridge', '--label', `${label}=1`, network])
  return true
}

/** The error when a container's name is taken (another cluster's, or one a kill left behind). */
export function containerNameTaken(name: string): ClusterError {
  return new ClusterError(
    `a container named ${name} already exists; remove it (docker rm -f ${name}) or stop its cluster first`,
  )
}
