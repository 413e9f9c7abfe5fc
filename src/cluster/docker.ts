// The Docker launcher: the same node program in containers on a Compose network. It builds the
// image (from a base imported from the host's own node binary when no registry is reachable),
// writes a compose file (master + node1..nodeN on the network `Proj1-distributed-network` of seed
// 000), runs it with `docker compose` or `docker-compose` (v1, what Debian ships), waits until every
// container answers GET /health, and records the containers' addresses in the cluster record so
// that `status`, `send`, `monitor` and the rest find them as in local mode. The master records
// its run straight into the host's runs folder (a bind mount), so `runs` and `analyze` read a
// container run while it is recorded, as a local one.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import {
  chownSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Document, isMap, isScalar } from 'yaml'
import { ClusterError, ClusterRunningError } from '../core/errors.js'
import { checkInteger, checkString } from '../core/options.js'
import { DEFAULT_FRAME_PORT, DEFAULT_HTTP_PORT, MASTER_NAME, nodeName } from '../core/ids.js'
import type { Startable } from '../core/interfaces.js'
import { removeKeyFile, writeKeyFile } from '../core/auth.js'
import { DEFAULT_RUNS_DIR } from '../monitor/constants.js'
import {
  DockerError,
  DockerUnavailableError,
  docker,
  runCommand,
  type RunOptions,
  type RunResult,
} from './docker-cli.js'
import { importRootfsImage } from './rootfs-image.js'
import { isAlive, logDir, readCluster, writeCluster, type ClusterRecord, type NodeRecord } from './state.js'
import {
  CONTAINER_DASHBOARD_PORT,
  checkDashboardPortFree,
  dashboardUrl,
  type DashboardPublish,
} from './forward.js'

/** The repository (or installed package) root: where bin/, dist/, deploy/ and node_modules/ are. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)))

function findPackageRoot(from: string): string {
  // dist/src/cluster when compiled, src/cluster under tsx: the first parent with our package.json
  for (let dir = from, i = 0; i < 6; i++, dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'distlab')
      return dir
  }
  return resolve(from, '../../..')
}
export const DOCKERFILE_PATH = join(PACKAGE_ROOT, 'deploy', 'Dockerfile')
/** The seed-000 network name. */
export const NETWORK_NAME = 'Proj1-distributed-network'
export const DEFAULT_BASE_IMAGE = 'node:20-bookworm-slim'
export const DEFAULT_IMAGE = 'distlab:latest'
export const DEFAULT_PROJECT = 'distlab'
/** Tag prefix of the base image imported from the host's node binary; the node version follows. */
export const LOCAL_BASE_REPOSITORY = 'distlab-base'
/** Unprivileged user the image runs as (`node` in the official image). */
export const IMAGE_UID = 1000
/** Where the master in a container keeps its run files (a bind mount of the host's runs folder). */
export const CONTAINER_RUNS_DIR = '/data/runs'
export const HEALTH_POLL_INTERVAL_MS = 250

export {
  DEFAULT_DOCKER_TIMEOUT_MS,
  DockerError,
  DockerUnavailableError,
  docker,
  runCommand,
  type RunOptions,
  type RunResult,
} from './docker-cli.js'
export { sharedLibraries } from './rootfs-image.js'

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

export async function imageExists(tag: string): Promise<boolean> {
  const r = await docker(['image', 'inspect', '--format', '{{.Id}}', tag], { allowFailure: true })
  return r.code === 0
}

/** Size of an image in bytes. */
export async function imageSize(tag: string): Promise<number> {
  const r = await docker(['image', 'inspect', '--format', '{{.Size}}', tag])
  return Number(r.stdout.trim())
}

// ---- the base image, imported from the host's node binary ----

export interface LocalBaseImageInit {
  /** @default distlab-base:node-<version of the node binary> */
  tag?: string
  /** The node binary to package. @default the one running this code */
  nodeBinary?: string
  /** Build again even when the tag exists. @default false */
  force?: boolean
  /** Native add-ons whose shared libraries the image needs too. @default those of the production dependencies */
  extraBinaries?: string[]
}

export function localBaseTag(version = process.version): string {
  return `${LOCAL_BASE_REPOSITORY}:node-${version}`
}

const PASSWD = 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n'
const GROUP = 'root:x:0:\nnode:x:1000:\n'
const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\n'

/**
 * Builds a runnable base image without a registry: a root file system holding the host's node
 * binary at /usr/local/bin/node, the shared libraries `ldd` lists for it and for the native
 * add-ons, /etc/passwd with a `node` user (uid 1000) and a /tmp, passed to `docker import`.
 * Skipped when the tag exists already (the cache between runs), unless `force`.
 */
export async function buildLocalBaseImage(
  init: LocalBaseImageInit = {},
): Promise<{ tag: string; built: boolean }> {
  const nodeBinary = init.nodeBinary ?? process.execPath
  const version = init.nodeBinary
    ? (await runCommand(nodeBinary, ['--version'])).stdout.trim()
    : process.version
  const tag = init.tag ?? localBaseTag(version)
  if (!init.force && (await imageExists(tag))) return { tag, built: false }
  await importRootfsImage({
    tag,
    scratchPrefix: 'distlab-base-',
    layout: async (fs) => {
      fs.put(nodeBinary, '/usr/local/bin/node', 0o755)
      await fs.libraries([nodeBinary, ...(init.extraBinaries ?? nativeAddons())])
      fs.write('etc/passwd', PASSWD)
      fs.write('etc/group', GROUP)
      fs.write('etc/nsswitch.conf', NSSWITCH)
      mkdirSync(join(fs.root, 'home/node'), { recursive: true })
      if (process.getuid?.() === 0) chownSync(join(fs.root, 'home/node'), IMAGE_UID, IMAGE_UID)
    },
    changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["node"]'],
    timeoutMs: 300_000,
  })
  return { tag, built: true }
}

/** The `.node` files of the production dependencies. */
export function nativeAddons(root = PACKAGE_ROOT): string[] {
  const out: string[] = []
  for (const dir of productionPackages(root)) {
    const release = join(root, dir, 'build', 'Release')
    const candidates = existsSync(release) ? [release, join(root, dir)] : [join(root, dir)]
    for (const c of candidates) {
      try {
        for (const f of readdirSync(c)) if (f.endsWith('.node')) out.push(join(c, f))
      } catch {
        // no such directory
      }
    }
  }
  return out
}

// ---- the build context ----

/**
 * The packages `npm ci --omit=dev` would install: every `node_modules/...` entry of
 * package-lock.json not marked `dev`, that exists on disk (optional platform packages of other
 * systems do not).
 */
export function productionPackages(root = PACKAGE_ROOT): string[] {
  const lockFile = join(root, 'package-lock.json')
  if (!existsSync(lockFile)) return []
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as {
    packages?: Record<string, { dev?: boolean; link?: boolean }>
  }
  return Object.entries(lock.packages ?? {})
    .filter(([p, meta]) => p.startsWith('node_modules/') && !meta.dev && !meta.link)
    .map(([p]) => p)
    .filter((p) => existsSync(join(root, p)))
}

/** Parts of packages that are not needed at run time (sources and build leftovers of add-ons). */
const CONTEXT_EXCLUDES = [
  /^node_modules\/better-sqlite3\/(deps|src)(\/|$)/,
  /^node_modules\/better-sqlite3\/build\/(Release\/(obj|\.deps|test_extension)|deps)/,
  /\.(md|markdown|ts\.map|d\.ts|d\.mts|d\.cts)$/i,
]

export interface BuildContextInfo {
  dir: string
  bytes: number
  files: number
}

/**
 * Assembles the image's build context in `dir`: app/ (package.json, bin/, dist/src/, web/,
 * deploy/ and the production node_modules) and data/ (the empty state directory). Needs dist/
 * built (`npm run build`).
 */
export function prepareBuildContext(dir: string, root = PACKAGE_ROOT): BuildContextInfo {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js')))
    throw new ClusterError(`${join(root, 'dist')} is not built; run \`npm run build\` first`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'app'), { recursive: true })
  mkdirSync(join(dir, 'data'), { recursive: true })
  writeFileSync(join(dir, 'data', '.keep'), '')
  let bytes = 0
  let files = 0
  const copy = (rel: string) => {
    const from = join(root, rel)
    if (!existsSync(from)) return
    cpSync(from, join(dir, 'app', rel), {
      recursive: true,
      dereference: true,
      filter: (src) => {
        const r = relative(root, src).split('\\').join('/')
        if (CONTEXT_EXCLUDES.some((x) => x.test(r))) return false
        const st = statSync(src)
        if (st.isFile()) {
          bytes += st.size
          files++
        }
        return true
      },
    })
  }
  for (const rel of ['package.json', 'bin', 'dist/src', 'web', 'deploy', 'contrib']) copy(rel)
  // The line server's default text: the lineserver role needs it.
  for (const rel of ['data/lines.txt', 'data/README.md']) copy(rel)
  for (const p of productionPackages(root)) copy(p)
  writeFileSync(join(dir, 'Dockerfile'), readFileSync(join(root, 'deploy', 'Dockerfile')))
  return { dir, bytes, files }
}

export interface BuildImageInit {
  /** @default distlab:latest */
  tag?: string
  /** @default node:20-bookworm-slim */
  baseImage?: string
  root?: string
  timeoutMs?: number
}

/** Builds the project's image from deploy/Dockerfile; returns its tag and size in bytes. */
export async function buildImage(init: BuildImageInit = {}): Promise<{
  tag: string
  baseImage: string
  sizeBytes: number
  context: BuildContextInfo
  buildId: string
}> {
  const tag = init.tag ?? DEFAULT_IMAGE
  const baseImage = init.baseImage ?? DEFAULT_BASE_IMAGE
  const buildId = `${Date.now().toString(36)}-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`
  const dir = mkdtempSync(join(tmpdir(), 'distlab-context-'))
  try {
    const context = prepareBuildContext(join(dir, 'ctx'), init.root)
    await docker(
      [
        'build',
        '--build-arg',
        `BASE_IMAGE=${baseImage}`,
        '--build-arg',
        `DISTLAB_BUILD=${buildId}`,
        '-t',
        tag,
        context.dir,
      ],
      {
        timeoutMs: init.timeoutMs ?? 600_000,
        // The legacy builder: it works with the engine alone (BuildKit would need buildx here).
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      },
    )
    return { tag, baseImage, sizeBytes: await imageSize(tag), context: { ...context, dir: '' }, buildId }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await removeStageImages(buildId)
  }
}

/** The label each build's first stage carries (deploy/Dockerfile), with the build's own id. */
export const BUILD_LABEL = 'dev.distlab.build'

/**
 * Removes the images labelled with one build's id: the first stage of deploy/Dockerfile, which the
 * legacy builder leaves behind untagged (the final image does not carry the label). Returns how many.
 */
export async function removeStageImages(buildId: string): Promise<number> {
  const r = await docker(['images', '--quiet', '--no-trunc', '--filter', `label=${BUILD_LABEL}=${buildId}`], {
    allowFailure: true,
  })
  const ids = [...new Set(r.stdout.split('\n').filter(Boolean))]
  if (ids.length > 0) await docker(['rmi', '--force', ...ids], { allowFailure: true, timeoutMs: 120_000 })
  return ids.length
}

// ---- the compose project ----

export interface ComposeSpecInit {
  /** Nodes besides the master. @default 4 */
  nodes?: number
  /** @default distlab:latest */
  image?: string
  /** @default Proj1-distributed-network */
  network?: string
  /** Publish the master's API and dashboard on this host address (none when unset). */
  publishHost?: string
  /** Publish the master's dashboard on this host address and port (`up`: 127.0.0.1:8080). */
  dashboard?: DashboardPublish
  /** Log format of the containers. @default 'pretty' */
  logFormat?: 'pretty' | 'json'
  /**
   * Host folder bind-mounted at /data/runs in the master, where its run store writes. @default
   * none (the run files stay inside the container)
   */
  runsDir?: string
  /** With runsDir: `uid:gid` the master runs as, the owner of that folder. @default this process's */
  masterUser?: string
}

/**
 * What the master's service gets so that it records its runs straight into a host folder: that
 * folder bind-mounted at /data/runs, and the uid:gid of the folder's owner to write there as.
 *
 * Why a bind mount: `distlab runs` and `analyze` then read a container run while it is recorded,
 * exactly as a local one, and nothing needs copying at `down` (SQLite's WAL works across a bind
 * mount on one host). Fetching the run over the master's HTTP API instead would give analyze a
 * second code path and leave no file behind for `runs`, the dashboard's past runs or other tools.
 * Why the host user: the folder is made by the user who runs `up` (else the engine would make it,
 * as root), and the master must write there; its files then belong to that user, as in local mode.
 * The nodes keep the image's unprivileged uid 1000.
 */
export function masterRunsMount(
  runsDir: string,
  user = hostUser(),
): { user: string; environment: Record<string, string>; volumes: Array<Record<string, string>> } {
  return {
    user: checkString('masterUser', user, /^\d+:\d+$/),
    environment: { DISTLAB_RUNS_DIR: CONTAINER_RUNS_DIR },
    volumes: [{ type: 'bind', source: resolve(runsDir), target: CONTAINER_RUNS_DIR }],
  }
}

/** Makes the host's runs folder (as the user running `up`) and returns its absolute path. */
export function prepareRunsDir(explicit?: string): string {
  const dir = runsDirOf(explicit)
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * A compose or stack file as YAML. Compose v1 reads YAML 1.1, where an unquoted 1000:10 is a
 * base-60 number: every service's `user` is quoted.
 */
export function serviceFileYaml(spec: Record<string, unknown>): string {
  const doc = new Document(spec)
  const services = doc.get('services', true)
  if (isMap(services))
    for (const item of services.items) {
      const user = isMap(item.value) ? item.value.get('user', true) : undefined
      if (isScalar(user)) user.type = 'QUOTE_DOUBLE'
    }
  return doc.toString({ lineWidth: 0 })
}

/**
 * A compose file with one service per node (master, node1..nodeN), so that every node has the
 * stable DNS name of the seeds (`http://node1:5000`), on the named network. It uses only what
 * both `docker compose` and `docker-compose` 1.29 accept.
 */
export function composeSpec(init: ComposeSpecInit = {}): Record<string, unknown> {
  const nodes = checkInteger('nodes', init.nodes ?? 4, 1, 1000)
  const image = checkString('image', init.image ?? DEFAULT_IMAGE)
  const network = checkString('network', init.network ?? NETWORK_NAME, /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/)
  const logFormat = init.logFormat ?? 'pretty'
  const runs = init.runsDir ? masterRunsMount(init.runsDir, init.masterUser) : undefined
  // The key itself never goes into the file: compose reads it (or DISTLAB_INSECURE=1, an open
  // cluster) from its own environment, as with deploy/compose.yml.
  const environment = {
    DISTLAB_KEY: '${DISTLAB_KEY:-}',
    DISTLAB_INSECURE: '${DISTLAB_INSECURE:-0}',
  }
  const services: Record<string, unknown> = {}
  services[MASTER_NAME] = {
    image,
    hostname: MASTER_NAME,
    init: true,
    command: [
      'master',
      '--name',
      MASTER_NAME,
      '--host',
      '0.0.0.0',
      '--bind',
      '0.0.0.0',
      '--log-format',
      logFormat,
    ],
    environment: runs ? { ...environment, ...runs.environment } : environment,
    ...(runs ? { user: runs.user, volumes: runs.volumes } : {}),
    healthcheck: { interval: '5s', start_period: '5s' },
    ...(init.publishHost || init.dashboard
      ? {
          ports: [
            ...(init.publishHost
              ? [
                  `${init.publishHost}:${DEFAULT_HTTP_PORT}:${DEFAULT_HTTP_PORT}`,
                  `${init.publishHost}:${CONTAINER_DASHBOARD_PORT}:${CONTAINER_DASHBOARD_PORT}`,
                ]
              : []),
            ...(init.dashboard
              ? [`${init.dashboard.host}:${init.dashboard.port}:${CONTAINER_DASHBOARD_PORT}`]
              : []),
          ],
        }
      : {}),
    networks: ['default'],
  }
  for (let i = 1; i <= nodes; i++) {
    const name = nodeName(i)
    services[name] = {
      image,
      hostname: name,
      init: true,
      command: [
        'node',
        '--name',
        name,
        '--host',
        '0.0.0.0',
        '--advertise',
        name,
        '--bootstrap',
        `http://${MASTER_NAME}:${DEFAULT_HTTP_PORT}`,
        '--log-format',
        logFormat,
      ],
      environment,
      depends_on: [MASTER_NAME],
      networks: ['default'],
    }
  }
  return {
    version: '3.8',
    services,
    networks: { default: { name: network, driver: 'bridge' } },
  }
}

export function composeYaml(init: ComposeSpecInit = {}): string {
  return (
    '# Generated by `distlab up --mode docker`: the master and one service per node on the\n' +
    `# network ${init.network ?? NETWORK_NAME}. Works with \`docker compose\` and \`docker-compose\`.\n` +
    serviceFileYaml(composeSpec(init))
  )
}

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
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })
          if (res.ok) ids.set(name, ((await res.json()) as { id: string }).id)
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

/** The record of a container cluster: the local record's fields plus how to find the project. */
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

export function isContainerRecord(rec: unknown): rec is ContainerClusterRecord {
  const m = (rec as { mode?: string } | undefined)?.mode
  return m === 'docker' || m === 'swarm'
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

export interface DockerClusterInit {
  /** Nodes besides the master. @default 4 */
  nodes?: number
  stateDir: string
  /** @default distlab:latest */
  image?: string
  /** Compose project name. @default distlab */
  project?: string
  /** @default Proj1-distributed-network */
  network?: string
  /** Publish the master's API (5000) and dashboard (8080) on this host address. @default none */
  publishHost?: string
  /** Publish the master's dashboard on this host address and port. @default none */
  dashboard?: DashboardPublish
  /**
   * Cluster key (`secret` or `id:secret,...`): handed to the containers through compose's
   * environment (never the file) and kept for the CLI in <stateDir>/cluster.key. Without one the
   * cluster is open (DISTLAB_INSECURE=1 in the containers).
   */
  key?: string
  /**
   * The host folder the master records its runs in (bind-mounted into its container), so that
   * `distlab runs` and `analyze` on the host see a run while it is recorded, as in local mode.
   * @default $DISTLAB_RUNS_DIR or ./runs
   */
  runsDir?: string
  /** Time allowed until every node answers /health, in ms. @default 60 s + 1 s per node */
  startTimeoutMs?: number
  /** Each log line of each container, as it comes. */
  onLine?: (name: string, line: string) => void
  /** How many nodes answer /health, while starting. */
  onProgress?: (healthy: number, total: number) => void
}

/** The host's runs folder: as the run store resolves it ($DISTLAB_RUNS_DIR, else ./runs). */
function runsDirOf(explicit?: string): string {
  return resolve(explicit ?? process.env.DISTLAB_RUNS_DIR ?? DEFAULT_RUNS_DIR)
}

/** `uid:gid` of this process (the user running `up`); the image's user where there are none. */
function hostUser(): string {
  const uid = process.getuid?.()
  const gid = process.getgid?.()
  return uid === undefined || gid === undefined ? `${IMAGE_UID}:${IMAGE_UID}` : `${uid}:${gid}`
}

/** One log file per container name in a folder (`distlab logs` reads them), opened on first use. */
export class LogFiles {
  private readonly streams = new Map<string, WriteStream>()

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true })
  }

  write(name: string, text: string): void {
    let log = this.streams.get(name)
    if (!log) {
      log = createWriteStream(join(this.dir, `${name}.log`))
      this.streams.set(name, log)
    }
    log.write(text + '\n')
  }

  close(): void {
    for (const l of this.streams.values()) l.end()
    this.streams.clear()
  }
}

/** Runs a program that follows logs, handing over each whole line of its stdout and stderr. */
export function followLines(cmd: string, args: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.on('error', () => {}) // the engine went away: the follower just ends
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = ''
    stream.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) onLine(line)
    })
  }
  return child
}

/** Parses the prefix compose puts before each log line: `distlab_node3_1  | text` → node3. */
export function parseComposeLogLine(line: string): { service: string; text: string } | undefined {
  const bar = line.indexOf('|')
  if (bar < 0) return undefined
  const prefix = line.slice(0, bar).trim()
  const text = line.slice(bar + 1).replace(/^ /, '')
  const m = /(?:^|[_-])([a-zA-Z][a-zA-Z0-9]*)[_-]\d+$/.exec(prefix)
  return { service: m ? m[1]! : prefix, text }
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

  constructor(private readonly init: DockerClusterInit) {
    super()
    this.nodes = checkInteger('nodes', init.nodes ?? 4, 1, 1000)
    this.project = checkString('project', init.project ?? DEFAULT_PROJECT, /^[a-z0-9][a-z0-9_-]*$/)
    this.network = init.network ?? NETWORK_NAME
    this.image = init.image ?? DEFAULT_IMAGE
    this.composeFile = resolve(init.stateDir, 'docker', 'compose.yml')
    this.runsDir = runsDirOf(init.runsDir)
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

  /** Stops the containers first, with time for the master to close its run store cleanly. */
  private async stopContainers(): Promise<void> {
    await compose(this.project, this.composeFile, ['stop', '-t', '10'], {
      timeoutMs: 120_000,
      allowFailure: true,
    })
  }

  /** `compose down`: every container and the network go; the record is removed. Twice is harmless. */
  async stop(): Promise<void> {
    if (this.stopped || !this.started) return
    this.stopped = true
    if (this.record) {
      this.record.state = 'stopping'
      writeContainerRecord(this.init.stateDir, this.record)
    }
    this.follower?.kill('SIGTERM')
    await this.stopContainers().catch(() => {}) // down below removes whatever is left
    await composeDown(this.project, this.composeFile)
    this.logFiles?.close()
    releaseContainerRecord(this.init.stateDir, this.init.key !== undefined)
  }
}

/** Removes a compose project's containers, network and anonymous volumes. */
export async function composeDown(project: string, composeFile: string, timeoutMs = 180_000): Promise<void> {
  if (existsSync(composeFile)) {
    await compose(project, composeFile, ['down', '--volumes', '--remove-orphans', '--timeout', '5'], {
      timeoutMs,
      allowFailure: true,
    })
  }
  // Whatever is left (the file is gone, or down failed half-way) is removed by label.
  const left = (
    await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], {
      allowFailure: true,
    })
  ).stdout
    .split('\n')
    .filter(Boolean)
  if (left.length) await docker(['rm', '-f', '-v', ...left], { allowFailure: true, timeoutMs })
  // Services of profiles `down` was not told about may have held the network: it goes now.
  const nets = (
    await docker(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`], {
      allowFailure: true,
    })
  ).stdout
    .split('\n')
    .filter(Boolean)
  if (nets.length) await docker(['network', 'rm', ...nets], { allowFailure: true, timeoutMs })
}
