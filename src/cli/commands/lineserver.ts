// `distlab lineserver` (issue 5, seed 003): the course's line server in the foreground, until
// Ctrl-C or SIGTERM; it logs each client address's session as it stops.
import type { Command } from 'commander'
import { createRootLogger } from '../../core/logger.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { stopOnSignals, intFlag, numberFlag } from '../context.js'
import {
  DEFAULT_LINE_COUNT,
  DEFAULT_LINE_SERVER_PORT,
  DEFAULT_RATE_LINES_PER_S,
  LineServer,
  loadTextFile,
} from '../../protocols/download/index.js'

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
  stopOnSignals(async () => {
    const s = server.stats()
    // Each client address's session: who was served what (a containerised download reads this).
    const addresses = server
      .addresses()
      .map((a) => ({ address: a.address, served: a.served, rateLimited: a.rateLimited, submits: a.submits }))
    logger.info({ ...s, addresses }, 'line server stopping')
    await server.stop()
  })
}

export function registerLineServerCommand(program: Command): void {
  program
    .command('lineserver')
    .description(
      "the course's line server (seed 003): SENDLINE, SUBMIT and SESSION RESET over TCP, a random line per SENDLINE, limited per client address",
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(intFlag('--port <port>', 'TCP port', [0, 65535], DEFAULT_LINE_SERVER_PORT))
    .option('--file <file>', 'serve this text file (one line per line) instead of the default text')
    .addOption(
      intFlag(
        '--lines <n>',
        `serve the first n lines of the default text (default ${DEFAULT_LINE_COUNT})`,
        [1],
      ),
    )
    .addOption(
      numberFlag(
        '--rate <lines/s>',
        'lines per second per client address',
        [0.001, 1e6],
        DEFAULT_RATE_LINES_PER_S,
      ),
    )
    .addOption(intFlag('--burst <lines>', 'lines an address may take back to back (default 2)', [1]))
    .addOption(
      intFlag(
        '--seed <n>',
        'seed of the random line choice: the same sequence every run, restarted by SESSION RESET',
        [0, 2 ** 32 - 1],
      ),
    )
    .option('--json-log', 'log one JSON object per line instead of text')
    .option('--log-level <level>', 'debug shows every connection; info, warn or error', 'info')
    .action(async (o: LineServerCliOptions) => runLineServer(o))
}
