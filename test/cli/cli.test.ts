import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli } from '../helpers.js'

test('every command has --help and exits 0 with it', async () => {
  const top = await runCli(['--help'])
  assert.equal(top.code, 0)
  const commands = [...top.stdout.matchAll(/^ {2}([a-z][a-z0-9-]*)\b/gm)]
    .map((m) => m[1]!)
    .filter((c) => c !== 'help')
  for (const c of [
    'up',
    'down',
    'status',
    'logs',
    'master',
    'node',
    'link',
    'partition',
    'heal',
    'ping',
    'monitor',
    'kill',
    'restart',
  ])
    assert.ok(commands.includes(c), `distlab --help lists ${c}`)
  for (const c of commands) {
    const r = await runCli([c, '--help'])
    assert.equal(r.code, 0, `distlab ${c} --help`)
    assert.match(r.stdout, /^Usage: distlab /m)
  }
})

test('usage errors exit 2 with a message; commands without a cluster exit 1 and say so', async () => {
  const unknown = await runCli(['frobnicate'])
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /unknown command/)
  const home = { DISTLAB_HOME: '/nonexistent-distlab-home' }
  const status = await runCli(['status'], { env: home })
  assert.equal(status.code, 1)
  assert.match(status.stderr, /^distlab: no cluster is running/m)
  const down = await runCli(['down'], { env: home })
  assert.equal(down.code, 0)
  assert.match(down.stdout, /no cluster is running/)
})
