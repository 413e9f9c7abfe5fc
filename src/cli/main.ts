// The command line: a thin layer that parses arguments and calls the library. Each command lives
// in its own file under commands/ and registers itself here. Errors are caught in one place and
// printed as one line.
import { Command } from 'commander'
import { createRequire } from 'node:module'
import { commanderErrorLine, runProgram } from './output.js'

const pkg = createRequire(import.meta.url)('../../../package.json') as {
  version: string
  description: string
}

type Register = (program: Command) => void

/**
 * The modules under commands/, each with the top-level commands it registers (test/cli/lazy-commands
 * checks the names against the modules). A command loads its own module only: every module imports
 * its libraries (a cluster, SQLite, plots, Docker clients) at the top, and loading all of them cost
 * every short command (`status`, `send`, `link set`) most of its start. The build bundles these
 * dynamic imports into main.bundle.cjs as modules that run when imported, so one bundle and one code
 * cache still serve every command.
 */
export const COMMAND_MODULES: ReadonlyArray<readonly [readonly string[], () => Promise<Register>]> = [
  [
    ['up', 'status', 'logs', 'kill', 'restart', 'down', 'token'],
    async () => (await import('./commands/cluster.js')).registerClusterCommands,
  ],
  [['master', 'node'], async () => (await import('./commands/roles.js')).registerRoleCommands],
  [
    ['link', 'partition', 'heal', 'ping'],
    async () => (await import('./commands/link.js')).registerLinkCommands,
  ],
  [['monitor'], async () => (await import('./commands/monitor.js')).registerMonitorCommands],
  [
    ['send', 'group', 'anycast', 'bench', 'multicast'],
    async () => (await import('./commands/messaging.js')).registerMessagingCommands,
  ],
  [['bootstrap', 'p2p'], async () => (await import('./commands/p2p.js')).registerP2pCommands],
  [['lineserver', 'download'], async () => (await import('./commands/download.js')).registerDownloadCommands],
  [
    ['gbnnode', 'dvnode', 'cnnode', 'topology'],
    async () => (await import('./commands/course.js')).registerCourseCommands,
  ],
  [
    ['runs', 'analyze', 'capture', 'plot'],
    async () => (await import('./commands/analyze.js')).registerAnalyzeCommands,
  ],
  [['deploy'], async () => (await import('./commands/deploy.js')).registerDeployCommands],
  [['scenario'], async () => (await import('./commands/scenario.js')).registerScenarioCommands],
  [['check'], async () => (await import('./commands/check.js')).registerCheckCommands],
  [['maelstrom'], async () => (await import('./commands/maelstrom.js')).registerMaelstromCommands],
  [['run', 'pause', 'resume'], async () => (await import('./commands/run.js')).registerRunCommands],
]

/** The command `argv` (process.argv) names: its first word that is not an option (or --state-dir's value). */
export function commandNamed(argv: readonly string[]): string | undefined {
  const args = argv.slice(2)
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--state-dir') i++
    else if (!args[i]!.startsWith('-')) return args[i]
  }
  return undefined
}

/**
 * The program with every command, or, given a command line that names a known command, with that
 * command's module only (its help and its errors are the same either way). Help, a bare `distlab`,
 * `--version` and an unknown command get every command: the list, and commander's suggestions.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const name = argv && commandNamed(argv)
  const own = name === undefined ? undefined : COMMAND_MODULES.find(([names]) => names.includes(name))
  const registers = await Promise.all((own ? [own] : COMMAND_MODULES).map(([, load]) => load()))
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
  for (const register of registers) register(program)
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
  await runProgram(await buildProgram(argv), argv)
}
