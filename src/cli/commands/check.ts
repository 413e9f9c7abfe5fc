// `distlab check <seed>`: a seed's handout as an executable rubric against the student's own
// programs. One subcommand per seed; each prints one line per rubric item (PASS/FAIL, what was
// checked, the evidence), a total, and exits 0 only when every required item passed.
import type { Command } from 'commander'
import { InvalidArgumentError } from '../../core/errors.js'
import { parseDuration } from '../../core/options.js'
import { runRubric, type ItemResult, type RubricReport, type SeedRubric } from '../../check/rubric.js'
import { killAllStudentProcesses } from '../../check/process.js'
import { removeLiveContainersSync } from '../../check/seed000-docker.js'
import { SEED000, resolveSeed000Options, type Seed000Options } from '../../check/seed000.js'
import { SEED001, seed001ItemsFor, type Seed001Options } from '../../check/seed001.js'
import { SEED002, type Seed002Options } from '../../check/seed002.js'
import { SEED003, resolveSeed003Options, seed003ItemsFor, type Seed003Options } from '../../check/seed003.js'
import { SEED004, type Seed004Options } from '../../check/seed004.js'
import { color, formatDuration, printJson } from '../output.js'
import { intFlag, numberFlag } from '../context.js'
import { DEFAULT_FOREIGN_NETWORK } from '../../foreign/index.js'

interface CommonOptions {
  json?: boolean
  block: number
  only?: string
  cwd?: string
  mode: string
}

/** `--env K=V`, repeatable, into a Map-checked record. */
function collectEnv(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=')
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value.slice(0, eq)))
    throw new InvalidArgumentError(`--env takes NAME=VALUE, got ${JSON.stringify(value)}`, '--env')
  const out = new Map(Object.entries(previous))
  out.set(value.slice(0, eq), value.slice(eq + 1))
  return Object.fromEntries(out)
}

function durationMs(flag: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseDuration(flag, text)
}

function printItem(r: ItemResult): void {
  const verdict = r.passed ? color.green('PASS') : r.required ? color.red('FAIL') : color.yellow('FAIL')
  const optional = r.required ? '' : color.dim(' (optional)')
  process.stdout.write(
    `${verdict}  ${color.bold(r.id)}  ${r.title}${optional} ${color.dim(formatDuration(r.ms))}\n`,
  )
  for (const e of r.evidence) process.stdout.write(`        ${color.dim(e)}\n`)
}

function printTotal(r: RubricReport): void {
  const verdict = r.ok ? color.green('PASS') : color.red('FAIL')
  process.stdout.write(
    `\n${r.seed}: ${r.passed}/${r.total} items passed, required ${r.requiredPassed}/${r.required}: ${verdict}\n`,
  )
}

async function runCheck<O, C>(
  rubric: SeedRubric<O, C>,
  options: O,
  common: CommonOptions,
  defaultOnly?: string[],
  modes: readonly string[] = ['process'],
): Promise<void> {
  if (!modes.includes(common.mode))
    throw new InvalidArgumentError(
      `--mode ${common.mode} is not available for ${rubric.seed}; use --mode ${modes.join(' or ')}`,
      '--mode',
    )
  const only =
    common.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? defaultOnly
  for (const id of only ?? [])
    if (!rubric.items.some((i) => i.id === id))
      throw new InvalidArgumentError(
        `--only: ${rubric.seed} has no item ${JSON.stringify(id)} (items: ${rubric.items.map((i) => i.id).join(', ')})`,
        '--only',
      )
  if (!common.json) process.stdout.write(`${color.bold(rubric.seed)}: ${rubric.title}\n\n`)
  // Interrupted (Ctrl-C, or a test's timeout sending SIGTERM): the programs' process groups go too.
  const interrupted = (sig: NodeJS.Signals) => {
    const n = killAllStudentProcesses()
    removeLiveContainersSync() // what a killed `docker run -i` client leaves running (seed000 --mode docker)
    process.stderr.write(`distlab: ${sig}: stopped ${n} program${n === 1 ? '' : 's'} of the check\n`)
    process.exit(1)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  const report = await runRubric(rubric, options, {
    only,
    onItem: common.json ? undefined : printItem,
    // on stderr in --json mode too: stdout stays one JSON object, and a slow step shows where it is
    onProgress: (line) => process.stderr.write(color.dim(`${line}\n`)),
  })
  if (common.json) printJson(report)
  else printTotal(report)
  process.exitCode = report.ok ? 0 : 1
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print {seed, items: [{id, title, required, passed, evidence}], passed, total, ok}')
    .option(
      '--mode <mode>',
      'process (each program on its own address); seed000 and seed002 also docker (your images as containers on Proj1-distributed-network)',
      'process',
    )
    .addOption(intFlag('--block <n>', 'second octet B of the 127.B.x.y addresses', [0, 255], 0))
    .option('--only <ids>', 'run only these items (comma-separated ids)')
    .option('--cwd <dir>', 'directory the programs run in (default: the current one)')
}

export function registerCheckCommands(program: Command): void {
  const check = program
    .command('check')
    .description(
      "a seed's handout as an executable rubric against your own programs: one PASS/FAIL line per item with evidence, exit 0 only if every required item passes",
    )
  registerSeed000(check)
  registerSeed001(check)
  registerSeed002(check)
  registerSeed003(check)
  registerSeed004(check)
}

function registerSeed000(check: Command): void {
  commonOptions(
    check
      .command('seed000')
      .description(
        "seed 000 (a master and four nodes): your master and node. Every program gets its own address and must listen on {port} (TCP or UDP); the nodes start first, then the master. The check types one line per operation on the master's stdin (--broadcast, --unicast, --multicast templates with {msg}, {to}, {to_host}, {group}, {group_hosts}) and looks for the message in the nodes' output. As root each program runs in a network namespace of its own (10.213.B.x on bridge dlbrB) and the message is also counted on every program's wire (iptables string match): a unicast or multicast must not reach other nodes even if they drop it, and the broadcast's unnecessary traffic is set beside distlab's tree. Commands take {host}, {port}, {name}, {index}, {master} (host:port), {nodes} (the nodes' host:port, comma-separated), {peers}.\n\n" +
          'Example:\n  sudo distlab check seed000 --master "python3 master.py --host {host} --port {port} --nodes {nodes}" \\\n' +
          '    --node "python3 node.py --host {host} --port {port} --name {name}"\n\n' +
          "Docker mode (containers master, node1..nodeN on Proj1-distributed-network, attached so that the master's stdin takes the operations; {host} is the container's name; the wire is counted in each container's namespace):\n" +
          '  sudo distlab check seed000 --mode docker --master-image my-master --node-image my-node',
      )
      .option(
        '--master <command>',
        "your master's command line (reads the operations on stdin; docker mode: overrides the image's)",
      )
      .option('--node <command>', "your node's command line (docker mode: overrides the image's)")
      .option('--master-image <image>', "docker mode: your master's image (default: the node image)")
      .option('--node-image <image>', "docker mode: your node's image")
      .option(
        '--network <name>',
        'docker mode: the network (made if missing, removed after if made)',
        DEFAULT_FOREIGN_NETWORK,
      )
      .addOption(intFlag('--nodes <n>', 'how many nodes', [3, 32], 4))
      .option('--env <K=V>', 'a variable for every node (repeatable; values take placeholders)', collectEnv)
      .option('--master-env <K=V>', 'a variable for the master (repeatable)', collectEnv)
      .addOption(intFlag('--port <n>', 'the port every program listens on', [1, 65535], 5000))
      .option('--broadcast <line>', "the master's stdin line for a broadcast", 'broadcast {msg}')
      .option('--unicast <line>', "the master's stdin line for a unicast", 'unicast {to} {msg}')
      .option('--multicast <line>', "the master's stdin line for a multicast", 'multicast {group} {msg}')
      .option('--unicast-to <node>', 'the node the unicast goes to', 'node2')
      .option('--group <nodes>', 'the multicast group (node names, comma-separated)', 'node1,node3')
      .option('--no-isolate', 'run on loopback addresses even as root (no wire counts)')
      .option('--start-timeout <time>', 'how long a program may take to listen on its port', '20s')
      .option('--deliver-timeout <time>', 'how long a message may take to reach its nodes', '10s'),
  ).action(seed000Action)
}

async function seed000Action(
  o: CommonOptions & {
    master?: string
    node?: string
    masterImage?: string
    nodeImage?: string
    network: string
    nodes: number
    env?: Record<string, string>
    masterEnv?: Record<string, string>
    port: number
    broadcast: string
    unicast: string
    multicast: string
    unicastTo: string
    group: string
    isolate: boolean
    startTimeout: string
    deliverTimeout: string
  },
): Promise<void> {
  if (o.mode !== 'docker' && (o.masterImage || o.nodeImage))
    throw new InvalidArgumentError('--master-image and --node-image need --mode docker', '--mode')
  const options: Seed000Options = {
    master: o.master ?? '',
    node: o.node ?? '',
    mode: o.mode === 'docker' ? 'docker' : 'process',
    masterImage: o.masterImage,
    nodeImage: o.nodeImage,
    network: o.network,
    nodes: o.nodes,
    env: o.env,
    masterEnv: o.masterEnv,
    port: o.port,
    block: o.block,
    cwd: o.cwd,
    broadcast: o.broadcast,
    unicast: o.unicast,
    multicast: o.multicast,
    unicastTo: o.unicastTo,
    group: o.group
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    isolate: o.isolate ? 'auto' : false,
    startTimeoutMs: durationMs('--start-timeout', o.startTimeout),
    deliverTimeoutMs: durationMs('--deliver-timeout', o.deliverTimeout),
  }
  resolveSeed000Options(options)
  await runCheck(SEED000, options, o, undefined, ['process', 'docker'])
}

function registerSeed001(check: Command): void {
  commonOptions(
    check
      .command('seed001')
      .description(
        'seed 001 (anycast and multicast): your TCP server (three replicas on port 5000, each on its own loopback address), your client, your multicast sender and receiver (224.1.1.1:5007, run inside a network namespace of their own: needs root). Only the items of the programs you give run. The client gets {host}:{port} (one replica) and {peers} (all of them as host:port,...).\n\n' +
          'Example:\n  sudo distlab check seed001 --server "python3 server.py --host {host} --port {port}" \\\n' +
          '    --client "python3 client.py --servers {peers}" \\\n' +
          '    --sender "python3 multicast_sender.py" --receiver "python3 multicast_receiver.py"',
      )
      .option('--server <command>', 'your anycast server (items anycast-hello, anycast-failover)')
      .option('--client <command>', 'your anycast client (item anycast-client; needs --server)')
      .option('--sender <command>', 'your multicast sender (item multicast-sender)')
      .option('--receiver <command>', 'your multicast receiver (item multicast-receiver)')
      .addOption(intFlag('--port <n>', 'the port the servers listen on', [1, 65535], 5000)),
  ).action(seed001Action)
}

async function seed001Action(
  o: CommonOptions & {
    server?: string
    client?: string
    sender?: string
    receiver?: string
    port: number
  },
): Promise<void> {
  const options: Seed001Options = {
    server: o.server,
    client: o.client,
    sender: o.sender,
    receiver: o.receiver,
    block: o.block,
    cwd: o.cwd,
    port: o.port,
  }
  if (o.client && !o.server)
    throw new InvalidArgumentError('--client needs --server (the replicas it talks to)', '--client')
  const given = seed001ItemsFor(options)
  if (given.length === 0)
    throw new InvalidArgumentError('give at least one of --server, --sender, --receiver', '--server')
  await runCheck(SEED001, options, o, given)
}

function registerSeed002(check: Command): void {
  commonOptions(
    check
      .command('seed002')
      .description(
        'seed 002 (peer-to-peer): your Flask node and bootstrap. Commands take placeholders {host}, {port}, {name}, {index}, {bootstrap}, {peers} and get DISTLAB_HOST, DISTLAB_PORT, DISTLAB_NAME, DISTLAB_BOOTSTRAP, DISTLAB_PEERS.\n\n' +
          'Example:\n  distlab check seed002 --bootstrap "python3 bootstrap.py --host {host} --port {port}" \\\n' +
          '    --node "python3 node.py --host {host} --port {port} --bootstrap {bootstrap}" --nodes 20\n\n' +
          "Docker mode (containers bootstrap, node1..nodeN on Proj1-distributed-network, through distlab run; the lossy item uses distlab's relays between the containers):\n" +
          '  distlab check seed002 --mode docker --bootstrap-image my-bootstrap --node-image my-node',
      )
      .option('--node <command>', "your node's command line (docker mode: overrides the image's command)")
      .option('--bootstrap <command>', "your bootstrap's command line (docker mode: overrides the image's)")
      .option('--node-image <image>', "docker mode: your node's image")
      .option('--bootstrap-image <image>', "docker mode: your bootstrap's image")
      .addOption(
        intFlag('--nodes <n>', 'how many nodes (the handout asks for dozens: 20 or more)', [2, 200], 4),
      )
      .option('--env <K=V>', 'a variable for every node (repeatable; values take placeholders)', collectEnv)
      .option('--bootstrap-env <K=V>', 'a variable for the bootstrap (repeatable)', collectEnv)
      .addOption(intFlag('--port <n>', 'the port every program listens on', [1, 65535], 5000))
      .option('--start-timeout <time>', 'how long a program may take to answer HTTP', '20s')
      .option('--discovery-timeout <time>', 'how long registration and discovery may take to settle', '30s'),
  ).action(seed002Action)
}

async function seed002Action(
  o: CommonOptions & {
    node?: string
    bootstrap?: string
    nodeImage?: string
    bootstrapImage?: string
    nodes: number
    env?: Record<string, string>
    bootstrapEnv?: Record<string, string>
    port: number
    startTimeout: string
    discoveryTimeout: string
  },
): Promise<void> {
  if (o.mode === 'docker') {
    if (!o.nodeImage) throw new InvalidArgumentError('--mode docker needs --node-image', '--node-image')
    if (!o.bootstrapImage)
      throw new InvalidArgumentError('--mode docker needs --bootstrap-image', '--bootstrap-image')
  } else {
    if (!o.node) throw new InvalidArgumentError('give --node "<command>"', '--node')
    if (!o.bootstrap) throw new InvalidArgumentError('give --bootstrap "<command>"', '--bootstrap')
  }
  const options: Seed002Options = {
    mode: o.mode === 'docker' ? 'docker' : 'process',
    nodeImage: o.nodeImage,
    bootstrapImage: o.bootstrapImage,
    node: o.node ?? '',
    bootstrap: o.bootstrap ?? '',
    nodes: o.nodes,
    env: o.env,
    bootstrapEnv: o.bootstrapEnv,
    block: o.block,
    cwd: o.cwd,
    port: o.port,
    startTimeoutMs: durationMs('--start-timeout', o.startTimeout),
    discoveryTimeoutMs: durationMs('--discovery-timeout', o.discoveryTimeout),
    onProgress: (line) => process.stderr.write(color.dim(`${line}\n`)),
  }
  await runCheck(SEED002, options, o, undefined, ['process', 'docker'])
}

function registerSeed003(check: Command): void {
  commonOptions(
    check
      .command('seed003')
      .description(
        "seed 003 (cooperating clients): your client (and master, if your design has one) against distlab's line server (the course protocol: SENDLINE, SUBMIT; --rate lines/s per client address; --lines lines). Each program runs at an address of its own: as root in a network namespace of its own (10.213.B.x; the server at 10.213.B.1), otherwise on 127.B.x.y, where your client must bind its socket to {host}. The master starts first and must listen on {port}; then the clients. Commands take {host}, {port}, {name}, {index} (client i), {master} (host:port), {server} (host:port), {server_host}, {server_port}, {lines}, {clients}, {peers} (the other clients' host:port), and get DISTLAB_SERVER, DISTLAB_LINES, DISTLAB_CLIENTS. A run ends at the first SUBMIT the server gets. Items: submit, addresses, speedup (runs with 1, 2, 3, 4 clients: a table and a PNG/SVG plot), failover (with --expect-failover: the master is killed mid-run).\n\n" +
          'Example:\n  sudo distlab check seed003 --master "python3 master.py --host {host} --port {port}" \\\n' +
          '    --client "python3 client.py --host {host} --server {server} --master {master} --lines {lines} --index {index}" --expect-failover',
      )
      .requiredOption('--client <command>', "your client's command line")
      .option('--master <command>', "your master's command line, if your design has one")
      .addOption(intFlag('--clients <n>', 'clients in the submit and failover runs', [1, 32], 4))
      .addOption(intFlag('--lines <n>', "lines of the text (the handout's: 1000)", [10, 100_000], 1000))
      .addOption(
        numberFlag(
          '--rate <n>',
          "lines per second per client address (the handout's: 100)",
          [0.001, 100_000],
          100,
        ),
      )
      .option('--expect-failover', 'kill the master mid-run and expect a correct submission still')
      .option('--plot <file.png>', 'where the speedup plot goes (and the .svg beside it)')
      .option('--env <K=V>', 'a variable for every client (repeatable; values take placeholders)', collectEnv)
      .option('--master-env <K=V>', 'a variable for the master (repeatable)', collectEnv)
      .addOption(intFlag('--port <n>', 'the port the master listens on', [1, 65535], 5000))
      .addOption(intFlag('--server-port <n>', "the line server's port", [1, 65535], 9801))
      .option('--no-isolate', 'run on loopback addresses even as root')
      .option('--timeout <time>', 'how long one download may take (default: 20 s + 3 × one client alone)'),
  ).action(seed003Action)
}

async function seed003Action(
  o: CommonOptions & {
    client: string
    master?: string
    clients: number
    lines: number
    rate: number
    expectFailover?: boolean
    plot?: string
    env?: Record<string, string>
    masterEnv?: Record<string, string>
    port: number
    serverPort: number
    isolate: boolean
    timeout?: string
  },
): Promise<void> {
  const options: Seed003Options = {
    client: o.client,
    master: o.master,
    clients: o.clients,
    lines: o.lines,
    rate: o.rate,
    expectFailover: o.expectFailover === true,
    plot: o.plot,
    env: o.env,
    masterEnv: o.masterEnv,
    port: o.port,
    serverPort: o.serverPort,
    block: o.block,
    cwd: o.cwd,
    isolate: o.isolate ? 'auto' : false,
    timeoutMs: durationMs('--timeout', o.timeout),
  }
  resolveSeed003Options(options)
  await runCheck(SEED003, options, o, seed003ItemsFor(options))
}

function registerSeed004(check: Command): void {
  commonOptions(
    check
      .command('seed004')
      .description(
        "seed 004 (Go-Back-N and distance vector): your gbnnode, dvnode and cnnode. Give each as a command prefix; the handout's arguments are appended (`<self-port> <peer-port> <window> -d <n>`, `<port> <neighbor> <cost> ... [last]`, `<port> receive ... send ... [last]`) with free UDP ports on 127.0.0.1. Only the items of the programs you give run.\n\n" +
          'Example:\n  distlab check seed004 --gbnnode "python3 gbnnode.py" --dvnode "python3 dvnode.py" --cnnode "python3 cnnode.py"',
      )
      .option('--gbnnode <command>', 'your gbnnode (items gbn-deterministic, gbn-probabilistic, gbn-lines)')
      .option('--dvnode <command>', 'your dvnode (items dv-routes, dv-lines)')
      .option('--cnnode <command>', 'your cnnode (item cn-loss)')
      .option(
        '--dv-topology <file>',
        "dv topology (YAML, as `distlab topology run` reads; default: the handout's four nodes)",
      )
      .option('--cn-topology <file>', "cn topology (default: the handout's four nodes)")
      .option('--gbn-timeout <time>', 'how long one gbn transfer may take', '40s')
      .option('--cn-time <time>', 'how long the cnnodes probe before their loss rates are read', '10s')
      .addOption(
        numberFlag(
          '--cn-tolerance <x>',
          'largest accepted |reported - configured| loss rate (widened to 4 standard errors on a link with few probes)',
          [0, 1],
          0.15,
        ),
      ),
  ).action(seed004Action)
}

async function seed004Action(
  o: CommonOptions & {
    gbnnode?: string
    dvnode?: string
    cnnode?: string
    dvTopology?: string
    cnTopology?: string
    gbnTimeout: string
    cnTime: string
    cnTolerance: number
  },
): Promise<void> {
  if (!o.gbnnode && !o.dvnode && !o.cnnode)
    throw new InvalidArgumentError('give at least one of --gbnnode, --dvnode, --cnnode', '--gbnnode')
  const options: Seed004Options = {
    gbnnode: o.gbnnode,
    dvnode: o.dvnode,
    cnnode: o.cnnode,
    dvTopology: o.dvTopology,
    cnTopology: o.cnTopology,
    cwd: o.cwd,
    gbnTimeoutMs: durationMs('--gbn-timeout', o.gbnTimeout),
    cnRunMs: durationMs('--cn-time', o.cnTime),
    cnTolerance: o.cnTolerance,
  }
  const given = SEED004.items
    .map((i) => i.id)
    .filter((id) => (id.startsWith('gbn') ? o.gbnnode : id.startsWith('dv') ? o.dvnode : o.cnnode))
  await runCheck(SEED004, options, o, given)
}
