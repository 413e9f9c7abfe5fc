// `distlab maelstrom test -w <workload> --bin <program>`: run a Maelstrom node program (a Gossip
// Glomers solution, a course lab) unchanged on a distlab cluster, judge it with the workload's
// checker and print a short verdict table. `distlab maelstrom node` is what the launcher runs in
// each node process: a distlab node wrapping one program.
import type { Command } from 'commander'
import { createRootLogger } from '../../core/logger.js'
import { KEY_ENV } from '../../core/auth.js'
import { color, formatDuration, printJson, table } from '../output.js'
import { addListenOptions, intOption, stateDirOf, stopOnSignals, intFlag } from '../context.js'
import { runMaelstromTest, type MaelstromResults } from '../../maelstrom/run.js'
import {
  testInitFromFlags,
  wrapperNodeFromFlags,
  type MaelstromNodeFlags,
  type MaelstromTestFlags,
} from '../../maelstrom/flags.js'
import { CONSISTENCY_MODELS } from '../../maelstrom/checkers/index.js'
import { TOPOLOGIES, WORKLOAD_NAMES } from '../../maelstrom/workloads.js'
import {
  DEFAULT_NEMESIS_INTERVAL_S,
  DEFAULT_NODE_COUNT,
  DEFAULT_RATE,
  DEFAULT_TIME_LIMIT_S,
} from '../../maelstrom/constants.js'

const verdictText = (v: MaelstromResults['valid']) =>
  v === true ? color.green('valid') : v === false ? color.red('INVALID') : color.yellow('unknown')

function printResults(r: MaelstromResults): void {
  const out = process.stdout
  const q = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(1))
  out.write(
    `\n${color.bold(r.workload)}: ${r.opts.nodeCount} nodes (${r.run.mode}), ${r.stats.count} operations in ${formatDuration(r.durationMs)}\n\n`,
  )
  out.write(
    table(
      ['F', 'OK', 'FAIL', 'INFO', 'P50 MS', 'P99 MS', 'MAX MS'],
      Object.entries(r.stats['by-f']).map(([f, s]) => {
        const l = r.latencies[f] ?? {}
        return [f, s['ok-count'], s['fail-count'], s['info-count'], q(l['0.5']), q(l['0.99']), q(l['1'])]
      }),
    ),
  )
  const mpo = (x: number | null) => (x === null ? '-' : x.toFixed(2))
  out.write(
    `\nmsgs-per-op: ${mpo(r.net.all['msgs-per-op'])} all, ${mpo(r.net.servers['msgs-per-op'])} between servers` +
      `   availability: ${r.availability['ok-fraction'] === null ? '-' : r.availability['ok-fraction'].toFixed(3)}` +
      (r.malformed ? `   ${color.yellow(`${r.malformed} malformed lines from the nodes`)}` : '') +
      '\n',
  )
  for (const [kind, examples] of Object.entries(r.workloadResult.anomalies)) {
    const list = Array.isArray(examples) ? examples : [examples]
    out.write(`  ${color.red(kind)}: ${list.length} — ${JSON.stringify(list.slice(0, 3)).slice(0, 300)}\n`)
  }
  if (r.valid === 'unknown' && r.workloadResult.reason) out.write(`  ${r.workloadResult.reason}\n`)
  out.write(
    `\nresults: ${r.run.results}${r.run.id ? `\nrun: ${r.run.id} (distlab analyze ${r.run.id})` : ''}\n`,
  )
  out.write(`verdict: ${verdictText(r.valid)}${r.valid === false ? ` (${r.summary})` : ''}\n`)
}

export function registerMaelstromCommands(program: Command): void {
  const m = program
    .command('maelstrom')
    .description(
      "run Maelstrom node programs (Gossip Glomers solutions) unchanged on a distlab cluster, with Maelstrom's workloads and checkers",
    )
  registerTestCommand(m)
  registerNodeCommand(m)
}

function registerTestCommand(m: Command): void {
  m.command('test')
    .description(
      'run one Maelstrom test: start the nodes, run the workload (and nemesis), check the history, write results.json',
    )
    .option('-w, --workload <name>', `the workload: ${WORKLOAD_NAMES.join(', ')}`)
    .option('--bin <program>', 'the node program: an executable or a command line ("python3 broadcast.py")')
    .addOption(intFlag('--node-count <n>', 'nodes', [1, 1000], DEFAULT_NODE_COUNT))
    .option('--time-limit <s>', 'seconds the clients run', String(DEFAULT_TIME_LIMIT_S))
    .option('--rate <r>', 'operations per second, all clients together', String(DEFAULT_RATE))
    .option('--latency <ms>', 'extra delay on every message, in ms', '0')
    .addOption(intFlag('--concurrency <c>', 'clients (default: the node count)', [1, 10_000]))
    .option('--topology <t>', `broadcast topology: ${TOPOLOGIES.join(', ')}`, 'grid')
    .option('--nemesis <faults>', 'faults to inject while the clients run: partition,kill,pause')
    .option('--nemesis-interval <s>', 'seconds between nemesis actions', String(DEFAULT_NEMESIS_INTERVAL_S))
    .option(
      '--availability <a>',
      "'total' (every operation must succeed) or the share of ok operations required (0..1)",
    )
    .option(
      '--mode <mode>',
      'inproc (distlab nodes in this process), process (one distlab node process per program) or docker (each program in a container)',
      'inproc',
    )
    .option(
      '--image <tag>',
      "docker mode: the image the programs run in (default: one built offline from this machine's python3 and node)",
    )
    .option(
      '--consistency-models <models>',
      `txn workloads: models to check, comma-separated (${CONSISTENCY_MODELS.join(', ')}; default serializable)`,
    )
    .addOption(intFlag('--key-count <n>', 'keys for lin-kv, kafka and the txn workloads', [1, 10_000]))
    .addOption(intFlag('--max-txn-length <n>', 'micro-operations per transaction at most', [1, 100]))
    .option('--recovery <ms>', 'wait after healing before the final reads, in ms', '3000')
    .addOption(intFlag('--timeout <ms>', 'client request timeout, in ms', [1, 600_000], 5000))
    .option('--transport <t>', "transport for the programs' messages: tcp or udp", 'tcp')
    .addOption(intFlag('--block <n>', 'second octet of the cluster addresses (127.<n>.x.y)', [0, 255], 0))
    .addOption(intFlag('--dashboard-port <port>', 'live dashboard port (0: the OS picks)', [0, 65535], 0))
    .option('--json', 'print results.json instead of the table')
    .addHelpText('after', TEST_HELP)
    .action(runTestCommand)
}

const TEST_HELP = `
Exit status: 0 valid, 1 invalid, 2 unknown or bad usage.
Examples:
  distlab maelstrom test -w echo --bin ./echo.py --node-count 1 --time-limit 10
  distlab maelstrom test -w broadcast --bin "python3 broadcast.py" --node-count 5 --rate 10 --nemesis partition
  distlab maelstrom test -w g-counter --bin ./counter --node-count 3 --rate 100 --nemesis partition,kill
  distlab maelstrom test -w txn-rw-register --bin "python3 txn.py" --consistency-models read-committed
  distlab maelstrom test -w echo --bin "python3 echo.py" --node-count 3 --mode docker`

async function runTestCommand(o: MaelstromTestFlags & { json?: boolean }, cmd: Command): Promise<void> {
  const say = (line: string) => {
    if (!o.json) process.stderr.write(`${color.dim(line)}\n`)
  }
  const r = await runMaelstromTest(testInitFromFlags(o, { stateDir: stateDirOf(cmd), onProgress: say }))
  if (o.json) printJson(r)
  else printResults(r)
  process.exitCode = r.valid === true ? 0 : r.valid === false ? 1 : 2
}

function registerNodeCommand(m: Command): void {
  const cmd = m
    .command('node')
    .description(
      'run one distlab node wrapping a Maelstrom node program (what `maelstrom test --mode process` starts)',
    )
    .requiredOption('--bin <program>', 'the node program')
    .requiredOption('--node-count <n>', 'nodes in the test', intOption('--node-count', 1, 1000))
    .option('--transport <t>', 'tcp or udp', 'tcp')
    .option('--name <name>', 'distlab node name: node<K> runs Maelstrom node n<K-1>', 'node1')
  addListenOptions(cmd)
    .option('--bootstrap <url>', "the master's URL")
    .action(async (o: MaelstromNodeFlags) => {
      const logger = createRootLogger({ write: (l) => process.stdout.write(l) })
      const node = wrapperNodeFromFlags(o, process.env[KEY_ENV] || undefined, logger)
      await node.start()
      stopOnSignals(() => node.stop())
    })
}
