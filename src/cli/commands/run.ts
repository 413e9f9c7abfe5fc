// `distlab run`: any program as a cluster member (the student's own nodes, bootstrap and master),
// and what `status`, `down`, `pause`, `resume` and the link commands do on such a cluster.
import type { Command } from 'commander'
import { ForeignCluster, cleanupForeign, parseEnvPairs, MAX_FOREIGN_NODES } from '../../foreign/index.js'
import { startDetached } from '../../cluster/detached.js'
import {
  isAlive,
  readCluster,
  readControlToken,
  removeCluster,
  removeControlToken,
  requireCluster,
  type ClusterRecord,
  isForeignRecord,
} from '../../cluster/state.js'
import { ClusterError, InvalidArgumentError } from '../../core/errors.js'
import { nodeIndex } from '../../core/ids.js'
import { color, colorFor, printJson, printTable } from '../output.js'
import { callNode, stateDirOf, intFlag } from '../context.js'

interface RunOptions {
  node?: string
  nodes: number
  bootstrap?: string
  master?: string
  env: string[]
  bootstrapEnv: string[]
  masterEnv: string[]
  mode: string
  nodeImage?: string
  bootstrapImage?: string
  masterImage?: string
  network?: string
  port: number
  block: number
  isolate?: boolean
  faults?: boolean
  readyTimeout: number
  dashboardPort?: number
  detach?: boolean
  json?: boolean
}

const collect = (v: string, prev: string[] = []) => [...prev, v]

/** Calls the supervisor of a `distlab run` cluster with the run's control token. */
export async function callSupervisor<T = unknown>(
  dir: string,
  rec: ClusterRecord,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<T> {
  if (!rec.controlUrl) throw new ClusterError('this cluster has no control API')
  const token = readControlToken(dir)
  if (!token)
    throw new ClusterError(
      `cannot read the control token in ${dir} (control.token): run this as the user who started the cluster`,
    )
  return callNode<T>(rec.controlUrl, method, path, body, timeoutMs, { authorization: `Bearer ${token}` })
}

function prefixColor(name: string): (s: string) => string {
  return colorFor(nodeIndex(name) ?? (name === 'bootstrap' ? 1 : 0))
}

function specOf(cmd: Command, o: RunOptions) {
  if (o.mode !== 'process' && o.mode !== 'docker')
    throw new InvalidArgumentError(`--mode must be process or docker, got ${o.mode}`, '--mode')
  return {
    node: o.node,
    nodes: o.nodes,
    bootstrap: o.bootstrap,
    master: o.master,
    env: parseEnvPairs('--env', o.env),
    bootstrapEnv: parseEnvPairs('--bootstrap-env', o.bootstrapEnv),
    masterEnv: parseEnvPairs('--master-env', o.masterEnv),
    mode: o.mode as 'process' | 'docker',
    nodeImage: o.nodeImage,
    bootstrapImage: o.bootstrapImage,
    masterImage: o.masterImage,
    network: o.network,
    port: o.port,
    block: o.block,
    isolate: o.isolate === false ? false : ('auto' as const),
    faults: o.faults !== false,
    readyTimeoutMs: o.readyTimeout,
    dashboardPort: o.dashboardPort,
    stateDir: stateDirOf(cmd),
  }
}

function printInstances(c: {
  instances: Array<{ name: string; host: string; port: number; pid?: number; container?: string }>
}): void {
  printTable(
    ['NAME', 'ADDRESS', 'URL', 'PID', 'CONTAINER'],
    c.instances.map((i) => [i.name, i.host, `http://${i.host}:${i.port}`, i.pid ?? '', i.container ?? '']),
  )
}

async function runForeground(cmd: Command, o: RunOptions): Promise<void> {
  const spec = specOf(cmd, o)
  const supervised = process.env.DISTLAB_SUPERVISED === '1'
  const width = Math.max(9, `node${o.nodes}`.length)
  const cluster = new ForeignCluster(
    spec,
    supervised
      ? undefined
      : (name, line) => process.stdout.write(`${prefixColor(name)(name.padEnd(width))} | ${line}\n`),
  )
  let stopping: Promise<void> | undefined
  const stop = (why: string) => {
    stopping ??= (async () => {
      process.stdout.write(`\n${why}: stopping ${cluster.instances.length} instances...\n`)
      await cluster.stop()
      process.stdout.write('stopped; nothing left running\n')
      process.exit(0)
    })()
  }
  process.on('SIGINT', () => stop('Ctrl-C'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  if (!o.json) process.stdout.write(`starting ${o.mode === 'docker' ? 'containers' : 'processes'}...\n`)
  await cluster.start()
  if (o.json)
    printJson({
      mode: o.mode,
      isolated: cluster.isolated,
      faults: cluster.isolated && spec.faults,
      note: cluster.note,
      runId: cluster.runId,
      dashboard: cluster.dashboardUrl,
      instances: cluster.instances,
    })
  else {
    printInstances(cluster)
    if (cluster.note) process.stdout.write(color.yellow(`note: ${cluster.note}\n`))
    if (cluster.dashboardUrl) process.stdout.write(`dashboard: ${color.bold(cluster.dashboardUrl)}\n`)
    if (cluster.runId)
      process.stdout.write(
        `relays record their traffic as run ${color.bold(cluster.runId)} (\`distlab analyze ${cluster.runId}\`)\n`,
      )
    const some = cluster.instances.at(-1)
    process.stdout.write(
      `\n${color.bold(`${cluster.instances.length} instances up`)}. Try:\n` +
        (some ? `  curl ${some.url}/\n` : '') +
        `  distlab status    distlab logs ${some?.name ?? ''}    distlab link set --all --loss 0.3    distlab down\n` +
        (supervised ? '' : 'Output follows; Ctrl-C stops every instance.\n\n'),
    )
  }
}

async function runDetached(cmd: Command, o: RunOptions): Promise<void> {
  specOf(cmd, o) // bad flags fail here, before anything starts
  const dir = stateDirOf(cmd)
  const existing = readCluster(dir)
  if (existing && isAlive(existing.supervisorPid))
    throw new ClusterError(
      `a cluster is already running (supervisor pid ${existing.supervisorPid}); stop it with \`distlab down\` first`,
    )
  const argv = process.argv.slice(2).filter((a) => a !== '-d' && a !== '--detach')
  const { record: rec, pid } = await startDetached({
    stateDir: dir,
    args: withStateDir(argv, dir),
    timeoutMs: 60_000 + o.readyTimeout + 2000 * o.nodes,
  })
  if (o.json) printJson({ mode: o.mode, supervisorPid: rec.supervisorPid, ...rec.foreign })
  else {
    printInstances({ instances: rec.foreign?.instances ?? [] })
    if (rec.foreign?.note) process.stdout.write(color.yellow(`note: ${rec.foreign.note}\n`))
    if (rec.foreign?.dashboardUrl) process.stdout.write(`dashboard: ${rec.foreign.dashboardUrl}\n`)
    if (rec.foreign?.runId) process.stdout.write(`relays record their traffic as run ${rec.foreign.runId}\n`)
    process.stdout.write(
      `\n${color.bold(`${rec.nodes.length} instances up`)} in the background (supervisor pid ${pid}). \`distlab logs -f\` shows their output; \`distlab down\` stops them.\n`,
    )
  }
}

/** The supervisor gets the state dir explicitly, wherever the user's flag was. */
function withStateDir(argv: string[], dir: string): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--state-dir') {
      i++
      continue
    }
    if (argv[i]!.startsWith('--state-dir=')) continue
    out.push(argv[i]!)
  }
  return ['--state-dir', dir, ...out]
}

/** `distlab down` on a foreign cluster: the supervisor stops everything; then whatever it left goes. */
export async function downForeign(cmd: Command, rec: ClusterRecord, o: { json?: boolean }): Promise<void> {
  const dir = stateDirOf(cmd)
  if (isAlive(rec.supervisorPid)) {
    process.kill(rec.supervisorPid, 'SIGTERM')
    const deadline = Date.now() + 30_000
    while (isAlive(rec.supervisorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    if (isAlive(rec.supervisorPid)) process.kill(rec.supervisorPid, 'SIGKILL')
  }
  const { killed } = await cleanupForeign(dir, rec)
  removeCluster(dir)
  removeControlToken(dir)
  if (o.json) printJson({ stopped: rec.nodes.length, running: false, leftoversKilled: killed })
  else process.stdout.write(`stopped ${rec.nodes.length} instances; nothing left running\n`)
}

interface ForeignNodeView {
  name: string
  host: string
  port: number
  pid?: number
  container?: string
  running: boolean
  paused: boolean
}

/** `distlab status` on a foreign cluster. */
export async function statusForeign(dir: string, rec: ClusterRecord, o: { json?: boolean }): Promise<void> {
  const r = await callSupervisor<{
    nodes: ForeignNodeView[]
    isolated: boolean
    note?: string
    runId?: string
  }>(dir, rec, 'GET', '/nodes')
  const dead = r.nodes.filter((n) => !n.running).length
  if (o.json) printJson({ mode: 'foreign', kind: rec.foreign?.kind, startedAt: rec.startedAt, ...r })
  else {
    printTable(
      ['NAME', 'ADDRESS', 'STATE', 'PID', 'CONTAINER'],
      r.nodes.map((n) => [
        n.name,
        `${n.host}:${n.port}`,
        !n.running ? color.red('dead') : n.paused ? color.yellow('paused') : color.green('up'),
        n.pid ?? '',
        n.container ?? '',
      ]),
    )
    process.stdout.write(
      `${r.nodes.length - dead} up, ${dead} dead (foreign ${rec.foreign?.kind ?? ''} cluster${r.isolated ? ', isolated' : ''}${r.runId ? `, run ${r.runId}` : ''})\n`,
    )
    if (r.note) process.stdout.write(color.yellow(`note: ${r.note}\n`))
  }
  if (dead > 0) process.exitCode = 1
}

async function pauseResume(
  cmd: Command,
  name: string,
  action: 'pause' | 'resume',
  o: { json?: boolean },
): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  if (!isForeignRecord(rec)) throw new ClusterError(`${action} works on clusters started by \`distlab run\``)
  const r = await callSupervisor(dir, rec, 'POST', `/nodes/${encodeURIComponent(name)}/${action}`, {})
  if (o.json) printJson(r)
  else process.stdout.write(`${name} ${action === 'pause' ? 'paused (SIGSTOP)' : 'resumed (SIGCONT)'}\n`)
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description(
      'start any program as cluster members: a bootstrap, a master and N nodes, each on its own address, with faults on their real traffic',
    )
    .option(
      '--node <command>',
      "the nodes' command (placeholders: {host} {port} {name} {index} {bootstrap} {master} {peers})",
    )
    .addOption(intFlag('-n, --nodes <n>', 'number of nodes', [0, MAX_FOREIGN_NODES], 4))
    .option('--bootstrap <command>', "the bootstrap's command (its URL is {bootstrap} to the others)")
    .option('--master <command>', "the master's command (its host:port is {master} to the others)")
    .option('--env <K=V>', 'environment of every node (repeatable; values take placeholders)', collect, [])
    .option('--bootstrap-env <K=V>', "the bootstrap's environment (repeatable)", collect, [])
    .option('--master-env <K=V>', "the master's environment (repeatable)", collect, [])
    .option('--mode <mode>', 'process (local processes) or docker (containers)', 'process')
    .option('--node-image <image>', "docker mode: the nodes' image (--node then overrides its command)")
    .option('--bootstrap-image <image>', "docker mode: the bootstrap's image")
    .option('--master-image <image>', "docker mode: the master's image")
    .option('--network <name>', 'docker mode: the network', 'Proj1-distributed-network')
    .addOption(
      intFlag('--port <port>', 'the port each instance is told to listen on ({port})', [1, 65535], 5000),
    )
    .addOption(
      intFlag('--block <n>', 'address block: 127.<n>.x.y, or 10.213.<n>.x in namespaces', [0, 255], 0),
    )
    .option('--no-isolate', 'process mode: no namespaces (no link faults; kill, restart, pause still work)')
    .option('--no-faults', 'no relays: instances talk directly (no link faults, no traffic recorded)')
    .addOption(
      intFlag(
        '--ready-timeout <ms>',
        'how long each instance has to listen on its port (0: do not wait)',
        [0, 600_000],
        20_000,
      ),
    )
    .addOption(
      intFlag(
        '--dashboard-port <port>',
        "the dashboard of the relays' traffic (8080; a free one when taken)",
        [0, 65535],
      ),
    )
    .option('-d, --detach', 'start in the background and return')
    .option('--json', 'print the cluster as one JSON object')
    .addHelpText(
      'after',
      `
Every instance also gets DISTLAB_HOST, DISTLAB_PORT, DISTLAB_NAME, DISTLAB_INDEX, DISTLAB_BOOTSTRAP,
DISTLAB_MASTER and DISTLAB_PEERS in its environment. As root, each process gets a network namespace of
its own (10.213.<block>.x), so \`distlab link set\`, \`partition\` and \`heal\` act on its real traffic
through distlab's relays; without root the instances share loopback (127.<block>.x.y) and only
kill, restart, pause and resume apply.

Examples:
  distlab run --bootstrap "python3 bootstrap.py --port {port}" --node "python3 node.py --port {port} --bootstrap {bootstrap}" --nodes 5
  distlab run --mode docker --node-image p2p-node --bootstrap-image p2p-bootstrap --nodes 3 -d`,
    )
    .action((o: RunOptions, cmd: Command) => (o.detach ? runDetached(cmd, o) : runForeground(cmd, o)))

  program
    .command('pause <name>')
    .description('freeze one instance of a `distlab run` cluster (SIGSTOP, or docker pause)')
    .option('--json', 'print the result as JSON')
    .action((name: string, o: { json?: boolean }, cmd: Command) => pauseResume(cmd, name, 'pause', o))
  program
    .command('resume <name>')
    .description('let a paused instance run again (SIGCONT, or docker unpause)')
    .option('--json', 'print the result as JSON')
    .action((name: string, o: { json?: boolean }, cmd: Command) => pauseResume(cmd, name, 'resume', o))
}
