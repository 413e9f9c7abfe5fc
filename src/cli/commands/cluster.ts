// `distlab up`, `down`, `status`, `logs`: the local cluster's life cycle.
import type { Command } from 'commander'
import { openSync, readFileSync, existsSync, readdirSync, statSync, closeSync, readSync } from 'node:fs'
import { join } from 'node:path'
import {
  isAlive,
  logDir,
  nodeUrl,
  readCluster,
  findNode,
  removeCluster,
  requireCluster,
  unknownNodeError,
  isContainerRecord,
  isForeignRecord,
  type ClusterRecord,
} from '../../cluster/state.js'
import type { KillSignal } from '../../core/cluster-controls.js'
import { waitAddressesFree, planCluster } from '../../cluster/plan.js'
import { ClusterError, InvalidArgumentError } from '../../core/errors.js'
import {
  cliName,
  color,
  colorFor,
  formatDuration,
  hint,
  openInBrowser,
  printJson,
  printTable,
} from '../output.js'
import { stateDirOf, intFlag } from '../context.js'
import type { Member } from '../../node/node.js'
import { readDashboardRecord } from '../../monitor/dashboard-record.js'
import { bearerHeaders, Keyring, KEY_ENV, readClusterKey } from '../../core/auth.js'
import { nodeIndex } from '../../core/ids.js'
import { NodeClient } from '../../client/node-client.js'
import { membershipFlags } from '../../protocols/membership/options.js'
import { addMembershipFlags, membershipFromCli, type MembershipFlags } from '../membership-flags.js'

interface UpOptions extends MembershipFlags {
  nodes: number
  mode: string
  detach?: boolean
  block: number
  json?: boolean
  key?: string
  open?: boolean
  dashboardPort: number
}

/** The key `up` starts the cluster with: --key, else $DISTLAB_KEY; checked before anything starts. */
function upKey(o: UpOptions): string | undefined {
  const key = o.key || process.env[KEY_ENV] || undefined
  if (key !== undefined) new Keyring(key) // throws a clear KeyError (exit 2) for a bad key
  return key
}

function trustNote(key: string | undefined): string {
  if (key === undefined)
    return color.yellow(
      hint(
        `the cluster is open: no key, so anyone who can reach these addresses can send frames and call the APIs; ` +
          `\`distlab up --key <secret>\` (or ${KEY_ENV}) authenticates frames and guards the APIs\n`,
      ),
    )
  return hint(
    `cluster key ${new Keyring(key).current.id}: frames authenticated, replays refused; API changes need \`Authorization: Bearer $(distlab token)\`\n`,
  )
}

function printCluster(c: {
  nodes: Array<{ name: string; id?: string; host: string; httpPort: number; framePort: number; pid?: number }>
}): void {
  printTable(
    ['NAME', 'ID', 'ADDRESS', 'HTTP', 'FRAMES (UDP+TCP)', 'PID'],
    c.nodes.map((n) => [
      n.name,
      n.id ?? '?',
      n.host,
      `http://${n.host}:${n.httpPort}`,
      `${n.host}:${n.framePort}`,
      n.pid ?? '',
    ]),
  )
}

async function upForeground(cmd: Command, o: UpOptions): Promise<void> {
  const dir = stateDirOf(cmd)
  const width = Math.max(6, `node${o.nodes}`.length)
  const supervised = process.env.DISTLAB_SUPERVISED === '1'
  const { LocalCluster } = await import('../../cluster/local.js')
  const cluster = new LocalCluster({
    nodes: o.nodes,
    mode: o.mode as 'process' | 'inproc',
    stateDir: dir,
    block: o.block,
    key: upKey(o),
    membership: membershipFromCli(o),
    dashboardPort: o.dashboardPort,
    // Detached, the supervisor's own output is a file: the per-node logs already hold every line.
    onLine: supervised
      ? undefined
      : (name, line) => {
          const i = name === 'master' ? 0 : Number(name.replace('node', ''))
          process.stdout.write(`${colorFor(i)(name.padEnd(width))} | ${line}\n`)
        },
  })
  let stopping: Promise<void> | undefined
  const stop = (why: string) => {
    stopping ??= (async () => {
      process.stdout.write(`\n${why}: stopping ${o.nodes + 1} processes...\n`)
      await cluster.stop()
      process.stdout.write('stopped; nothing left running\n')
      process.exit(0)
    })()
  }
  process.on('SIGINT', () => stop('Ctrl-C'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  await cluster.start()
  if (cluster.addressPlan === 'shared')
    process.stdout.write(
      color.yellow(
        'note: this system does not route 127.0.x.y to loopback; every node uses 127.0.0.1 with its own ports\n',
      ),
    )
  if (o.json) printJson({ mode: cluster.mode, stateDir: dir, keyed: cluster.keyed, nodes: cluster.list() })
  else {
    printCluster({ nodes: cluster.list() })
    printDashboard(dir, o.open)
    process.stdout.write(trustNote(upKey(o)))
    process.stdout.write(
      `\n${color.bold(`master + ${o.nodes} nodes up`)} (${cluster.mode} mode). Try:\n` +
        `  curl ${nodeUrl(cluster.list()[Math.min(2, o.nodes)]!)}/\n` +
        `  ${cliName()} status    ${cliName()} monitor    ${cliName()} logs node2\n` +
        (supervised ? '' : 'Logs follow; Ctrl-C stops the cluster.\n\n'),
    )
  }
}

/** A container cluster's dashboard (published on loopback by `up`), in the dashboard record's shape. */
function containerDashboard(dir: string): { url: string; runId?: string } | undefined {
  const rec = readCluster(dir) as unknown
  if (!isContainerRecord(rec) || !rec.docker.dashboardUrl) return undefined
  return { url: rec.docker.dashboardUrl }
}

function printDashboard(dir: string, open = false): void {
  const dash = readDashboardRecord(dir) ?? containerDashboard(dir)
  if (!dash) return
  // A keyed cluster's dashboard takes actions only from a page that holds the key's token.
  const spec = readClusterKey(dir)
  let url = dash.url
  if (spec) {
    try {
      url = `${dash.url}/#key=${new Keyring(spec).current.token}`
    } catch {
      // an unreadable key: the plain URL, and the page says what it needs
    }
  }
  process.stdout.write(
    hint(
      `\ndashboard: ${color.bold(url)}   ${dash.runId ? `(recording run ${dash.runId}; \`distlab analyze\` after)` : '(`distlab analyze` shows the run after)'}\n`,
    ),
  )
  if (open) process.stdout.write(openInBrowser(url) + '\n')
}

async function upDetached(cmd: Command, o: UpOptions): Promise<void> {
  const dir = stateDirOf(cmd)
  const key = upKey(o)
  const existing = readCluster(dir)
  if (existing && isAlive(existing.supervisorPid))
    throw new ClusterError(
      `a cluster is already running (${existing.nodes.length} nodes, supervisor pid ${existing.supervisorPid}); stop it with \`distlab down\` first`,
    )
  const args = [
    '--state-dir',
    dir,
    'up',
    '--nodes',
    String(o.nodes),
    '--mode',
    o.mode,
    '--block',
    String(o.block),
    '--dashboard-port',
    String(o.dashboardPort),
    // Containers run the lan profile ($DISTLAB_MEMBERSHIP does not reach them).
    ...(o.mode === 'process' || o.mode === 'inproc' ? membershipFlags(membershipFromCli(o)) : []),
  ]
  // Longer than the supervisor's own wait for its nodes (plus 30 s and 0.8 s a node for its own
  // start and for spawning the nodes), so that on a loaded machine the supervisor, not
  // this wait, decides whether the start failed.
  // Containers take longer: image start, compose or a swarm's scheduling, the bootstrap wait.
  const containers = o.mode === 'docker' || o.mode === 'swarm'
  const [{ startDetached }, { localStartTimeoutMs }] = await Promise.all([
    import('../../cluster/detached.js'),
    import('../../cluster/local.js'),
  ])
  const { record: rec, pid } = await startDetached({
    stateDir: dir,
    args,
    // The key goes to the supervisor in its environment, never in argv where `ps` shows it.
    env: { [KEY_ENV]: key ?? '' },
    timeoutMs:
      localStartTimeoutMs(o.nodes + 1) + 30_000 + 800 * o.nodes + (containers ? 150_000 + 1000 * o.nodes : 0),
  })
  if (o.json)
    printJson({
      mode: rec.mode,
      stateDir: dir,
      supervisorPid: rec.supervisorPid,
      keyed: key !== undefined,
      dashboard: (readDashboardRecord(dir) ?? containerDashboard(dir))?.url,
      nodes: rec.nodes,
    })
  else {
    printCluster(rec)
    printDashboard(dir, o.open)
    process.stdout.write(trustNote(key))
    process.stdout.write(
      hint(
        `\n${color.bold(`master + ${o.nodes} nodes up`)} in the background (supervisor pid ${pid}). \`distlab logs --follow\` shows their logs; \`distlab down\` stops them.\n`,
      ),
    )
  }
}

function ownedByDistlab(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('distlab')
  } catch {
    return !existsSync('/proc') // without /proc we trust the record
  }
}

async function down(cmd: Command, o: { json?: boolean }): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = readCluster(dir)
  if (!rec) {
    if (o.json) printJson({ stopped: 0, running: false })
    else process.stdout.write('no cluster is running\n')
    return
  }
  if (isContainerRecord(rec)) return (await import('./deploy.js')).downContainers(cmd, rec, o)
  if (isForeignRecord(rec)) return (await import('./run.js')).downForeign(cmd, rec, o)
  if (isAlive(rec.supervisorPid) && ownedByDistlab(rec.supervisorPid)) {
    process.kill(rec.supervisorPid, 'SIGTERM')
    const deadline = Date.now() + 15_000
    while (isAlive(rec.supervisorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  }
  // Whatever is still alive of what this cluster started (a supervisor killed with -9, say) goes now.
  for (const pid of new Set([rec.supervisorPid, ...rec.nodes.map((n) => n.pid)]))
    if (isAlive(pid) && ownedByDistlab(pid)) process.kill(pid, 'SIGKILL')
  const free = await waitAddressesFree(planCluster(rec.nodes.length - 1, rec.plan, rec.block), 5000)
  removeCluster(dir)
  if (o.json) printJson({ stopped: rec.nodes.length, running: false, portsFree: free })
  else
    process.stdout.write(
      `stopped master and ${rec.nodes.length - 1} nodes${free ? '' : color.yellow(' (some ports are still held by another program)')}\n`,
    )
}

interface StatusRow {
  name: string
  id?: string
  address: string
  state: 'up' | 'dead'
  uptimeMs?: number
  heartbeatAgoMs?: number
  pid: number
}

export async function clusterStatus(
  rec: ClusterRecord,
  auth: Record<string, string> = {},
): Promise<StatusRow[]> {
  let members: Member[] = []
  const master = rec.nodes[0]!
  try {
    const list = await new NodeClient({ url: nodeUrl(master), name: 'the master', headers: auth }).members()
    members = (list.members ?? []) as Member[]
  } catch {
    // the master is down: every heartbeat is unknown
  }
  return Promise.all(
    rec.nodes.map(async (n): Promise<StatusRow> => {
      const row: StatusRow = { name: n.name, id: n.id, address: n.host, state: 'dead', pid: n.pid }
      try {
        // A dead node refuses at once; a live one on a loaded machine may take seconds to answer.
        const h = await new NodeClient({ url: nodeUrl(n), name: n.name }).health()
        row.state = 'up'
        row.id = h.id
        row.uptimeMs = h.uptimeMs
      } catch {
        // no answer: dead
      }
      const m = members.find((x) => x.name === n.name)
      if (m?.lastSeen && n.name !== 'master') row.heartbeatAgoMs = Math.max(0, Date.now() - m.lastSeen)
      return row
    }),
  )
}

async function status(cmd: Command, o: { json?: boolean }): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  if (isForeignRecord(rec)) return (await import('./run.js')).statusForeign(stateDirOf(cmd), rec, o)
  const rows = await clusterStatus(rec, bearerHeaders(stateDirOf(cmd)))
  const dead = rows.filter((r) => r.state === 'dead').length
  if (o.json) printJson({ mode: rec.mode, startedAt: rec.startedAt, nodes: rows })
  else {
    printTable(
      ['NAME', 'ID', 'ADDRESS', 'STATE', 'UPTIME', 'LAST HEARTBEAT'],
      rows.map((r) => [
        r.name,
        r.id ?? '?',
        r.address,
        r.state === 'up' ? color.green('up') : color.red('dead'),
        r.uptimeMs === undefined ? '-' : formatDuration(r.uptimeMs),
        r.name === 'master'
          ? '-'
          : r.heartbeatAgoMs === undefined
            ? '-'
            : `${formatDuration(r.heartbeatAgoMs)} ago`,
      ]),
    )
    process.stdout.write(
      `${rows.length - dead} up, ${dead} dead (${rec.mode} mode, started ${new Date(rec.startedAt).toLocaleTimeString()})\n`,
    )
  }
  if (dead > 0) process.exitCode = 1
}

function readTail(file: string, lines: number): string[] {
  const all = readFileSync(file, 'utf8').split('\n')
  if (all.at(-1) === '') all.pop()
  return lines > 0 ? all.slice(-lines) : all
}

async function logs(
  cmd: Command,
  name: string | undefined,
  o: { follow?: boolean; lines: number },
): Promise<void> {
  const dir = logDir(stateDirOf(cmd))
  if (!existsSync(dir)) throw new ClusterError(`no logs in ${dir}; start a cluster with \`distlab up\``)
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => f.slice(0, -4))
    .sort((a, b) => (nodeIndex(a) ?? -1) - (nodeIndex(b) ?? -1) || a.localeCompare(b))
  if (name && !names.includes(name)) throw unknownNodeError(name, names)
  const chosen = name ? [name] : names
  const width = Math.max(...chosen.map((n) => n.length))
  const prefix = (n: string) => (name ? '' : `${colorFor(nodeIndex(n) ?? 1)(n.padEnd(width))} | `)
  // Interleave by the timestamp each line starts with.
  const merged = chosen.flatMap((n) => readTail(join(dir, `${n}.log`), o.lines).map((l) => ({ n, l })))
  if (!name)
    merged.sort((a, b) =>
      a.l.slice(0, 24) < b.l.slice(0, 24) ? -1 : a.l.slice(0, 24) > b.l.slice(0, 24) ? 1 : 0,
    )
  const shown = o.lines > 0 && !name ? merged.slice(-o.lines) : merged
  for (const { n, l } of shown) process.stdout.write(`${prefix(n)}${l}\n`)
  if (!o.follow) return
  const offsets = new Map(chosen.map((n) => [n, statSync(join(dir, `${n}.log`)).size]))
  const partial = new Map<string, string>()
  for (;;) {
    await new Promise((r) => setTimeout(r, 200))
    for (const n of chosen) {
      const file = join(dir, `${n}.log`)
      if (!existsSync(file)) continue
      const size = statSync(file).size
      let from = offsets.get(n) ?? 0
      if (size < from) from = 0 // a new cluster started: the file was rewritten
      if (size === from) continue
      const fd = openSync(file, 'r')
      const buf = Buffer.alloc(size - from)
      readSync(fd, buf, 0, buf.length, from)
      closeSync(fd)
      offsets.set(n, size)
      const text = (partial.get(n) ?? '') + buf.toString('utf8')
      const parts = text.split('\n')
      partial.set(n, parts.pop() ?? '')
      for (const l of parts) process.stdout.write(`${prefix(n)}${l}\n`)
    }
  }
}

/** `distlab kill` and `restart`: through the Launcher attached to the running cluster, any mode. */
async function control(
  cmd: Command,
  name: string,
  action: 'kill' | 'restart',
  o: { signal?: string; json?: boolean },
): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  if (o.signal && o.signal !== 'SIGKILL' && o.signal !== 'SIGTERM')
    throw new InvalidArgumentError(`--signal must be SIGKILL or SIGTERM, got ${o.signal}`)
  findNode(rec, name)
  const signal = (o.signal ?? 'SIGKILL') as KillSignal
  if (isForeignRecord(rec))
    // A cluster of `distlab run`: its supervisor holds the instances, whatever their kind.
    await (
      await import('./run.js')
    ).callSupervisor(
      dir,
      rec,
      'POST',
      `/nodes/${encodeURIComponent(name)}/${action}`,
      action === 'kill' ? { signal } : {},
      60_000,
    )
  else {
    const launcher = (await import('../../cluster/attach.js')).attachLauncher(dir)
    if (action === 'kill') await launcher.kill(name, signal)
    else await launcher.restart(name)
  }
  if (o.json) printJson({ name, action, running: action === 'restart', mode: rec.mode })
  else process.stdout.write(action === 'kill' ? `${name} killed (${signal})\n` : `${name} restarted\n`)
}

export function registerClusterCommands(program: Command): void {
  registerControlCommands(program)
  registerUp(program)
  registerInspectCommands(program)
}

/** `kill` and `restart`. */
function registerControlCommands(program: Command): void {
  program
    .command('kill <name>')
    .description(
      'stop one node abruptly (kill -9 by default; `docker kill` in docker mode); it stays down until `distlab restart`',
    )
    .option('--signal <signal>', 'SIGKILL or SIGTERM', 'SIGKILL')
    .option('--json', 'print the result as JSON')
    .action((name: string, o, cmd: Command) => control(cmd, name, 'kill', o))
  program
    .command('restart <name>')
    .description(
      'start a node again under the same name (it gets a new id; a container may get a new address, the record follows)',
    )
    .option('--json', 'print the result as JSON')
    .action((name: string, o, cmd: Command) => control(cmd, name, 'restart', o))
}

function registerUp(program: Command): void {
  addMembershipFlags(program.command('up'))
    .description('start the master and N nodes on this machine, each on its own loopback address')
    .addOption(intFlag('-n, --nodes <n>', 'number of nodes besides the master', [1, 64_000], 4))
    .option(
      '--mode <mode>',
      'process (one process per node), inproc (all in this process), docker (compose containers) or swarm',
      'process',
    )
    .option('-d, --detach', 'start in the background and return')
    .addOption(
      intFlag(
        '--block <n>',
        'second octet of every address (127.<n>.x.y), to run a second cluster beside the first',
        [0, 255],
        0,
      ),
    )
    .option('--json', 'print the cluster as one JSON object')
    .option('--open', "open the dashboard in a browser (the platform's opener: xdg-open, open or start)")
    .addOption(
      intFlag(
        '--dashboard-port <port>',
        "port of the dashboard on 127.0.0.1 (docker and swarm modes publish the master container's dashboard there)",
        [1, 65535],
        8080,
      ),
    )
    .option(
      '--key <secret>',
      `cluster key (secret, or id:secret,id:secret to rotate): authenticate frames, guard the APIs (or $${KEY_ENV})`,
    )
    .action(async (o: UpOptions, cmd: Command) => {
      if ((o.mode === 'docker' || o.mode === 'swarm') && (o.membershipProfile || o.membershipOption))
        throw new InvalidArgumentError(
          `--membership-profile and --membership-option are for --mode process or inproc; containers run the lan profile`,
          '--membership-profile',
        )
      if (o.mode === 'docker' || o.mode === 'swarm')
        return o.detach ? upDetached(cmd, o) : (await import('./deploy.js')).upContainers(cmd, o)
      if (o.mode !== 'process' && o.mode !== 'inproc')
        throw new InvalidArgumentError(`--mode must be process, inproc, docker or swarm, got ${o.mode}`)
      return o.detach ? upDetached(cmd, o) : upForeground(cmd, o)
    })
}

/** `token`, `down`, `status`, `logs`. */
function registerInspectCommands(program: Command): void {
  program
    .command('token')
    .description(
      'print the bearer token of the cluster\'s key, for curl: -H "Authorization: Bearer $(distlab token)"',
    )
    .option('--json', 'print {keyId, token}')
    .action((o: { json?: boolean }, cmd: Command) => {
      const spec = readClusterKey(stateDirOf(cmd))
      if (!spec)
        throw new ClusterError(`the cluster has no key (no ${KEY_ENV}, no key file); its APIs are open`)
      const k = new Keyring(spec).current
      if (o.json) printJson({ keyId: k.id, token: k.token })
      else process.stdout.write(`${k.token}\n`)
    })

  program
    .command('down')
    .description('stop the local cluster; nothing is left running and every port is freed')
    .option('--json', 'print the result as JSON')
    .action((o, cmd: Command) => down(cmd, o))

  program
    .command('status')
    .description('name, id, address, state and uptime of every node; dead nodes marked (exit 1 if any)')
    .option('--json', 'print {mode, startedAt, nodes: [...]}')
    .action((o, cmd: Command) => status(cmd, o))

  program
    .command('logs [name]')
    .description("print the nodes' logs (one node's, or all interleaved by time)")
    .option('-f, --follow', 'keep printing new lines')
    .addOption(intFlag('-n, --lines <n>', 'only the last n lines (0: all)', [0], 0))
    .action((name: string | undefined, o, cmd: Command) => logs(cmd, name, o))
}
