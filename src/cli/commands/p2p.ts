// Commands for the peer-to-peer overlay of seed 002 (issue 4): `distlab bootstrap` (a registry
// alone), `distlab p2p` (start a bootstrap and N peers, wait until their views converge, message
// random pairs, summarise), `distlab p2p send` and `distlab p2p broadcast`.
import type { Command } from 'commander'
import { P2pExperiment, type P2pSummary } from '../../cluster/p2p-experiment.js'
import { nodeUrl, readCluster, findNode, isAlive } from '../../cluster/state.js'
import { createNode } from '../../cluster/node-assembly.js'
import { createRootLogger, type LogFormat } from '../../core/logger.js'
import { ClusterError, InvalidArgumentError, NodeApiError } from '../../core/errors.js'
import { parseDuration } from '../../core/options.js'
import { membership, normalizePeerUrl } from '../../protocols/membership/index.js'
import { addMembershipFlags, membershipFromCli, type MembershipFlags } from '../membership-flags.js'
import { addListenOptions, callNode, stateDirOf, stopOnSignals, intFlag } from '../context.js'
import { cliName, color, formatDuration, printJson, Progress, printTable } from '../output.js'

// ---- distlab bootstrap ----

interface BootstrapOptions extends MembershipFlags {
  host: string
  port: number
  framePort: number
  name: string
  advertise?: string
  logFormat: LogFormat
  logLevel: string
}

async function runBootstrap(o: BootstrapOptions): Promise<void> {
  if (o.logFormat !== 'pretty' && o.logFormat !== 'json')
    throw new InvalidArgumentError(`--log-format must be pretty or json, got ${o.logFormat}`, '--log-format')
  const tuning = membershipFromCli(o)
  const logger = createRootLogger({
    format: o.logFormat,
    level: o.logLevel,
    write: (l) => process.stdout.write(l),
  })
  const node = createNode({
    name: o.name,
    host: o.host,
    advertiseHost: o.advertise,
    httpPort: o.port,
    framePort: o.framePort,
    logger,
    protocols: [membership({ ...tuning, registry: true })],
  })
  await node.start()
  process.stdout.write(`bootstrap registry on ${node.httpUrl}: POST /register, GET /peers\n`)
  stopOnSignals(() => node.stop())
}

// ---- distlab p2p (the run) ----

interface RunOptions extends MembershipFlags {
  nodes: number
  mode: string
  messages: number
  killBootstrapAfter?: string
  timeout: string
  block: number
  keep?: boolean
  json?: boolean
}

export type { P2pSummary }

async function runP2p(cmd: Command, o: RunOptions): Promise<void> {
  if (o.mode !== 'process' && o.mode !== 'inproc')
    throw new InvalidArgumentError(`--mode must be process or inproc, got ${o.mode}`, '--mode')
  // `converged`: once every peer knows every other (or at --timeout), whatever the machine's speed.
  const killOnConvergence = o.killBootstrapAfter?.trim() === 'converged'
  const killAfterMs =
    o.killBootstrapAfter === undefined || killOnConvergence
      ? undefined
      : parseDuration('--kill-bootstrap-after', o.killBootstrapAfter)
  const timeoutMs = parseDuration('--timeout', o.timeout)
  const tuning = membershipFromCli(o) // a bad profile or option is bad usage, before anything starts
  const human = !o.json
  const out = (s: string) => {
    if (human) process.stdout.write(s)
  }
  const startBar = new Progress('starting', o.nodes + 1, { enabled: human })
  const bars: { converging?: Progress; messaging?: Progress } = {}
  const exp = new P2pExperiment({
    nodes: o.nodes,
    mode: o.mode,
    messages: o.messages,
    killBootstrapAfterMs: killAfterMs,
    killBootstrapOnConvergence: killOnConvergence,
    timeoutMs,
    block: o.block,
    membership: tuning,
    stateDir: stateDirOf(cmd),
    onListening: (n) => startBar.update(n),
    onConverging: (n) => bars.converging?.update(n),
    onMessage: (n) => bars.messaging?.update(n),
    onBootstrapKilled: (ms) =>
      out(
        `${color.yellow('bootstrap killed')} (kill -9) ${formatDuration(ms)} after the last peer started\n`,
      ),
  })
  const onSignal = () => {
    void exp.stop().then(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  out(`starting a bootstrap and ${o.nodes} peers (${o.mode})...\n`)
  let startMs: number
  try {
    startMs = await exp.start()
  } finally {
    startBar.done()
  }
  out(`started in ${formatDuration(startMs)}; bootstrap registry at ${exp.bootstrapUrl}\n`)
  bars.converging = new Progress('converging', exp.peers.length, { enabled: human })
  const convergenceMs = await exp.converge()
  bars.converging.done()
  if (convergenceMs !== null)
    out(
      `${color.green('converged')}: every peer knows the other ${exp.peers.length - 1} after ${formatDuration(convergenceMs)}\n`,
    )
  else out(`${color.red('not converged')} within ${formatDuration(timeoutMs)}\n`)
  const kill = exp.killBootstrapAsAsked()
  if (kill.waiting) out(`waiting for the bootstrap to be killed...\n`)
  await kill.done

  bars.messaging = new Progress('messaging', exp.pairCount, { enabled: human })
  const { failures } = await exp.message()
  bars.messaging.done()
  const summary = await exp.summary()
  if (o.json) printJson(summary)
  else printP2pSummary(summary, failures)
  if (o.keep) {
    out(keepHint(exp))
    await new Promise(() => {})
  }
  await exp.stop()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (!summary.converged || summary.lost > 0) process.exitCode = 1
}

function printP2pSummary(summary: P2pSummary, failures: string[]): void {
  printTable(
    ['NODES', 'CONVERGED', 'CONVERGENCE', 'PEERS KNOWN (MIN/MEDIAN/MAX)', 'SENT', 'DELIVERED', 'LOST'],
    [
      [
        summary.nodes,
        summary.converged ? color.green('yes') : color.red('no'),
        summary.convergenceMs === null ? '-' : formatDuration(summary.convergenceMs),
        `${summary.peersKnown.min}/${summary.peersKnown.median}/${summary.peersKnown.max}`,
        summary.messagesSent,
        summary.messagesDelivered,
        summary.lost > 0 ? color.red(String(summary.lost)) : '0',
      ],
    ],
  )
  for (const f of failures.slice(0, 5)) process.stdout.write(`${color.red('lost')} ${f}\n`)
  if (summary.bootstrapKilled) process.stdout.write('the bootstrap was dead while these messages were sent\n')
}

/** With --keep: the seed's commands to try against the running overlay. */
function keepHint(exp: P2pExperiment): string {
  const [p1, p2] = exp.peers
  return (
    `\nstill running; try the seed's commands (Ctrl-C stops everything):\n` +
    (exp.bootstrapKilled ? '' : `  curl ${exp.bootstrapUrl}/peers\n`) +
    (p1 ? `  curl ${p1.url}/peers\n` : '') +
    (p2
      ? `  curl -X POST ${p2.url}/message -H "Content-Type: application/json" -d '{"sender": "Node1", "msg": "Hello Node2!"}'\n`
      : '') +
    (p1 && p2 ? `  ${cliName()} p2p send --from ${p1.name} --to ${p2.name} "Hello ${p2.name}!"\n` : '') +
    (p1 ? `  ${cliName()} p2p broadcast --from ${p1.name} "Hello everyone!"\n` : '') +
    `  logs: ${cliName()} logs ${p2?.name ?? 'node1'}\n`
  )
}

// ---- distlab p2p send / broadcast ----

/** `node7` (from the running cluster's record) or a URL → the node's HTTP URL. */
function resolveNode(cmd: Command, nameOrUrl: string, flag: string): string {
  if (nameOrUrl.includes('://')) {
    try {
      return normalizePeerUrl(nameOrUrl, flag)
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message, flag)
    }
  }
  const dir = stateDirOf(cmd)
  const c = readCluster(dir)
  if (!c || !isAlive(c.supervisorPid))
    throw new ClusterError(
      `no cluster is running (state in ${dir}); start one with \`distlab p2p --keep\` or \`distlab up\`, or pass ${flag} http://host:port`,
    )
  return nodeUrl(findNode(c, nameOrUrl))
}

/** `--json` after `p2p send` may land on `p2p` itself (commander parses the parent's options too). */
function wantsJson(cmd: Command): boolean {
  return Boolean((cmd.optsWithGlobals() as { json?: boolean }).json)
}

export function registerP2pCommands(program: Command): void {
  registerBootstrap(program)
  const p2p = registerP2pRun(program)
  registerP2pSend(p2p)
  registerP2pBroadcast(p2p)
}

function registerBootstrap(program: Command): void {
  addListenOptions(addMembershipFlags(program.command('bootstrap')), 'membership frames')
    .description("run seed 002's bootstrap registry alone in the foreground (POST /register, GET /peers)")
    .option('--name <name>', 'name of the registry node', 'bootstrap')
    .option('--advertise <host>', 'address peers use to reach the registry (default: --host)')
    .option('--log-format <format>', 'pretty or json', 'pretty')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .action(async (o: BootstrapOptions) => runBootstrap(o))
}

function registerP2pRun(program: Command): Command {
  return addMembershipFlags(program.command('p2p'))
    .description(
      'start a bootstrap and N peers, wait until every peer knows every other, message random pairs, print a summary',
    )
    .addOption(intFlag('-n, --nodes <n>', 'number of peers', [2, 5000], 100))
    .option('--mode <mode>', 'process (one process per peer) or inproc (all in this process)', 'process')
    .addOption(intFlag('--messages <n>', 'messages sent between random pairs', [0, 100_000], 50))
    .option(
      '--kill-bootstrap-after <duration>',
      'kill -9 the bootstrap this long after the last peer started (10s, 500ms), or once converged (converged)',
    )
    .option('--timeout <duration>', 'give up waiting for convergence after this long', '120s')
    .addOption(
      intFlag(
        '--block <n>',
        'second octet of every address (127.<n>.x.y), to run beside another cluster',
        [0, 255],
        0,
      ),
    )
    .option('--keep', "keep the overlay running afterwards, to try the seed's curl commands")
    .option(
      '--json',
      'print {nodes, converged, convergenceMs, peersKnown, messagesSent, messagesDelivered, lost}',
    )
    .action(async (o: RunOptions, cmd: Command) => runP2p(cmd, o))
}

function registerP2pSend(p2p: Command): void {
  p2p
    .command('send')
    .description("send a message from one peer to another, through the sender's own view (POST /message)")
    .requiredOption('--from <node>', 'sending peer: a name of the running cluster (node7) or its URL')
    .requiredOption('--to <node>', 'receiving peer: a name or URL in the sender’s view')
    .argument('<message>', 'the text')
    .option('--json', 'print the answer as JSON')
    .action(async (message: string, o: { from: string; to: string; json?: boolean }, cmd: Command) => {
      const from = resolveNode(cmd, o.from, '--from')
      const r = await callNode<{ status: string; to: string; url: string; reply: unknown }>(
        from,
        'POST',
        '/p2p/send',
        { to: o.to, msg: message },
        15_000,
      ).catch((err: unknown) => {
        // A peer may rightly be missing from one view (not joined yet, or gone): a failed send (1),
        // said in the overlay's words rather than the route's.
        if (err instanceof NodeApiError && err.error === 'unknown_peer') {
          const said =
            /(\S+ is not in \S+ view)/.exec(err.message)?.[1] ?? `${o.to} is not in ${o.from}'s view`
          throw new ClusterError(
            `${said} (not joined, gone, or not learned of yet; GET /peers on it lists the peers it knows)`,
          )
        }
        throw err
      })
      if (wantsJson(cmd)) printJson({ from: o.from, ...r })
      else process.stdout.write(`${o.from} -> ${r.to} (${r.url}): ${JSON.stringify(r.reply)}\n`)
    })
}

function registerP2pBroadcast(p2p: Command): void {
  p2p
    .command('broadcast')
    .description(
      'send a message from one peer to every peer in its view, with the broadcast module (tree: Plumtree, with anti-entropy); each logs it once.\n\n' +
        'A late joiner: a peer that joins after the broadcast still receives it, and logs it once, when ' +
        'anti-entropy with any peer that holds it replays it (within a few seconds of joining). Every peer ' +
        'keeps the last 200,000 broadcasts for that; older ones are not replayed.',
    )
    .requiredOption('--from <node>', 'sending peer: a name of the running cluster (node7) or its URL')
    .argument('<message>', 'the text')
    .option('--json', 'print the answer as JSON')
    .action(async (message: string, o: { from: string; json?: boolean }, cmd: Command) => {
      const from = resolveNode(cmd, o.from, '--from')
      const r = await callNode<{ status: string; id: string; strategy: string; peers: number }>(
        from,
        'POST',
        '/p2p/broadcast',
        { msg: message },
        15_000,
      )
      if (wantsJson(cmd)) printJson({ from: o.from, ...r })
      else
        process.stdout.write(
          `${o.from} broadcast ${r.id} (${r.strategy}) to the ${r.peers} peers of its view; each logs "Received message from ${o.from}: ..."\n`,
        )
    })
}
