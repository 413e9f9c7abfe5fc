// `distlab <command>` loads only the module of that command (src/cli/main.ts, COMMAND_MODULES): the
// table that says which module registers which command must stay true, or a command would vanish
// from the command line (or run from the wrong module) while `--help` still lists it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Command } from 'commander'
import { buildProgram, commandNamed, COMMAND_MODULES } from '../../src/cli/main.js'
import { runCli } from '../helpers.js'

const argv = (...words: string[]) => ['node', 'distlab', ...words]

test('every module registers exactly the commands the table names for it, and no command is named twice', async () => {
  const seen = new Set<string>()
  for (const [names, load] of COMMAND_MODULES) {
    const program = new Command('distlab')
    ;(await load())(program)
    assert.deepEqual(
      program.commands.map((c) => c.name()).sort(),
      [...names].sort(),
      `the module registering ${names.join(', ')}`,
    )
    for (const n of names) {
      assert.ok(!seen.has(n), `${n} is in two modules`)
      seen.add(n)
    }
  }
  // The whole program is those commands and no other.
  const all = await buildProgram()
  assert.deepEqual(all.commands.map((c) => c.name()).sort(), [...seen].sort())
})

test('a command line gets the program with its own command only; help, --version and unknown words get all', async () => {
  const names = async (...words: string[]) =>
    (await buildProgram(argv(...words))).commands.map((c) => c.name()).sort()
  assert.deepEqual(await names('status'), ['down', 'kill', 'logs', 'restart', 'status', 'token', 'up'])
  assert.deepEqual(await names('--state-dir', '/tmp/x', 'link', 'set', '--all'), [
    'heal',
    'link',
    'partition',
    'ping',
  ])
  const everything = (await buildProgram()).commands.length
  for (const words of [[], ['--help'], ['help', 'status'], ['--version'], ['stauts']])
    assert.equal((await names(...words)).length, everything, words.join(' ') || '(no words)')
  assert.equal(commandNamed(argv('--state-dir', 'status', 'logs')), 'logs')
  assert.equal(commandNamed(argv('--state-dir=/x', 'runs')), 'runs')
})

test('through the real command line: a loaded command runs, help lists every command, a typo gets a suggestion', async () => {
  const status = await runCli(['--state-dir', '/nonexistent/distlab-lazy', 'status'])
  assert.equal(status.code, 1, status.stderr)
  assert.match(status.stderr, /^distlab: no cluster is running/m)
  const help = await runCli(['--help'])
  assert.equal(help.code, 0)
  for (const name of ['up', 'status', 'send', 'runs', 'maelstrom', 'check', 'deploy', 'run'])
    assert.match(help.stdout, new RegExp(`^  ${name}\\b`, 'm'), `--help lists ${name}`)
  const typo = await runCli(['stauts'])
  assert.equal(typo.code, 2)
  assert.match(typo.stderr, /Did you mean status\?/)
  const sub = await runCli(['send', 'unicast', '--help'])
  assert.equal(sub.code, 0, sub.stderr)
  assert.match(sub.stdout, /^Usage: distlab send unicast/m)
})
