// Commands for line server and cooperative download (issue 5, seed 003):
//   distlab lineserver       the course's line server in the foreground (lineserver.ts)
//   distlab download         N cooperating clients with a master collect and SUBMIT the text
//   distlab download bench   the speedup experiment with its plots (download-bench.ts)
//   distlab download client  one cooperating client alone (one per process or container)
//   distlab download --mode docker   a line server and N client containers on a network of their own
// This file registers them, their options and which mode runs; each mode's run is in
// download-run.ts, what it prints in download-render.ts.
import type { Command } from 'commander'
import { InvalidArgumentError } from '../../core/errors.js'
import { intFlag, numberFlag } from '../context.js'
import {
  DEFAULT_CHANNEL_PORT,
  DEFAULT_LINE_COUNT,
  DEFAULT_RATE_LINES_PER_S,
} from '../../protocols/download/index.js'
import { DEFAULT_IMAGE } from '../../cluster/docker.js'
import { DEFAULT_DOWNLOAD_PROJECT } from '../../cluster/download-docker.js'
import { intListOption, type DownloadCliOptions } from './download-common.js'
import { runClient, runDockerDownload, runDownload } from './download-run.js'
import { runBench } from './download-bench.js'
import { registerLineServerCommand } from './lineserver.js'

export function registerDownloadCommands(program: Command): void {
  registerLineServerCommand(program)

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
  downloadOptions(download)
  modeOptions(download)
  download.action((mode: string | undefined, o: DownloadOptions, cmd: Command) => runMode(mode, o, cmd))
  groupOptionsByMode(download)
}

type DownloadOptions = DownloadCliOptions & { seed?: number; plot?: string }

/** The options of a download (every mode, or named by the mode they belong to). */
function downloadOptions(download: Command): void {
  download
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
    .addOption(intFlag('--lines <n>', 'distinct lines the text has', [1], DEFAULT_LINE_COUNT))
    .addOption(
      numberFlag(
        '--rate <lines/s>',
        "per-address limit: each client's pace (bench: also the server's limit)",
        [0.001, 1e6],
        DEFAULT_RATE_LINES_PER_S,
      ),
    )
    .option(
      '--bind <addresses>',
      'comma-separated local address of each client (default 127.50.0.1, .2, ... for a loopback server); client: its one address',
    )
    .option('--reset', 'send SESSION RESET from each client address first')
    .option('--fresh', "start from nothing: drop an earlier run's journal instead of resuming from it")
    .option('--out <file>', 'write the collected text to this file')
    .addOption(intFlag('--timeout <ms>', 'give up (bench: on one run) after this long', [1]))
    .addOption(
      intFlag(
        '--kill-master-at <lines>',
        'crash the master (docker: `docker kill` its container) once this many lines are in (a fault demo)',
        [0],
      ),
    )
    .addOption(
      intFlag(
        '--kill-client-at <lines>',
        'crash the highest-ranked client that is not the master once this many lines are in',
        [0],
      ),
    )
    .option(
      '--mode <mode>',
      'local (every client in this process, on its own loopback address) or docker',
      'local',
    )
}

/** The options of one mode: docker, client and bench; then --log-level and --json. */
function modeOptions(download: Command): void {
  download
    .option('--image <tag>', `docker: the image (default $DISTLAB_IMAGE or ${DEFAULT_IMAGE})`)
    .option('--build', 'docker: build the image from this checkout first (offline base from the host node)')
    .option(
      '--project <name>',
      `docker: network name and container-name prefix (default ${DEFAULT_DOWNLOAD_PROJECT})`,
    )
    .addOption(
      intFlag('--rank <n>', "client: this client's rank (its index in --peers; 0 is the first master)", [0]),
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
    .addOption(
      intFlag(
        '--seed <n>',
        "bench: seed of the bench's own server, so every size draws the same lines (default 1)",
        [0, 2 ** 32 - 1],
      ),
    )
    .option('--plot <file.png>', 'bench: write the plots as PNG, and as SVG beside it')
    .option('--log-level <level>', 'log to stderr at this level (default warn)')
    .option(
      '--json',
      'print one JSON object: {clients, lines, seconds, requests, duplicates, submitted, submitReply}; bench: {runs: [{clients, seconds, speedup, requests}]}; client: {rank, role, lines, seconds, requests, submitted, submitReply, ...}',
    )
}

/** Runs the mode `download [what] [--mode]` names, after refusing options of another mode. */
async function runMode(mode: string | undefined, o: DownloadOptions, cmd: Command): Promise<void> {
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
