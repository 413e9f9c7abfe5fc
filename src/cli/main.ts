// The command line: a thin layer that parses arguments and calls the library. Each command lives
// in its own file under commands/ and registers itself here. Errors are caught in one place and
// printed as one line.
import { Command } from 'commander'
import { createRequire } from 'node:module'
import { commanderErrorLine, runProgram } from './output.js'
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
    // Commander's own usage errors come out as distlab's: one line, one prefix.
    .configureOutput({ outputError: (str, write) => write(commanderErrorLine(str, 'distlab')) })
    .configureHelp({ subcommandTerm: (cmd) => cmd.name(), showGlobalOptions: false })
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
  groupCommands(program)
  for (const cmd of walk(program)) {
    cmd.exitOverride()
    cmd.description(unwrap(cmd.description()))
    // Subcommands of groups (`send unicast`, `deploy image`) print the same one-line errors.
    const path = commandPath(cmd)
    cmd.configureOutput({ outputError: (str, write) => write(commanderErrorLine(str, path)) })
    cmd.configureHelp({ subcommandTerm: (c) => c.name() })
  }
  return program
}

/** The groups of `distlab --help`, in order; a command not named here lands under "Other commands". */
const COMMAND_GROUPS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Cluster:', ['up', 'status', 'logs', 'kill', 'restart', 'down', 'token', 'master', 'node']],
  ['Messaging:', ['send', 'ping', 'group', 'multicast', 'anycast', 'bench']],
  ['Peer-to-peer (seed 002):', ['p2p', 'bootstrap']],
  [
    'Course programs (seeds 003, 004):',
    ['lineserver', 'download', 'gbnnode', 'dvnode', 'cnnode', 'topology'],
  ],
  ['Observe:', ['monitor', 'runs', 'analyze', 'plot', 'capture']],
  ['Faults:', ['link', 'partition', 'heal', 'scenario']],
  ['Your own programs:', ['run', 'check', 'maelstrom']],
  ['Deploy:', ['deploy']],
]

function groupCommands(program: Command): void {
  const rank = new Map<string, number>()
  let i = 0
  for (const [heading, names] of COMMAND_GROUPS)
    for (const name of names) {
      rank.set(name, i++)
      program.commands.find((c) => c.name() === name)?.helpGroup(heading)
    }
  for (const c of program.commands) if (!rank.has(c.name())) c.helpGroup('Other commands:')
  // Commander lists commands in the order they were added; put them in the groups' order.
  const ordered = [...program.commands].sort(
    (a, b) =>
      (rank.get(a.name()) ?? Number.MAX_SAFE_INTEGER) - (rank.get(b.name()) ?? Number.MAX_SAFE_INTEGER),
  )
  ;(program.commands as Command[]).splice(0, program.commands.length, ...ordered)
}

function walk(root: Command): Command[] {
  const out: Command[] = []
  const todo = [root]
  while (todo.length) {
    const c = todo.pop()!
    out.push(c)
    todo.push(...c.commands)
  }
  return out
}

/** Descriptions are written wrapped in the source; join their lines so commander wraps them to the terminal. */
function unwrap(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .join('\n\n')
}

function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}
export async function run(argv: string[]): Promise<void> {
  // `distlab ... | head`: a reader that goes away ends the command quietly, as with other Unix tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  await runProgram(buildProgram(), argv)
}
