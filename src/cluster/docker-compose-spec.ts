// The compose project of the Docker launcher (moved from docker.ts, issue 18): the compose file
// with one service per node on the seed-000 network, and the master's bind mount of the host's runs folder.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { Document, isMap, isScalar } from 'yaml'
import { checkInteger, checkString } from '../core/options.js'
import { DEFAULT_HTTP_PORT, MASTER_NAME, nodeName } from '../core/ids.js'
import { runsDir as runsDirOf } from '../monitor/constants.js'
import { CONTAINER_DASHBOARD_PORT, type DashboardPublish } from './forward.js'
import { DEFAULT_IMAGE, IMAGE_UID } from './docker-image.js'

/** The seed-000 network name. */
export const NETWORK_NAME = 'Proj1-distributed-network'
/** Where the master in a container keeps its run files (a bind mount of the host's runs folder). */
export const CONTAINER_RUNS_DIR = '/data/runs'

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
    command: containerCommand('master', { name: MASTER_NAME, logFormat }),
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
      command: containerCommand('node', {
        name,
        advertise: name,
        bootstrap: `http://${MASTER_NAME}:${DEFAULT_HTTP_PORT}`,
        logFormat,
      }),
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

/** `uid:gid` of this process (the user running `up`); the image's user where there are none. */
function hostUser(): string {
  const uid = process.getuid?.()
  const gid = process.getgid?.()
  return uid === undefined || gid === undefined ? `${IMAGE_UID}:${IMAGE_UID}` : `${uid}:${gid}`
}

/**
 * The distlab command line a container runs (compose service, Kubernetes pod): it listens on every
 * interface (the master's API too) and tells its peers `advertise`, the name they reach it by.
 */
export function containerCommand(
  role: 'master' | 'node',
  c: { name: string; advertise?: string; bootstrap?: string; logFormat: string },
): string[] {
  return [
    role,
    '--name',
    c.name,
    '--host',
    '0.0.0.0',
    ...(role === 'master' ? ['--bind', '0.0.0.0'] : []),
    ...(c.advertise ? ['--advertise', c.advertise] : []),
    ...(c.bootstrap ? ['--bootstrap', c.bootstrap] : []),
    '--log-format',
    c.logFormat,
  ]
}
