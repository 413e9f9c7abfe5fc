// The command line: a thin layer that parses arguments and calls the library. Each command lives
// in its own file under commands/ and registers itself here. Errors are caught in one place and
// printed as one line.
import { Command, CommanderError } from 'commander'
import { createRequire } from 'node:module'
import { errorLine, exitCodeFor } from './output.js'
import { registerClusterCommands } from './commands/cluster.js'
import { registerRoleCommands } from './commands/roles.js'
import { registerLinkCommands } from './commands/link.js'
import { registerMonitorCommands } from './commands/monitor.js'
import { registerMessagingCommands } from './commands/messaging.js'
import { registerP2pCommands } from './commands/p2p.js'
import { registerDownloadCommands } from './commands/download.js'
import { registerCourseCommands } from './commands/course.js'
import { registerAnalyzeCommands } from './commands/analyze.js'
import { registerDeployCommands } from './commands/deploy.js'
import { registerScenarioCommands } from './commands/scenario.js'
import { registerCheckCommands } from './commands/check.js'
import { registerMaelstromCommands } from './commands/maelstrom.js'
import { registerRunCommands } from './commands/run.js'

const pkg = createRequire(import.meta.url)('../../../package.json') as {
  version: string
  description: string
}

export function buildProgram(): Command {
  const program = new Command('distlab')
    .description(pkg.description)
    .version(pkg.version)
    .option(
      '--state-dir <dir>',
      'where the local cluster keeps its record and logs (default: $DISTLAB_HOME or ./.distlab)',
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride()
  registerClusterCommands(program)
  registerRoleCommands(program)
  registerLinkCommands(program)
  registerMonitorCommands(program)
  registerMessagingCommands(program)
  registerP2pCommands(program)
  registerDownloadCommands(program)
  registerCourseCommands(program)
  registerAnalyzeCommands(program)
  registerDeployCommands(program)
  registerScenarioCommands(program)
  registerCheckCommands(program)
  registerMaelstromCommands(program)
  registerRunCommands(program)
  for (const cmd of program.commands) cmd.exitOverride()
  return program
}

export async function run(argv: string[]): Promise<void> {
  // `distlab ... | head`: a reader that goes away ends the command quietly, as with other Unix tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    process.stderr.write(`distlab: ${errorLine(err)}\n`)
    if (process.env.DISTLAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`)
    process.exitCode = exitCodeFor(err)
  }
}
