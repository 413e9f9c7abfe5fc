// What `distlab run` is asked to start: a command (or image) per role, how many nodes, their
// environment, and how to isolate them. resolveForeignSpec() checks every field on its own line;
// expand() fills the placeholders of a command or an env value for one instance.
import { InvalidArgumentError } from '../core/errors.js'
import { checkInteger, checkPort, checkString } from '../core/options.js'

export type ForeignRole = 'bootstrap' | 'master' | 'node'

export interface ForeignSpec {
  /** The command every node runs (process mode), e.g. `python3 node.py --port {port}`. */
  node?: string
  /** Nodes besides the bootstrap and the master. @default 4 */
  nodes?: number
  /** The bootstrap's command, if the system has one. */
  bootstrap?: string
  /** The master's command, if the system has one. */
  master?: string
  /** Extra environment of every node; values take placeholders. */
  env?: Record<string, string>
  bootstrapEnv?: Record<string, string>
  masterEnv?: Record<string, string>
  /** @default 'process' */
  mode?: 'process' | 'docker'
  /** Docker mode: the image of the nodes, bootstrap and master (the command, if given, overrides the image's). */
  nodeImage?: string
  bootstrapImage?: string
  masterImage?: string
  /** Docker mode: the network. @default 'Proj1-distributed-network' */
  network?: string
  /** The port each instance is told to listen on ({port}). @default 5000 */
  port?: number
  /** Where the cluster record and logs go (the CLI's --state-dir). */
  stateDir: string
  /** Working directory of the commands. @default process.cwd() */
  cwd?: string
  /**
   * Process mode: one network namespace per instance, so that link faults can act on its traffic.
   * Needs root. 'auto' isolates when the machine allows it and says why not otherwise.
   * @default 'auto'
   */
  isolate?: boolean | 'auto'
  /**
   * Relays with the link emulator on every instance-to-instance path (needs isolation, or docker).
   * @default true
   */
  faults?: boolean
  /** Second octet of loopback addresses and third of namespace addresses, to keep clusters apart. @default 0 */
  block?: number
  /** Folder of run files (telemetry of the relays). @default $DISTLAB_RUNS_DIR or ./runs */
  runsDir?: string
  /** Port of the dashboard showing the relays' traffic; taken → a free one. @default 8080 */
  dashboardPort?: number
  /** Each log line of each instance, as it comes. */
  onLine?: (name: string, line: string) => void
  /** How long to wait for each instance to listen on its port, ms; 0 does not wait. @default 20000 */
  readyTimeoutMs?: number
}

export interface ResolvedForeignSpec {
  node?: string
  nodes: number
  bootstrap?: string
  master?: string
  env: ReadonlyMap<string, string>
  bootstrapEnv: ReadonlyMap<string, string>
  masterEnv: ReadonlyMap<string, string>
  mode: 'process' | 'docker'
  nodeImage?: string
  bootstrapImage?: string
  masterImage?: string
  network: string
  port: number
  stateDir: string
  cwd: string
  isolate: boolean | 'auto'
  faults: boolean
  block: number
  runsDir?: string
  dashboardPort?: number
  readyTimeoutMs: number
}

export const DEFAULT_FOREIGN_NETWORK = 'Proj1-distributed-network'
export const DEFAULT_FOREIGN_PORT = 5000
/** Namespaces and docker containers: one /24 holds the bridge, bootstrap, master and nodes. */
export const MAX_FOREIGN_NODES = 250
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const MAX_ENV_ENTRIES = 256

function envMap(field: string, env: Record<string, string> | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (env === undefined) return out
  if (typeof env !== 'object' || env === null)
    throw new InvalidArgumentError(`${field} must be an object`, field)
  const entries = Object.entries(env)
  if (entries.length > MAX_ENV_ENTRIES)
    throw new InvalidArgumentError(`${field} holds more than ${MAX_ENV_ENTRIES} variables`, field)
  for (const [k, v] of entries) {
    if (!ENV_NAME.test(k))
      throw new InvalidArgumentError(`${field}: ${JSON.stringify(k)} is not a variable name`, field)
    if (typeof v !== 'string') throw new InvalidArgumentError(`${field}.${k} must be a string`, field)
    out.set(k, v)
  }
  return out
}

/** `K=V` strings (the CLI's --env) → an object; the first `=` splits. */
export function parseEnvPairs(flag: string, pairs: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const p of pairs) {
    const i = p.indexOf('=')
    if (i <= 0) throw new InvalidArgumentError(`${flag} takes K=V, got ${JSON.stringify(p)}`, flag)
    const k = p.slice(0, i)
    if (!ENV_NAME.test(k))
      throw new InvalidArgumentError(`${flag}: ${JSON.stringify(k)} is not a variable name`, flag)
    Object.defineProperty(out, k, { value: p.slice(i + 1), enumerable: true, writable: true })
  }
  return out
}

const optionalString = (field: string, v: unknown) => (v === undefined ? undefined : checkString(field, v))

export function resolveForeignSpec(spec: ForeignSpec): ResolvedForeignSpec {
  const mode = spec.mode ?? 'process'
  if (mode !== 'process' && mode !== 'docker')
    throw new InvalidArgumentError(`mode must be process or docker, got ${JSON.stringify(mode)}`, 'mode')
  const r: ResolvedForeignSpec = {
    node: optionalString('node', spec.node),
    nodes: checkInteger('nodes', spec.nodes ?? 4, 0, MAX_FOREIGN_NODES),
    bootstrap: optionalString('bootstrap', spec.bootstrap),
    master: optionalString('master', spec.master),
    env: envMap('env', spec.env),
    bootstrapEnv: envMap('bootstrapEnv', spec.bootstrapEnv),
    masterEnv: envMap('masterEnv', spec.masterEnv),
    mode,
    nodeImage: optionalString('nodeImage', spec.nodeImage),
    bootstrapImage: optionalString('bootstrapImage', spec.bootstrapImage),
    masterImage: optionalString('masterImage', spec.masterImage),
    network: checkString(
      'network',
      spec.network ?? DEFAULT_FOREIGN_NETWORK,
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
    ),
    port: checkPort('port', spec.port ?? DEFAULT_FOREIGN_PORT),
    stateDir: checkString('stateDir', spec.stateDir),
    cwd: checkString('cwd', spec.cwd ?? process.cwd()),
    isolate: spec.isolate ?? 'auto',
    faults: spec.faults ?? true,
    block: checkInteger('block', spec.block ?? 0, 0, 255),
    runsDir: optionalString('runsDir', spec.runsDir),
    dashboardPort:
      spec.dashboardPort === undefined ? undefined : checkPort('dashboardPort', spec.dashboardPort),
    readyTimeoutMs: checkInteger('readyTimeoutMs', spec.readyTimeoutMs ?? 20_000, 0, 600_000),
  }
  if (r.isolate !== true && r.isolate !== false && r.isolate !== 'auto')
    throw new InvalidArgumentError('isolate must be true, false or "auto"', 'isolate')
  if (mode === 'process') {
    if (r.nodes > 0 && !r.node)
      throw new InvalidArgumentError('give the nodes\' command (--node "<command>")', 'node')
    if (!r.node && !r.bootstrap && !r.master)
      throw new InvalidArgumentError('nothing to run: give --node, --bootstrap or --master', 'node')
  } else {
    if (r.nodes > 0 && !r.nodeImage)
      throw new InvalidArgumentError('docker mode needs --node-image', 'nodeImage')
    if (r.bootstrap && !r.bootstrapImage && !r.nodeImage)
      throw new InvalidArgumentError(
        'docker mode needs --bootstrap-image (or --node-image)',
        'bootstrapImage',
      )
    if (r.master && !r.masterImage && !r.nodeImage)
      throw new InvalidArgumentError('docker mode needs --master-image (or --node-image)', 'masterImage')
  }
  if (mode === 'docker' && spec.bootstrapImage && !spec.bootstrap) r.bootstrap = ''
  if (mode === 'docker' && spec.masterImage && !spec.master) r.master = ''
  return r
}

/** The values one instance's placeholders stand for. */
export interface PlaceholderValues {
  host: string
  port: number
  name: string
  index: number
  /** The bootstrap's URL, or '' without one. */
  bootstrap: string
  /** The master's host:port, or '' without one. */
  master: string
  /** Comma-separated URLs of the other instances. */
  peers: string
}

const PLACEHOLDER = /\{(host|port|name|index|bootstrap|master|peers)\}/g

/** Replaces {host}, {port}, {name}, {index}, {bootstrap}, {master}, {peers}; other braces stay. */
export function expand(text: string, v: PlaceholderValues): string {
  return text.replace(PLACEHOLDER, (_, key: keyof PlaceholderValues) => String(v[key]))
}

/** The DISTLAB_* variables every instance gets, then its role's --env values, expanded. */
export function instanceEnv(v: PlaceholderValues, extra: ReadonlyMap<string, string>): Map<string, string> {
  const env = new Map<string, string>([
    ['DISTLAB_HOST', v.host],
    ['DISTLAB_PORT', String(v.port)],
    ['DISTLAB_NAME', v.name],
    ['DISTLAB_INDEX', String(v.index)],
    ['DISTLAB_BOOTSTRAP', v.bootstrap],
    ['DISTLAB_MASTER', v.master],
    ['DISTLAB_PEERS', v.peers],
  ])
  for (const [k, val] of extra) env.set(k, expand(val, v))
  return env
}
