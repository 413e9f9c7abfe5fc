// Commands for line server and cooperative download (issue 5, seed 003):
//   distlab lineserver       the course's line server in the foreground
//   distlab download         N cooperating clients with a master collect and SUBMIT the text
//   distlab download bench   the speedup experiment with its plots
//   distlab download client  one cooperating client alone (one per process or container)
//   distlab download --mode docker   a line server and N client containers on a network of their own
import type { Command } from 'commander'
import { join } from 'node:path'
import { writeFileSync, rmSync, mkdirSync } from 'node:fs'
import { createRootLogger, type Logger } from '../../core/logger.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { parseHostPort } from '../../core/options.js'
import { intOption, numberOption, stateDirOf } from '../context.js'
import { printJson, table, Progress, color, formatDuration } from '../output.js'
import {
  CooperativeDownload,
  DownloadClient,
  DEFAULT_CHANNEL_PORT,
  DEFAULT_LINE_COUNT,
  DEFAULT_LINE_SERVER_PORT,
  DEFAULT_RATE_LINES_PER_S,
  LineServer,
  couponCollectorExpectation,
  downloadBenchCharts,
  loadTextFile,
  runDownloadBench,
  type DownloadResult,
} from '../../protocols/download/index.js'
import { writeChart } from '../../monitor/plot.js'
import { DEFAULT_IMAGE, buildImage, buildLocalBaseImage, requireDocker } from '../../cluster/docker.js'
import { DEFAULT_DOWNLOAD_PROJECT, DockerDownload } from '../../cluster/download-docker.js'

interface LineServerCliOptions {
  host: string
  port: number
  file?: string
  lines?: number
  rate: number
  burst?: number
  seed?: number
  jsonLog?: boolean
  logLevel: string
}

async function runLineServer(o: LineServerCliOptions): Promise<void> {
  if (o.file !== undefined && o.lines !== undefined)
    throw new InvalidArgumentError('give either --file or --lines, not both', '--file')
  const logger = createRootLogger({
    format: o.jsonLog ? 'json' : 'pretty',
    level: o.logLevel,
    write: (l) => process.stdout.write(l),
  })
  const server = new LineServer({
    host: o.host,
    port: o.port,
    lines: o.file !== undefined ? loadTextFile(o.file) : undefined,
    lineCount: o.lines ?? DEFAULT_LINE_COUNT,
    ratePerSecond: o.rate,
    burst: o.burst,
    seed: o.seed,
    logger,
  })
  await server.start()
  let stopping = false
  const shutdown = async () => {
    if (stopping) return
    stopping = true
    const s = server.stats()
    // Each client address's session: who was served what (a containerised download reads this).
    const addresses = server
      .addresses()
      .map((a) => ({ address: a.address, served: a.served, rateLimited: a.rateLimited, submits: a.submits }))
    logger.info({ ...s, addresses }, 'line server stopping')
    await server.stop()
    process.exit(0)
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
}

interface DownloadCliOptions {
  server?: string
  clients?: number[]
  id: string
  lines: number
  rate: number
  bind?: string
  reset?: boolean
  fresh?: boolean
  out?: string
  timeout?: number
  killMasterAt?: number
  killClientAt?: number
  json?: boolean
  logLevel?: string
  mode?: string
  // download client
  rank?: number
  peers?: string
  journal?: string
  listen?: string
  reportProgress?: boolean
  // --mode docker
  image?: string
  build?: boolean
  project?: string
}

const listOption =
  (flag: string) =>
  (v: string): string[] => {
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    if (items.length === 0) throw new InvalidArgumentError(`${flag} must be a comma-separated list`, flag)
    return items
  }

const intListOption =
  (flag: string, min: number, max: number) =>
  (v: string): number[] =>
    listOption(flag)(v).map((s) => intOption(flag, min, max)(s))

function cliLogger(level: string | undefined): Logger {
  return createRootLogger({ level: level ?? 'warn', write: (l) => process.stderr.write(l) })
}

function journalFile(stateDir: string, id: string, host: string, port: number): string {
  const safe = `${id}@${host}_${port}`.replace(/[^A-Za-z0-9@._-]/g, '_')
  return join(stateDir, 'download', `${safe}.jsonl`)
}

async function runDownload(o: DownloadCliOptions, cmd: Command): Promise<void> {
  if (!o.server) throw new InvalidArgumentError('--server host:port is required', '--server')
  const server = parseHostPort('--server', o.server, DEFAULT_LINE_SERVER_PORT)
  const clients = o.clients ?? [1]
  if (clients.length !== 1)
    throw new InvalidArgumentError('--clients takes one number (a list is for `download bench`)', '--clients')
  const n = clients[0]!
  const bind = o.bind === undefined ? undefined : listOption('--bind')(o.bind)
  if (bind && bind.length !== n)
    throw new InvalidArgumentError(
      `--bind must list one address per client (${n}), got ${bind.length}`,
      '--bind',
    )
  const journalPath = journalFile(stateDirOf(cmd), o.id, server.host, server.port)
  if (o.fresh) rmSync(journalPath, { force: true })
  const progress = new Progress('lines', o.lines, { enabled: !o.json })
  let killed = false
  let killedMember = false
  const dl: CooperativeDownload = new CooperativeDownload({
    server,
    clients: n,
    id: o.id,
    lines: o.lines,
    ratePerSecond: o.rate,
    localAddresses: bind,
    resetSession: o.reset,
    journalPath,
    timeoutMs: o.timeout,
    logger: cliLogger(o.logLevel),
    onProgress: (p) => {
      const rate = p.elapsedMs > 0 ? (p.lines / p.elapsedMs) * 1000 : 0
      progress.update(p.lines, `${rate.toFixed(0)} lines/s, master ${p.masterRank ?? '-'}`)
      if (
        o.killMasterAt !== undefined &&
        !killed &&
        p.lines >= o.killMasterAt &&
        p.masterRank !== undefined
      ) {
        killed = true
        if (!o.json)
          process.stderr.write(`\n${color.yellow(`killing the master (client ${p.masterRank})`)}\n`)
        dl.crash(p.masterRank)
      }
      if (o.killClientAt !== undefined && !killedMember && p.lines >= o.killClientAt) {
        killedMember = true
        let victim = n - 1
        if (victim === dl.master()) victim--
        if (victim >= 0) {
          if (!o.json) process.stderr.write(`\n${color.yellow(`killing client ${victim}`)}\n`)
          dl.crash(victim)
        }
      }
    },
  })
  const r: DownloadResult = await dl.run()
  progress.done()
  if (o.out) {
    mkdirSync(join(o.out, '..'), { recursive: true })
    writeFileSync(o.out, r.text.join('\n') + '\n')
  }
  if (o.json) {
    printJson({
      clients: r.clients,
      lines: r.lines,
      seconds: Number(r.seconds.toFixed(3)),
      requests: r.requests,
      duplicates: r.duplicates,
      submitted: r.submitted,
      submitReply: r.submitReply ?? null,
      rateLimited: r.rateLimited,
      resumed: r.resumed,
      takeovers: r.takeovers,
      masterRank: r.masterRank,
      mergeUsPerLine: Number(r.mergeUsPerLine.toFixed(2)),
    })
  } else {
    process.stdout.write(
      table(
        ['clients', 'lines', 'time', 'requests', 'rate-limited', 'duplicates', 'resumed', 'takeovers'],
        [
          [
            r.clients,
            r.lines,
            formatDuration(r.seconds * 1000),
            r.requests,
            r.rateLimited,
            r.duplicates,
            r.resumed,
            r.takeovers,
          ],
        ],
      ),
    )
    process.stdout.write(
      table(
        ['client', 'address', 'requests', 'lines served', 'alive'],
        r.perClient.map((c) => [
          c.rank === r.masterRank ? `${c.rank} (master)` : c.rank,
          c.address ?? '-',
          c.requests,
          c.served,
          c.alive ? 'yes' : color.red('no'),
        ]),
      ),
    )
    const reply = r.submitReply ?? '(not submitted)'
    process.stdout.write(`${r.submitted ? color.green(reply) : color.red(reply)}\n`)
    if (o.out) process.stdout.write(`wrote ${o.out}\n`)
  }
  if (!r.submitted) process.exitCode = 1
}

/** Aborts on Ctrl-C or SIGTERM, so that what a run holds (sockets, containers) is released first. */
function abortOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => ac.abort(new Error(sig))
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** `distlab download client`: one cooperating client, e.g. in its own container. */
async function runClient(o: DownloadCliOptions): Promise<void> {
  if (o.rank === undefined) throw new InvalidArgumentError('--rank is required', '--rank')
  if (!o.peers) throw new InvalidArgumentError('--peers host:port,host:port,... is required', '--peers')
  if (!o.server) throw new InvalidArgumentError('--server host:port is required', '--server')
  const server = parseHostPort('--server', o.server, DEFAULT_LINE_SERVER_PORT)
  const peers = listOption('--peers')(o.peers).map((p) => parseHostPort('--peers', p, DEFAULT_CHANNEL_PORT))
  if (o.rank >= peers.length)
    throw new InvalidArgumentError(
      `--rank must be below the number of --peers (${peers.length}), got ${o.rank}`,
      '--rank',
    )
  if (o.bind !== undefined && o.bind.includes(','))
    throw new InvalidArgumentError('--bind takes one address for `download client`', '--bind')
  const progress = new Progress(`client ${o.rank}`, o.lines, { enabled: !o.json && !o.reportProgress })
  const { signal, dispose } = abortOnSignals()
  const client = new DownloadClient({
    server,
    rank: o.rank,
    peers,
    id: o.id,
    lines: o.lines,
    ratePerSecond: o.rate,
    listenHost: o.listen,
    localAddress: o.bind,
    resetSession: o.reset,
    journalPath: o.journal,
    timeoutMs: o.timeout,
    signal,
    logger: cliLogger(o.logLevel),
    onProgress: (p) => {
      if (o.reportProgress)
        process.stderr.write(
          JSON.stringify({
            progress: { lines: p.lines, total: p.total, rank: o.rank, elapsedMs: Math.round(p.elapsedMs) },
          }) + '\n',
        )
      else {
        const rate = p.elapsedMs > 0 ? (p.lines / p.elapsedMs) * 1000 : 0
        progress.update(p.lines, `${rate.toFixed(0)} lines/s (master)`)
      }
    },
  })
  let r
  try {
    r = await client.run()
  } finally {
    dispose()
  }
  progress.done()
  if (o.json)
    printJson({
      rank: r.rank,
      role: r.role,
      clients: r.clients,
      lines: r.lines,
      seconds: Number(r.seconds.toFixed(3)),
      requests: r.requests,
      rateLimited: r.rateLimited,
      served: r.served,
      submitted: r.submitted,
      submitReply: r.submitReply ?? null,
      fromJournal: r.fromJournal,
      masterRank: r.masterRank ?? null,
      mergeUsPerLine: Number(r.mergeUsPerLine.toFixed(2)),
    })
  else {
    const who =
      r.role === 'master'
        ? `client ${r.rank} (master): ${r.lines} lines${r.fromJournal ? ` (${r.fromJournal} from the journal)` : ''} in ${formatDuration(r.seconds * 1000)}`
        : `client ${r.rank}: fetched ${r.lines} distinct lines; master ${r.masterRank ?? '?'} submitted`
    process.stdout.write(
      `${who}; ${r.requests} requests, ${r.rateLimited} rate-limited, ${r.served} lines served to this client\n`,
    )
    const reply = r.submitReply ?? '(not submitted)'
    process.stdout.write(`${r.submitted ? color.green(reply) : color.red(reply)}\n`)
  }
  // A member's job ends when it is told the text is in, whatever the server said of it.
  if (r.role === 'master' && !r.submitted) process.exitCode = 1
}

/** `distlab download --mode docker`: a line server and N client containers. */
async function runDockerDownload(o: DownloadCliOptions): Promise<void> {
  for (const [flag, v] of [
    ['--server', o.server],
    ['--bind', o.bind],
    ['--reset', o.reset],
    ['--fresh', o.fresh],
    ['--out', o.out],
  ] as const)
    if (v !== undefined)
      throw new InvalidArgumentError(
        `${flag} does not apply to --mode docker (its server is a container)`,
        flag,
      )
  const clients = o.clients ?? [1]
  if (clients.length !== 1)
    throw new InvalidArgumentError('--clients takes one number (a list is for `download bench`)', '--clients')
  const n = clients[0]!
  const image = o.image ?? process.env.DISTLAB_IMAGE ?? DEFAULT_IMAGE
  if (o.build) {
    await requireDocker()
    const base = await buildLocalBaseImage()
    if (!o.json) process.stderr.write(`building ${image} FROM ${base.tag} ...\n`)
    await buildImage({ tag: image, baseImage: base.tag })
  }
  const progress = new Progress(`${n} client containers`, o.lines, { enabled: !o.json })
  let firstProgressAt: number | undefined
  const { signal, dispose } = abortOnSignals()
  const dl = new DockerDownload({
    clients: n,
    image,
    project: o.project,
    lines: o.lines,
    ratePerSecond: o.rate,
    id: o.id,
    timeoutMs: o.timeout,
    killMasterAt: o.killMasterAt,
    killClientAt: o.killClientAt,
    signal,
    logger: cliLogger(o.logLevel),
    onProgress: (p) => {
      firstProgressAt ??= Date.now()
      const s = (Date.now() - firstProgressAt) / 1000
      const rate = s > 0 ? `${(p.lines / s).toFixed(0)} lines/s, ` : ''
      progress.update(p.lines, `${rate}master ${p.masterRank ?? '-'}`)
    },
    onEvent: (text) => {
      if (!o.json) process.stderr.write(`\n${color.yellow(text)}\n`)
    },
  })
  let r
  try {
    r = await dl.run()
  } finally {
    dispose()
  }
  progress.done()
  const perAddress = new Map(r.serverAddresses.map((a) => [a.address, a]))
  if (o.json) {
    printJson({
      clients: r.clients,
      lines: r.lines,
      seconds: Number(r.seconds.toFixed(3)),
      requests: r.requests,
      duplicates: r.duplicates,
      submitted: r.submitted,
      submitReply: r.submitReply ?? null,
      mode: 'docker',
      rateLimited: r.rateLimited,
      fromJournal: r.fromJournal,
      masterRank: r.masterRank,
      killed: r.killed.filter((k) => k.rank >= 0),
      perClient: r.perClient.map((c) => ({
        rank: c.rank,
        container: c.container,
        address: c.address,
        alive: c.alive,
        requests: (perAddress.get(c.address)?.served ?? 0) + (perAddress.get(c.address)?.rateLimited ?? 0),
        served: perAddress.get(c.address)?.served ?? 0,
      })),
      serverAddresses: r.serverAddresses,
    })
  } else {
    process.stdout.write(
      table(
        ['clients', 'lines', 'time', 'requests', 'rate-limited', 'duplicates', 'from journal', 'master'],
        [
          [
            r.clients,
            r.lines,
            formatDuration(r.seconds * 1000),
            r.requests,
            r.rateLimited,
            r.duplicates,
            r.fromJournal,
            r.masterRank,
          ],
        ],
      ),
    )
    process.stdout.write(
      table(
        ['client', 'container', 'address', 'requests', 'lines served', 'alive'],
        r.perClient.map((c) => {
          const a = perAddress.get(c.address)
          return [
            c.rank === r.masterRank ? `${c.rank} (master)` : c.rank,
            c.container,
            c.address || '-',
            a ? a.served + a.rateLimited : '-',
            a ? a.served : '-',
            c.alive ? 'yes' : color.red('killed'),
          ]
        }),
      ),
    )
    const reply = r.submitReply ?? '(not submitted)'
    process.stdout.write(`${r.submitted ? color.green(reply) : color.red(reply)}\n`)
    process.stdout.write(
      `the line server saw ${r.serverAddresses.length} client address${r.serverAddresses.length === 1 ? '' : 'es'}; every container, the network and the volume are removed\n`,
    )
  }
  if (!r.submitted) process.exitCode = 1
}

interface BenchCliOptions {
  clients: number[]
  rate: number
  lines: number
  seed: number
  server?: string
  plot?: string
  json?: boolean
  timeout?: number
  logLevel?: string
}

async function runBench(o: BenchCliOptions): Promise<void> {
  const server = o.server ? parseHostPort('--server', o.server, DEFAULT_LINE_SERVER_PORT) : undefined
  let progress: Progress | undefined
  let current = 0
  const result = await runDownloadBench({
    clients: o.clients,
    ratePerSecond: o.rate,
    lines: o.lines,
    seed: o.seed,
    server,
    timeoutMs: o.timeout,
    logger: cliLogger(o.logLevel),
    onProgress: (n, lines, total) => {
      if (n !== current) {
        progress?.done()
        current = n
        progress = new Progress(`${n} client${n === 1 ? ' ' : 's'}`, total, { enabled: !o.json })
      }
      progress?.update(lines)
    },
  })
  progress?.done()
  let files: { pngPath: string; svgPath: string } | undefined
  if (o.plot) files = await writeChart(downloadBenchCharts(result), o.plot)
  const expected = couponCollectorExpectation(result.lines)
  if (o.json) {
    printJson({
      lines: result.lines,
      rate: result.ratePerSecond,
      seed: result.seed ?? null,
      expectedDraws: Number(expected.toFixed(1)),
      runs: result.runs.map((r) => ({
        clients: r.clients,
        seconds: Number(r.seconds.toFixed(3)),
        speedup: Number(r.speedup.toFixed(3)),
        requests: r.requests,
        rateLimited: r.rateLimited,
        submitted: r.submitted,
      })),
      plot: files ?? null,
    })
  } else {
    process.stdout.write(
      table(
        ['clients', 'time', 'speedup', 'ideal', 'efficiency', 'requests', 'rate-limited', 'submitted'],
        result.runs.map((r) => [
          r.clients,
          formatDuration(r.seconds * 1000),
          r.speedup.toFixed(2),
          r.clients,
          `${((r.speedup / r.clients) * 100).toFixed(0)}%`,
          r.requests,
          r.rateLimited,
          r.submitted ? 'yes' : color.red('no'),
        ]),
      ),
    )
    process.stdout.write(
      `${result.lines} lines at ${result.ratePerSecond} lines/s per client; coupon-collector expectation n·H(n) = ${expected.toFixed(0)} draws` +
        (result.seed !== undefined ? `; server seed ${result.seed} (the same draws for every size)` : '') +
        '\n',
    )
    if (files) process.stdout.write(`wrote ${files.pngPath} and ${files.svgPath}\n`)
  }
  if (result.runs.some((r) => !r.submitted)) process.exitCode = 1
}

export function registerDownloadCommands(program: Command): void {
  program
    .command('lineserver')
    .description(
      "the course's line server (seed 003): SENDLINE, SUBMIT and SESSION RESET over TCP, a random line per SENDLINE, limited per client address",
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port', intOption('--port', 0, 65535), DEFAULT_LINE_SERVER_PORT)
    .option('--file <file>', 'serve this text file (one line per line) instead of the default text')
    .option(
      '--lines <n>',
      `serve the first n lines of the default text (default ${DEFAULT_LINE_COUNT})`,
      intOption('--lines', 1),
    )
    .option(
      '--rate <lines/s>',
      'lines per second per client address',
      numberOption('--rate', 0.001, 1e6),
      DEFAULT_RATE_LINES_PER_S,
    )
    .option('--burst <lines>', 'lines an address may take back to back (default 2)', intOption('--burst', 1))
    .option(
      '--seed <n>',
      'seed of the random line choice: the same sequence every run, restarted by SESSION RESET',
      intOption('--seed', 0, 2 ** 32 - 1),
    )
    .option('--json-log', 'log one JSON object per line instead of text')
    .option('--log-level <level>', 'debug shows every connection; info, warn or error', 'info')
    .action(async (o: LineServerCliOptions) => runLineServer(o))

  // `download bench` is the argument of `download`, not a commander subcommand: a subcommand's
  // options cannot share names with its parent's (commander lets the parent take them), and
  // `--clients` is a count for a download but a list for the bench.
  const download = program
    .command('download')
    .summary(
      'cooperating clients collect every line from a line server (seed 003); `download bench` plots the speedup',
    )
    .argument(
      '[what]',
      '"bench" runs the speedup experiment; "client" runs one cooperating client alone (see --rank, --peers)',
    )
    .description(
      'N cooperating clients, each from its own address, collect every line from a line server; a master merges, deduplicates and SUBMITs.\n\n' +
        '`download bench` downloads with 1, 2, 3, ... clients, each against a fresh server session, and prints and plots time against clients.\n\n' +
        '`download --mode docker --clients N` runs a line server and N client containers on a network of their own (each client its own address), then removes them.\n\n' +
        '`download client --rank R --peers h0:9900,h1:9900,... --server H:9801` is one client alone (what each container runs)',
    )
    .option(
      '--server <host:port>',
      'the line server, e.g. 127.0.0.1:9801 (required for a download; bench: default a fresh server per size)',
    )
    .option(
      '--clients <n>',
      'cooperating clients (default 1); bench: comma-separated counts (default 1,2,3,4,6,8)',
      intListOption('--clients', 1, 1000),
    )
    .option('--id <id>', 'the id sent with SUBMIT', 'distlab')
    .option('--lines <n>', 'distinct lines the text has', intOption('--lines', 1), DEFAULT_LINE_COUNT)
    .option(
      '--rate <lines/s>',
      "per-address limit: each client's pace (bench: also the server's limit)",
      numberOption('--rate', 0.001, 1e6),
      DEFAULT_RATE_LINES_PER_S,
    )
    .option(
      '--bind <addresses>',
      'comma-separated local address of each client (default 127.50.0.1, .2, ... for a loopback server); client: its one address',
    )
    .option('--reset', 'send SESSION RESET from each client address first')
    .option('--fresh', "start from nothing: drop an earlier run's journal instead of resuming from it")
    .option('--out <file>', 'write the collected text to this file')
    .option('--timeout <ms>', 'give up (bench: on one run) after this long', intOption('--timeout', 1))
    .option(
      '--kill-master-at <lines>',
      'crash the master (docker: `docker kill` its container) once this many lines are in (a fault demo)',
      intOption('--kill-master-at', 0),
    )
    .option(
      '--kill-client-at <lines>',
      'crash the highest-ranked client that is not the master once this many lines are in',
      intOption('--kill-client-at', 0),
    )
    .option(
      '--mode <mode>',
      'local (every client in this process, on its own loopback address) or docker',
      'local',
    )
    .option('--image <tag>', `docker: the image (default $DISTLAB_IMAGE or ${DEFAULT_IMAGE})`)
    .option('--build', 'docker: build the image from this checkout first (offline base from the host node)')
    .option(
      '--project <name>',
      `docker: network name and container-name prefix (default ${DEFAULT_DOWNLOAD_PROJECT})`,
    )
    .option(
      '--rank <n>',
      "client: this client's rank (its index in --peers; 0 is the first master)",
      intOption('--rank', 0),
    )
    .option(
      '--peers <list>',
      `client: every client's channel address in rank order, host:port (port default ${DEFAULT_CHANNEL_PORT}); names work`,
    )
    .option('--listen <host>', 'client: address the channel listener binds (default 0.0.0.0)')
    .option(
      '--journal <file>',
      'client: journal of merged lines while master (share it so a successor resumes)',
    )
    .option('--report-progress', 'client: while master, write {"progress": {...}} JSON lines to stderr')
    .option(
      '--seed <n>',
      "bench: seed of the bench's own server, so every size draws the same lines (default 1)",
      intOption('--seed', 0, 2 ** 32 - 1),
    )
    .option('--plot <file.png>', 'bench: write the plots as PNG, and as SVG beside it')
    .option('--log-level <level>', 'log to stderr at this level (default warn)')
    .option(
      '--json',
      'print one JSON object: {clients, lines, seconds, requests, duplicates, submitted, submitReply}; bench: {runs: [{clients, seconds, speedup, requests}]}; client: {rank, role, lines, seconds, requests, submitted, submitReply, ...}',
    )
    .action(
      async (
        mode: string | undefined,
        o: DownloadCliOptions & { seed?: number; plot?: string },
        cmd: Command,
      ) => {
        if (mode === 'client') {
          if (o.mode !== 'local')
            throw new InvalidArgumentError('`download client` is one client; --mode does not apply', '--mode')
          return runClient(o)
        }
        if (o.rank !== undefined || o.peers !== undefined || o.journal !== undefined || o.reportProgress)
          throw new InvalidArgumentError(
            '--rank, --peers, --journal and --report-progress belong to `download client`',
            '--rank',
          )
        if (mode === 'bench')
          return runBench({
            clients: o.clients ?? [1, 2, 3, 4, 6, 8],
            rate: o.rate,
            lines: o.lines,
            seed: o.seed ?? 1,
            server: o.server,
            plot: o.plot,
            json: o.json,
            timeout: o.timeout,
            logLevel: o.logLevel,
          })
        if (mode !== undefined)
          throw new InvalidArgumentError(
            `unknown ${JSON.stringify(mode)}; give "bench", "client" or nothing`,
            'what',
          )
        if (o.plot !== undefined || o.seed !== undefined)
          throw new InvalidArgumentError('--plot and --seed belong to `download bench`', '--plot')
        if (o.mode === 'docker') return runDockerDownload(o)
        if (o.mode !== 'local')
          throw new InvalidArgumentError(`--mode must be local or docker, got ${o.mode}`, '--mode')
        return runDownload(o, cmd)
      },
    )
  groupOptionsByMode(download)
}

/** `download --help` by mode: an option whose help starts with "bench:", "docker:" or "client:" goes under that mode. */
function groupOptionsByMode(cmd: Command): void {
  const groups = new Map([
    ['bench:', 'Bench options (`download bench`):'],
    ['docker:', 'Docker options (`download --mode docker`):'],
    ['client:', 'Client options (`download client`):'],
  ])
  for (const opt of cmd.options) {
    const prefix = /^(bench|docker|client):/.exec(opt.description)?.[0]
    const heading = prefix === undefined ? undefined : groups.get(prefix)
    if (heading) {
      opt.helpGroup(heading)
      opt.description = opt.description.slice(prefix!.length).trim()
    } else opt.helpGroup('Options (every mode):')
  }
}
