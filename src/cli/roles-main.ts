// The entry for `distlab node` and `distlab master`: only the role commands, so that a node
// process does not load every other command's dependencies (plots, SQLite, Docker clients).
import { Command } from 'commander'
import { registerRoleCommands } from './commands/roles.js'
import { commanderErrorLine, runProgram } from './output.js'

export async function run(argv: string[]): Promise<void> {
  const program = new Command('distlab')
    .option('--state-dir <dir>', 'where the local cluster keeps its record and logs')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(commanderErrorLine(str, 'distlab')) })
  registerRoleCommands(program)
  for (const cmd of program.commands) {
    cmd.exitOverride()
    cmd.configureOutput({
      outputError: (str, write) => write(commanderErrorLine(str, `distlab ${cmd.name()}`)),
    })
  }
  await runProgram(program, argv)
}
