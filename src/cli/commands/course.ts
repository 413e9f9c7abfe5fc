// Seed 004's programs with the course's command lines and output lines (DESIGN.md, row 004):
// `gbnnode`, `dvnode`, `cnnode`, and `topology run` to start a whole dv or cn graph at once.
import type { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { createInterface, type Interface } from 'node:readline'
import { InvalidArgumentError } from '../../core/errors.js'
import { parseDuration } from '../../core/options.js'
import { goBackN, type GoBackN } from '../../protocols/gbn/index.js'
import { formatGbnEvent } from '../../protocols/gbn/format.js'
import { dvNode, type DvNode } from '../../protocols/dv/index.js'
import { formatDvEvent, formatRoutingTable } from '../../protocols/dv/format.js'
import { cnNode } from '../../protocols/cn/index.js'
import { formatCnEvent } from '../../protocols/cn/format.js'
import { parseTopology, runTopology, type TopologyResult } from '../../protocols/cn/topology.js'
import { intOption, intFlag, numberFlag } from '../context.js'
import { printJson } from '../output.js'

const out = (line: string) => process.stdout.write(line + '\n')

function parsePort(field: string, text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535)
    throw new InvalidArgumentError(`${field} must be a port 1..65535, got ${JSON.stringify(text)}`, field)
  return Number(text)
}

function parseCostText(field: string, text: string | undefined, max = Number.POSITIVE_INFINITY): number {
  if (text !== undefined && /^(inf|infinity|down)$/i.test(text)) return Number.POSITIVE_INFINITY
  const n = Number(text)
  if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n < 0 || n > max)
    throw new InvalidArgumentError(
      `${field} must be a number between 0 and ${max}, got ${JSON.stringify(text)}`,
      field,
    )
  return n
}

/** The course's `dvnode <local-port> <neighbor-port> <loss-rate> ... [last]`. */
export function parseDvArgs(args: string[]): {
  port: number
  neighbors: Array<{ port: number; cost: number }>
  last: boolean
} {
  const rest = [...args]
  const last = rest.at(-1) === 'last'
  if (last) rest.pop()
  const port = parsePort('local-port', rest.shift())
  if (rest.length === 0 || rest.length % 2 !== 0)
    throw new InvalidArgumentError(
      'give neighbours as pairs: <neighbor-port> <loss-rate> ... [last]',
      'neighbor-port',
    )
  const neighbors = []
  for (let i = 0; i < rest.length; i += 2)
    neighbors.push({
      port: parsePort('neighbor-port', rest[i]),
      cost: parseCostText('loss-rate', rest[i + 1]),
    })
  return { port, neighbors, last }
}

/** The course's `cnnode <local-port> receive <port> <rate> ... send <port> ... [last]`. */
export function parseCnArgs(args: string[]): {
  port: number
  receive: Array<{ port: number; lossRate: number }>
  send: number[]
  last: boolean
} {
  const rest = [...args]
  const last = rest.at(-1) === 'last'
  if (last) rest.pop()
  const port = parsePort('local-port', rest.shift())
  if (rest.shift() !== 'receive')
    throw new InvalidArgumentError(
      'after the local port comes `receive` (then <port> <loss-rate> pairs), then `send` (then ports)',
      'receive',
    )
  const sendAt = rest.indexOf('send')
  if (sendAt < 0) throw new InvalidArgumentError('`send` is missing (it may have no ports after it)', 'send')
  const recvArgs = rest.slice(0, sendAt)
  const sendArgs = rest.slice(sendAt + 1)
  if (recvArgs.length % 2 !== 0)
    throw new InvalidArgumentError('give receive neighbours as pairs: <port> <loss-rate>', 'receive')
  const receive = []
  for (let i = 0; i < recvArgs.length; i += 2)
    receive.push({
      port: parsePort('receive port', recvArgs[i]),
      lossRate: parseCostText('loss-rate', recvArgs[i + 1], 1),
    })
  const send = sendArgs.map((p) => parsePort('send port', p))
  return { port, receive, send, last }
}

/**
 * Reads commands from stdin: a `node> ` prompt on a terminal; lines one by one from a pipe. Each
 * line is handled in order (a handler may be async). Resolves when stdin ends or `quit`.
 */
/** How the command loop ended: `quit`/`exit` or Ctrl-C at the prompt, or the end of stdin. */
type LoopEnd = 'quit' | 'eof'

function commandLoop(handle: (line: string) => Promise<void> | void): {
  done: Promise<LoopEnd>
  rl: Interface
} {
  const tty = Boolean(process.stdin.isTTY)
  const rl = createInterface({
    input: process.stdin,
    output: tty ? process.stdout : undefined,
    terminal: tty,
  })
  rl.setPrompt('node> ')
  let chain = Promise.resolve()
  let end: LoopEnd = 'eof'
  const done = new Promise<LoopEnd>((resolve) => {
    rl.on('line', (line) => {
      chain = chain.then(async () => {
        const cmd = line.trim()
        if (cmd === 'quit' || cmd === 'exit') {
          end = 'quit'
          rl.close()
          return
        }
        try {
          if (cmd) await handle(line)
        } catch (err) {
          process.stderr.write(`${(err as Error).message}\n`)
        }
        if (tty) rl.prompt()
      })
    })
    rl.on('close', () => void chain.then(() => resolve(end)))
    rl.on('SIGINT', () => {
      end = 'quit'
      rl.close()
    })
  })
  if (tty) rl.prompt()
  return { done, rl }
}

function onSignals(stop: () => void): void {
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

interface GbnOptions {
  d?: number
  p?: number
  timeout?: string
  chunk?: number
  listen?: boolean
}

async function gbnnodeAction(self: string, peer: string, window: string, o: GbnOptions): Promise<void> {
  const selfPort = parsePort('self-port', self)
  const peerPort = parsePort('peer-port', peer)
  const windowSize = intOption('window-size', 1, 65_536)(window)
  if (o.d !== undefined && o.p !== undefined)
    throw new InvalidArgumentError('give either -d <n> or -p <p>, not both', 'd')
  const chunk = o.chunk ?? 1
  const gbn: GoBackN = goBackN({
    port: selfPort,
    peerPort,
    window: windowSize,
    dropEvery: o.d,
    dropProbability: o.p,
    timeoutMs: o.timeout === undefined ? undefined : parseDuration('--timeout', o.timeout),
  })()
  gbn.on('event', (e) => {
    const line = formatGbnEvent(e)
    if (line) out(line)
  })
  await gbn.start()
  const pending = new Set<Promise<unknown>>()
  let sentAny = false
  let stopping = false
  let finish: () => void = () => {}
  const finished = new Promise<void>((r) => (finish = r))
  let closeInput = () => {}
  const stop = () => {
    if (stopping) return
    stopping = true
    closeInput()
    void gbn.stop().then(finish)
  }
  onSignals(stop)
  const { done, rl } = commandLoop((line) => {
    const m = /^\s*send(?:\s(.*))?$/.exec(line)
    if (!m) throw new InvalidArgumentError('commands: send <message>, quit')
    const chars = Array.from(m[1] ?? '')
    if (chars.length === 0) throw new InvalidArgumentError('send needs a message: send <message>')
    const segments: Uint8Array[] = []
    for (let i = 0; i < chars.length; i += chunk)
      segments.push(Buffer.from(chars.slice(i, i + chunk).join(''), 'utf8'))
    const p = gbn.sendSegments(segments).catch(() => {})
    sentAny = true
    pending.add(p)
    void p.then(() => pending.delete(p))
  })
  closeInput = () => rl.close()
  const end = await done
  // `quit` ends the node once what it sent is acknowledged. The end of stdin (a pipe, /dev/null,
  // `&` in a script, a container) does the same for a sender; a node that sent nothing is a
  // receiver and keeps receiving until Ctrl-C or SIGTERM (--listen: every node does).
  if (end === 'quit' || (!o.listen && sentAny)) {
    await Promise.all(pending)
    stop()
  }
  await finished
}

interface RunForOptions {
  duration?: string
}

function runFor(o: RunForOptions, stop: () => void): void {
  if (o.duration === undefined) return
  const ms = parseDuration('--duration', o.duration)
  setTimeout(stop, ms).unref()
}

interface DvCliOptions extends RunForOptions {
  poisonedReverse: boolean
  maxDistance?: number
  refresh?: string
  neighborTimeout?: string
}

async function dvnodeAction(args: string[], o: DvCliOptions): Promise<void> {
  const parsed = parseDvArgs(args)
  const node: DvNode = dvNode({
    ...parsed,
    poisonedReverse: o.poisonedReverse,
    maxDistance: o.maxDistance,
    refreshIntervalMs: o.refresh === undefined ? undefined : parseDuration('--refresh', o.refresh),
    neighborTimeoutMs:
      o.neighborTimeout === undefined ? undefined : parseDuration('--neighbor-timeout', o.neighborTimeout),
  })()
  node.on('event', (e) => formatDvEvent(e).forEach(out))
  await node.start()
  await untilStopped(node, o, (line) => {
    const words = line.trim().split(/\s+/)
    if (words[0] === 'cost' && words.length === 3) {
      node.setLinkCost(parsePort('port', words[1]), parseCostText('cost', words[2]))
      return
    }
    if (words[0] === 'table' && words.length === 1) {
      formatRoutingTable(Date.now(), node.port, node.routes()).forEach(out)
      return
    }
    throw new InvalidArgumentError('commands: cost <neighbor-port> <value|inf>, table, quit')
  })
}

/** Runs a router until Ctrl-C, SIGTERM, `quit`, or --duration; stdin ending does not stop it. */
async function untilStopped(
  node: { stop(): Promise<void> },
  o: RunForOptions,
  handle: (line: string) => void,
): Promise<void> {
  let finish: () => void = () => {}
  const finished = new Promise<void>((r) => (finish = r))
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    void node.stop().then(finish)
  }
  onSignals(stop)
  runFor(o, stop)
  const tty = Boolean(process.stdin.isTTY)
  const { done, rl } = commandLoop(handle)
  // On a terminal, `quit` or Ctrl-D stops the node; from a pipe, the node keeps routing.
  if (tty) void done.then(stop)
  await finished
  rl.close()
}

interface CnCliOptions extends RunForOptions {
  exchangeInterval?: string
  statusInterval?: string
  probeInterval?: string
  timeout?: string
  poisonedReverse: boolean
}

async function cnnodeAction(args: string[], o: CnCliOptions): Promise<void> {
  const parsed = parseCnArgs(args)
  const d = (flag: string, v?: string) => (v === undefined ? undefined : parseDuration(flag, v))
  const node = cnNode({
    ...parsed,
    exchangeIntervalMs: d('--exchange-interval', o.exchangeInterval),
    statusIntervalMs: d('--status-interval', o.statusInterval),
    probeIntervalMs: d('--probe-interval', o.probeInterval),
    timeoutMs: d('--timeout', o.timeout),
    poisonedReverse: o.poisonedReverse,
  })()
  node.on('event', (e) => formatCnEvent(e).forEach(out))
  await node.start()
  await untilStopped(node, o, (line) => {
    if (line.trim() === 'table') {
      formatRoutingTable(
        Date.now(),
        node.port,
        node.routes().map(([p, r]) => [p, { ...r, distance: Math.round(r.distance * 100) / 100 }]),
        2,
      ).forEach(out)
      return
    }
    throw new InvalidArgumentError('commands: table, quit')
  })
}

interface TopologyCliOptions {
  json?: boolean
  anyPorts?: boolean
  memory?: boolean
  timeout?: string
  duration?: string
  settle?: string
  exchangeInterval?: string
  poisonedReverse: boolean
  trace?: boolean
}

async function topologyRunAction(file: string, o: TopologyCliOptions): Promise<void> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new InvalidArgumentError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      'file',
    )
  }
  const spec = parseTopology(text)
  const d = (flag: string, v?: string) => (v === undefined ? undefined : parseDuration(flag, v))
  const decimals = spec.kind === 'cn' ? 2 : 6
  const result: TopologyResult = await runTopology(spec, {
    transport: o.memory ? 'memory' : 'udp',
    anyPorts: o.anyPorts,
    timeoutMs: d('--timeout', o.timeout),
    durationMs: d('--duration', o.duration),
    settleMs: d('--settle', o.settle),
    exchangeIntervalMs: d('--exchange-interval', o.exchangeInterval),
    poisonedReverse: o.poisonedReverse,
    onEvent: o.trace && !o.json ? (_node, e) => formatCnEvent(e, decimals).forEach(out) : undefined,
  })
  if (o.json) {
    printJson({
      kind: result.kind,
      rounds: result.rounds,
      converged: result.converged,
      messages: result.messages,
      tables: result.tables,
    })
  } else {
    const now = Date.now()
    for (const port of spec.nodes) {
      const routes = Object.entries(result.tables[port] ?? {}).map(
        ([dest, r]) => [Number(dest), r] as [number, { distance: number; nextHop: number }],
      )
      formatRoutingTable(now, port, routes, decimals).forEach(out)
    }
    const what = spec.kind === 'dv' ? `${result.rounds} rounds` : `${result.rounds} exchanges`
    out(
      result.converged
        ? `converged: ${spec.nodes.length} nodes, ${what}, ${result.messages} messages`
        : `NOT converged: ${spec.nodes.length} nodes, ${what}, ${result.messages} messages`,
    )
  }
  if (!result.converged) process.exitCode = 1
}

export function registerCourseCommands(program: Command): void {
  registerGbnnode(program)
  registerDvnode(program)
  registerCnnode(program)
  registerTopology(program)
}

function registerGbnnode(program: Command): void {
  program
    .command('gbnnode')
    .summary("Go-Back-N over UDP with emulated loss, the course's output lines (seed 004)")
    .description(
      'Go-Back-N over UDP on 127.0.0.1 (seed 004): type `send <message>` at the node> prompt (or pipe lines in);\n' +
        'each character is one packet. Prints the course lines: packet<n> <c> sent, ACK<n> received, window\n' +
        'moves to <n>, packet<n> timeout, ... and a [Summary] line per message. A duplicate ACK prints\n' +
        '`ACK<n> discarded`. When stdin ends (a pipe, /dev/null, `&`), a node that sent something exits\n' +
        'once every message is acknowledged; a node that sent nothing is a receiver and runs until Ctrl-C\n' +
        'or SIGTERM.',
    )
    .argument('<self-port>', 'this node’s UDP port')
    .argument('<peer-port>', 'the other node’s UDP port')
    .argument('<window-size>', 'Go-Back-N window, in packets')
    .addOption(intFlag('-d <n>', 'drop every n-th packet this node receives (data and ACKs)', [1]))
    .addOption(numberFlag('-p <p>', 'drop each packet this node receives with probability p', [0, 1]))
    .option('--timeout <time>', 'retransmission timeout (default 500ms, the course’s)')
    .addOption(intFlag('--chunk <n>', 'characters per packet (default 1, the course’s)', [1, 1024]))
    .option('--listen', 'keep running after stdin ends even after sending; Ctrl-C or SIGTERM stops')
    .action(gbnnodeAction)
}

function registerDvnode(program: Command): void {
  program
    .command('dvnode')
    .summary('a distance-vector router over UDP: Bellman-Ford with poisoned reverse (seed 004)')
    .description(
      'A distance-vector router over UDP on 127.0.0.1 (seed 004): distributed Bellman-Ford with poisoned\n' +
        'reverse. `last` starts the exchange. Prints its routing table whenever it changes. Commands at the\n' +
        'node> prompt (or from a pipe): `cost <neighbor-port> <value|inf>` changes a link’s cost at both ends\n' +
        '(inf takes it down), `table` prints the table, `quit`.\n' +
        'Example: distlab dvnode 1111 2222 .1 3333 .5',
    )
    .argument(
      '<args...>',
      '<local-port> <neighbor-port> <loss-rate> [<neighbor-port> <loss-rate> ...] [last]',
    )
    .option('--no-poisoned-reverse', 'advertise routes back to their next hop (shows counting to infinity)')
    .addOption(
      numberFlag('--max-distance <d>', 'distances at or above this are unreachable (default 1000)', [0]),
    )
    .option('--refresh <time>', 'also resend the table this often (default: only on change, as the course)')
    .option('--neighbor-timeout <time>', 'a neighbour silent this long is down (needs --refresh)')
    .option('--duration <time>', 'stop after this long (default: run until Ctrl-C)')
    .action(dvnodeAction)
}

function registerCnnode(program: Command): void {
  program
    .command('cnnode')
    .summary('distance vectors over loss rates measured by Go-Back-N probes (seed 004)')
    .description(
      'Distance vectors over loss rates measured by Go-Back-N probes (seed 004): probes `send` neighbours\n' +
        'with window 5 and a 500 ms timeout, drops data from `receive` neighbours with their loss rate,\n' +
        'prints each send link’s loss rate every second and exchanges tables every 5 s.\n' +
        'Example: distlab cnnode 2222 receive 1111 .1 send 3333 4444',
    )
    .argument('<args...>', '<local-port> receive [<port> <loss-rate> ...] send [<port> ...] [last]')
    .option('--exchange-interval <time>', 'recompute and exchange tables this often (default 5s)')
    .option('--status-interval <time>', 'print link loss rates this often (default 1s)')
    .option('--probe-interval <time>', 'at most one new probe per link this often (default 10ms)')
    .option('--timeout <time>', 'probe retransmission timeout (default 500ms)')
    .option('--no-poisoned-reverse', 'advertise routes back to their next hop')
    .option('--duration <time>', 'stop after this long (default: run until Ctrl-C)')
    .action(cnnodeAction)
}

function registerTopology(program: Command): void {
  const topology = program.command('topology').description('whole dv or cn topologies on this machine')
  topology
    .command('run')
    .description(
      'Start every node of a topology file (YAML: kind dv|cn, nodes, links [a, b, cost], last) in this\n' +
        'process on 127.0.0.1, wait until the routing converges, and print each node’s table. Exit 1 when\n' +
        'it does not converge. Examples ship in topologies/.',
    )
    .argument('<file>', 'topology YAML file')
    .option(
      '--json',
      'print {kind, rounds, converged, messages, tables: {<port>: {<dest>: {distance, nextHop}}}}',
    )
    .option('--any-ports', 'bind OS-chosen ports instead of the file’s (output still uses the file’s)')
    .option('--memory', 'run on the in-memory network with simulated time (large graphs)')
    .option('--timeout <time>', 'give up after this long (default 30s)')
    .option('--settle <time>', 'dv: quiet this long before checking convergence (default 300ms)')
    .option('--duration <time>', 'cn: run this long before reading tables (default 3 exchanges + 1s)')
    .option('--exchange-interval <time>', 'cn: table exchange interval (default 5s)')
    .option('--no-poisoned-reverse', 'advertise routes back to their next hop')
    .option('--trace', 'print every node’s lines as they happen')
    .action(topologyRunAction)
}
