// `distlab runs`, `analyze`, `capture`, `plot`: the network analyzer over recorded runs and real
// packet captures (issue 7).
import type { Command } from 'commander'
import { readFileSync, writeFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError } from '../../core/errors.js'
import { parseDuration } from '../../core/options.js'
import { listRuns, resolveRun, RunReader, runsDir } from '../../monitor/store.js'
import {
  analyzeEvents,
  messageCount,
  type AnalysisReport,
  type AnalysisSeries,
} from '../../monitor/analyzer.js'
import { decodeTraffic, exportPcap, messagesToEvents, type TrafficStats } from '../../monitor/traffic.js'
import { readCapture } from '../../monitor/pcap.js'
import { capture } from '../../monitor/capture.js'
import { writeRunPlots } from '../../monitor/charts.js'
import { formatBytes, formatCount, formatMs, formatPercent } from '../../monitor/format.js'
import { cliName, color, formatDuration, hint, printJson, printTable } from '../output.js'
import { describeAnomalies, type MaelstromRunMeta } from '../../maelstrom/explain.js'

interface CommonOptions {
  runsDir?: string
  json?: boolean
}

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a])

/** What each column of the analyzer's tables counts (issue 16 item 4). */
const COLUMNS_HELP = `
Columns:
  SENT         messages put on the wire: payload, retransmissions, acks and
               control frames, also those the link emulator then lost (an
               HTTP POST /message, seed 002's send, counts once, seen where it
               arrives)
  RECEIVED     messages that reached a node's socket, duplicates included
  DROPPED      messages discarded: by the link emulator (loss, partition) on
               the way out, or by the receiver (a frame that does not decode
               or authenticate, a duplicate the protocol suppresses, a stale
               ack, an unknown type); /metrics has them per reason
  BYTES        bytes of those messages on the wire
  UNIQUE       distinct messages sent: one per message id, which a
               retransmission or a duplicate shares, so they are not counted
               again; for a protocol that delivers to the application only
               what it delivers (no acks or control frames)
  DELIVERY     delivered / unique messages sent, counted at each node a
               message was meant for (its destination; every other node for a
               broadcast; group messages are left out). Retransmissions and
               duplicates do not count against it. Deliveries are hand-overs
               to the application; for a protocol without them (membership)
               first receptions.
  DUPS         a message id received again by the same node
  P50..MAX ms  one-way latency: first send to first receive of a message id
  UNNECESSARY  (sent - deliveries) / sent: traffic beyond one message per
               delivery
  DELIVERED    (per node) messages handed to the application

Numbers: counts 1,234; percentages 78.6%; latencies in ms with one decimal
(1,234.5); bytes 512 B, 12.5 KiB, 3.0 MiB. The same in plots.
`

function isCaptureFile(path: string): boolean {
  if (!existsSync(path)) return false
  if (/\.(pcap|pcapng|cap)$/i.test(path)) return true
  try {
    const fd = openSync(path, 'r')
    const b = Buffer.alloc(4)
    readSync(fd, b, 0, 4, 0)
    closeSync(fd)
    return PCAP_MAGICS.has(b.readUInt32BE(0))
  } catch {
    return false
  }
}

interface Loaded {
  report: AnalysisReport & { series?: AnalysisSeries }
  /** The verdict of a `distlab maelstrom test` run, when this run is one. */
  maelstrom?: MaelstromRunMeta
  capture?: TrafficStats
  file: string
}

/** A run (id, prefix, `latest`, or run file) or a capture file → its analysis. */
function load(source: string | undefined, o: CommonOptions, series = false): Loaded {
  if (source && isCaptureFile(source)) {
    const read = readCapture(readFileSync(source))
    const { messages, stats } = decodeTraffic(read)
    const report = analyzeEvents(messagesToEvents(messages), { run: source, series })
    return { report, capture: stats, file: resolve(source) }
  }
  const file = resolveRun(source, runsDir(o.runsDir))
  const reader = new RunReader(file)
  try {
    const meta = reader.meta()
    const report = analyzeEvents(reader.events(), {
      run: meta.id,
      lostEvents: meta.lostEvents,
      members: meta.members.map((m) => m.name),
      series,
    })
    const m = (meta as { maelstrom?: unknown }).maelstrom
    const maelstrom = m && typeof m === 'object' ? (m as MaelstromRunMeta) : undefined
    return { report, file, maelstrom }
  } finally {
    reader.close()
  }
}

const pct = formatPercent
const ms = formatMs
const bytes = formatBytes
const n = formatCount

function printReport(l: Loaded): void {
  const r = l.report
  const lines: string[] = []
  lines.push(
    `${color.bold(l.capture ? 'capture' : 'run')} ${r.run}: ${n(r.events)} events, ${n(messageCount(r))} messages on the wire` +
      (l.capture
        ? ` (decoded from ${n(l.capture.packets)} packets; ${n(l.capture.undecoded)} not recognised)`
        : `, ${r.lostEvents === 0 ? color.green('no telemetry lost') : color.yellow(`${n(r.lostEvents)} telemetry events lost`)}`),
  )
  process.stdout.write(lines.join('\n') + '\n\n')
  const protos = Object.entries(r.protocols)
  if (protos.length === 0) {
    process.stdout.write('no messages\n')
    return
  }
  printProtocolTable(protos)
  printNodeTable(r)
  process.stdout.write(
    color.dim(
      '\ndelivery = delivered / unique messages sent (per intended receiver); unnecessary = (sent - deliveries) / sent; latency = first send to first receive of a message id; `analyze --help` defines each column\n',
    ),
  )
  if (l.maelstrom) printMaelstrom(l.maelstrom)
}

function printProtocolTable(protos: Array<[string, Loaded['report']['protocols'][string]]>): void {
  process.stdout.write(color.bold('per protocol') + '\n')
  printTable(
    [
      'PROTOCOL',
      'SENT',
      'RECEIVED',
      'DROPPED',
      'BYTES',
      'UNIQUE',
      'DELIVERY',
      'DUPS',
      'P50 ms',
      'P95 ms',
      'P99 ms',
      'MAX ms',
      'UNNECESSARY',
    ],
    protos.map(([name, p]) => [
      name,
      n(p.sent),
      n(p.received),
      n(p.dropped),
      bytes(p.bytes),
      n(p.uniqueMessages),
      pct(p.deliveryRatio),
      n(p.duplicates),
      ms(p.latencyMs.p50),
      ms(p.latencyMs.p95),
      ms(p.latencyMs.p99),
      ms(p.latencyMs.max),
      pct(p.unnecessaryRatio),
    ]),
  )
}

function printNodeTable(r: Loaded['report']): void {
  process.stdout.write('\n' + color.bold('per node') + '\n')
  printTable(
    ['NODE', 'SENT', 'RECEIVED', 'DROPPED', 'BYTES OUT', 'BYTES IN', 'DELIVERED', 'DUPS'],
    Object.entries(r.nodes).map(([name, x]) => [
      name,
      n(x.sent),
      n(x.received),
      n(x.dropped),
      bytes(x.bytes),
      bytes(x.bytesReceived),
      n(x.delivered),
      n(x.duplicates),
    ]),
  )
}

function printMaelstrom(m: NonNullable<Loaded['maelstrom']>): void {
  const verdict =
    m.valid === true
      ? color.green('valid')
      : m.valid === false
        ? color.red('INVALID')
        : color.yellow('unknown')
  process.stdout.write(
    `\n${color.bold('maelstrom')} ${m.workload}: ${verdict}${m.valid === true ? '' : ` (${m.summary})`}\n`,
  )
  for (const line of describeAnomalies(m)) process.stdout.write(`  ${line}\n`)
  if (m.results) process.stdout.write(color.dim(`  results: ${m.results}\n`))
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v)
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

function printCsv(r: AnalysisReport): void {
  const rows: unknown[][] = [
    [
      'scope',
      'name',
      'sent',
      'received',
      'dropped',
      'bytes',
      'deliveryRatio',
      'duplicates',
      'p50Ms',
      'p95Ms',
      'p99Ms',
      'maxMs',
      'delivered',
      'unnecessaryRatio',
      'uniqueMessages',
    ],
  ]
  for (const [name, p] of Object.entries(r.protocols))
    rows.push([
      'protocol',
      name,
      p.sent,
      p.received,
      p.dropped,
      p.bytes,
      p.deliveryRatio,
      p.duplicates,
      p.latencyMs.p50,
      p.latencyMs.p95,
      p.latencyMs.p99,
      p.latencyMs.max,
      p.delivered,
      p.unnecessaryRatio,
      p.uniqueMessages,
    ])
  for (const [name, n] of Object.entries(r.nodes))
    rows.push([
      'node',
      name,
      n.sent,
      n.received,
      n.dropped,
      n.bytes,
      '',
      n.duplicates,
      '',
      '',
      '',
      '',
      n.delivered,
      '',
      '',
    ])
  process.stdout.write(rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n')
}

interface AnalyzeOptions extends CommonOptions {
  format?: string
  pcap?: string
}

async function analyze(source: string | undefined, o: AnalyzeOptions): Promise<void> {
  const format = o.json ? 'json' : (o.format ?? 'table')
  if (!['table', 'json', 'csv'].includes(format))
    throw new InvalidArgumentError(
      `--format must be table, json or csv, got ${JSON.stringify(format)}`,
      '--format',
    )
  const l = load(source, o)
  if (o.pcap) {
    if (l.capture)
      throw new InvalidArgumentError('--pcap exports a run; this source is already a capture', '--pcap')
    const reader = new RunReader(l.file)
    let count: number
    try {
      const writer = exportPcap(reader.events(), reader.meta().members)
      writeFileSync(o.pcap, writer.toBuffer())
      count = writer.count
    } finally {
      reader.close()
    }
    const line = `wrote ${o.pcap}: ${count} packets, one per message (open it with wireshark or tshark -r ${o.pcap})\n`
    if (format === 'table') process.stdout.write(line + '\n')
    else process.stderr.write(line)
  }
  if (format === 'json') {
    const { series: _series, ...report } = l.report
    printJson(
      l.maelstrom
        ? { ...report, maelstrom: { ...l.maelstrom, offending: describeAnomalies(l.maelstrom, 20) } }
        : report,
    )
  } else if (format === 'csv') printCsv(l.report)
  else printReport(l)
}

function runs(o: CommonOptions): void {
  const dir = runsDir(o.runsDir)
  const list = listRuns(dir)
  if (o.json) {
    printJson({ dir, runs: list })
    return
  }
  if (list.length === 0) {
    process.stdout.write(hint(`no runs in ${dir}; \`distlab up\` records one per cluster start\n`))
    return
  }
  printTable(
    ['RUN', 'STARTED', 'DURATION', 'EVENTS', 'LOST', 'NODES', 'PROTOCOLS', 'SIZE'],
    list.map((r) => [
      r.id,
      new Date(r.startedAt).toLocaleString(),
      r.status === 'recording'
        ? color.green('recording')
        : r.status === 'interrupted'
          ? color.red(`interrupted${r.lostAtInterrupt ? ` (${r.lostAtInterrupt} lost)` : ''}`)
          : formatDuration((r.endedAt ?? r.startedAt) - r.startedAt),
      n(r.events),
      n(r.lostEvents),
      n(r.nodes.length),
      r.protocols.join(',') || '-',
      bytes(r.sizeBytes),
    ]),
  )
  process.stdout.write(
    color.dim(hint(`\n${list.length} runs in ${dir}; \`distlab analyze <run>\` reports one\n`)),
  )
}

interface CaptureOptions {
  iface: string
  duration: string
  ports?: string
  net?: string
  tool?: string
  json?: boolean
}

async function captureCommand(out: string, o: CaptureOptions): Promise<void> {
  const durationMs = parseDuration('--duration', o.duration)
  const ports = o.ports
    ? o.ports.split(',').map((p) => {
        const n = Number(p.trim())
        if (!Number.isInteger(n) || n < 1 || n > 65535)
          throw new InvalidArgumentError(
            `--ports must be a comma-separated list of ports, got ${JSON.stringify(o.ports)}`,
            '--ports',
          )
        return n
      })
    : undefined
  const ctrl = new AbortController()
  const onSigint = () => ctrl.abort()
  process.once('SIGINT', onSigint)
  try {
    const result = await capture(
      {
        out,
        iface: o.iface,
        durationMs,
        ports,
        net: o.net,
        tool: o.tool as 'tcpdump' | 'dumpcap' | undefined,
      },
      {
        signal: ctrl.signal,
        onReady: () => {
          if (!o.json)
            process.stderr.write(
              color.dim(
                `capturing on ${o.iface} for ${formatDuration(durationMs)} (Ctrl-C stops early)...\n`,
              ),
            )
        },
      },
    )
    const { messages, stats } = decodeTraffic(readCapture(readFileSync(out)))
    if (o.json)
      printJson({ ...result, packets: stats.packets, messages: messages.length, undecoded: stats.undecoded })
    else
      process.stdout.write(
        `captured ${stats.packets} packets (${messages.length} distlab messages) with ${result.tool} into ${out}\n` +
          `filter: ${result.filter}\nnext: ${cliName()} analyze ${out}\n`,
      )
  } finally {
    process.off('SIGINT', onSigint)
  }
}

interface PlotOptions extends CommonOptions {
  out: string
}

async function plot(source: string | undefined, o: PlotOptions): Promise<void> {
  const l = load(source, o, true)
  const files = await writeRunPlots(l.report, o.out)
  if (o.json) printJson({ run: l.report.run, out: resolve(o.out), files })
  else
    process.stdout.write(
      `charts of ${l.report.run} in ${o.out}:\n` +
        Object.entries(files)
          .map(([name, f]) => `  ${name.padEnd(11)} ${f.png}  ${f.svg}\n`)
          .join(''),
    )
}

export function registerAnalyzeCommands(program: Command): void {
  const runsDirOption = (c: Command) =>
    c.option('--runs-dir <dir>', 'folder of run files (default: $DISTLAB_RUNS_DIR or ./runs)')

  runsDirOption(
    program
      .command('runs')
      .description('list recorded runs (one SQLite file of telemetry per cluster start, in ./runs)')
      .option(
        '--json',
        'print {dir, runs: [{id, file, startedAt, endedAt, open, status, lostAtInterrupt?, events, lostEvents, nodes, protocols, sizeBytes}]}',
      ),
  ).action((o: CommonOptions) => runs(o))

  runsDirOption(
    program
      .command('analyze [source]')
      .description(
        'the network analyzer: per protocol and per node, messages and bytes sent, received and dropped, delivery ratio, duplicates, latency quantiles and unnecessary traffic, from a run (id, id prefix or latest; default latest) or a pcap/pcapng capture',
      )
      .option('--format <format>', 'table, json or csv', 'table')
      .option('--json', 'same as --format json: {run, events, lostEvents, protocols: {...}, nodes: {...}}')
      .option(
        '--pcap <file>',
        'also export the run as a pcap file, one Ethernet/IPv4/UDP or TCP packet per message',
      )
      .addHelpText('after', COLUMNS_HELP),
  ).action((source: string | undefined, o: AnalyzeOptions) => analyze(source, o))

  program
    .command('capture <out>')
    .description(
      "capture distlab's ports (5000 http, 7000 frames, 5007 multicast, 9801 line server) with tcpdump or dumpcap into a pcap file",
    )
    .option('--iface <name>', 'interface to capture on', 'lo')
    .option('--duration <duration>', 'how long to capture, e.g. 10s or 1m', '10s')
    .option('--ports <list>', 'ports to capture, comma-separated (default: 5000,7000,5007,9801)')
    .option('--net <cidr>', 'only traffic from or to this address block, e.g. 127.0.0.0/16')
    .option('--tool <tool>', 'tcpdump or dumpcap (default: whichever is installed)')
    .option('--json', 'print {tool, file, iface, filter, durationMs, bytes, packets, messages, undecoded}')
    .action((out: string, o: CaptureOptions) => captureCommand(out, o))

  runsDirOption(
    program
      .command('plot [source]')
      .description(
        'write PNG and SVG charts of a run or capture: throughput over time, latency CDF per protocol, messages per protocol and node',
      )
      .requiredOption('--out <dir>', 'folder for the charts')
      .option('--json', 'print {run, out, files}'),
  ).action((source: string | undefined, o: PlotOptions) => plot(source, o))
}
