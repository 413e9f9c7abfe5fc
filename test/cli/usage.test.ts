// What a newcomer meets first (issue 16): every error is one line with one prefix and the
// documented exit code (2 for usage, 1 for a failed action), hints name a command that works from
// where the user is, and `--help` is grouped and fits 80 columns. Cluster on block 25
// (master 127.25.1.1, nodes 127.25.2.x).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { binPath, runCli, scratchDir, waitFor, type CliResult } from '../helpers.js'

const ROOT = dirname(dirname(binPath()))
/** PATH without any distlab on it (CI's, and a fresh clone's after `npm install`). */
const BARE_PATH = (process.env.PATH ?? '')
  .split(':')
  .filter((d) => !d.includes('node_modules'))
  .join(':')

function oneLine(r: CliResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`)
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`)
  assert.match(lines[0]!, /^distlab: /, what)
  assert.doesNotMatch(lines[0]!, /https?:\/\//, `${what}: no internal URL`)
  return lines[0]!
}

test("commander's own usage errors are one distlab line with exit 2", async () => {
  const cases = [
    ['frobnicate'],
    ['up', '--nodez', '3'],
    ['send', 'unicast', 'hi'],
    ['plot'],
    ['analyze', '--format'],
  ]
  for (const args of cases) {
    const line = oneLine(await runCli(args), 2, `distlab ${args.join(' ')}`)
    assert.doesNotMatch(line, /error:/)
  }
  const typo = oneLine(await runCli(['stauts']), 2, 'distlab stauts')
  assert.match(typo, /status/, 'suggests the command meant')
})

test('a run that does not exist is a usage mistake for analyze and plot alike (exit 2)', async () => {
  const env = { DISTLAB_RUNS_DIR: scratchDir() }
  oneLine(await runCli(['analyze', 'nosuchrun'], { env }), 2, 'analyze nosuchrun')
  oneLine(await runCli(['plot', 'nosuchrun', '--out', scratchDir()], { env }), 2, 'plot nosuchrun')
  oneLine(await runCli(['plot'], { env }), 2, 'plot without --out')
})

test('--help is grouped, in the documented groups, and no line is wider than 80 columns', async () => {
  for (const args of [['--help'], ['download', '--help'], ['gbnnode', '--help'], ['analyze', '--help']]) {
    const r = await runCli(args)
    assert.equal(r.code, 0)
    for (const l of r.stdout.split('\n'))
      assert.ok(l.length <= 80, `distlab ${args.join(' ')}: a line of ${l.length} columns: ${l}`)
  }
  const top = (await runCli(['--help'])).stdout
  const headings = [...top.matchAll(/^(\S[^:\n]*):$/gm)].map((m) => m[1])
  for (const h of ['Cluster', 'Messaging', 'Observe', 'Faults', 'Deploy'])
    assert.ok(headings.includes(h), `a "${h}:" group in:\n${top}`)
  assert.ok(headings.some((h) => h!.startsWith('Course programs')))
  assert.ok(headings.some((h) => h!.startsWith('Peer-to-peer')))
  // Cluster commands come first, in the order a newcomer uses them.
  assert.ok(
    top.indexOf('\n  up ') < top.indexOf('\n  status ') &&
      top.indexOf('\n  status ') < top.indexOf('\n  send '),
  )
  const dl = (await runCli(['download', '--help'])).stdout
  for (const h of ['Bench options', 'Docker options', 'Client options'])
    assert.match(dl, new RegExp(`^${h} \\(.*\\):$`, 'm'), `download --help has "${h}"`)
})

test('hints name the form that works from here: npx in the checkout, the bin path elsewhere', async () => {
  const env = { DISTLAB_HOME: '/nonexistent-distlab-home', PATH: BARE_PATH }
  const inside = oneLine(await runCli(['status'], { env, cwd: ROOT }), 1, 'status in the checkout')
  assert.match(inside, /`npx distlab up`/)
  const elsewhere = oneLine(await runCli(['status'], { env, cwd: tmpdir() }), 1, 'status elsewhere')
  assert.match(elsewhere, /`node \S*bin\/distlab\.js up`/)
})

test(
  'under `npx distlab` in the checkout, hints still say `npx distlab` (npx puts its own cached bin on the PATH)',
  { timeout: 120_000 },
  async () => {
    // A fresh clone's user types `npx distlab status`; npm 11 links the checkout into its _npx cache
    // and runs the command with that cache's bin on PATH, where the user's shell has no distlab.
    const r = await new Promise<CliResult>((resolve, reject) => {
      execFile(
        'npx',
        ['--no-install', 'distlab', 'status'],
        {
          cwd: ROOT,
          timeout: 110_000,
          env: { ...process.env, PATH: BARE_PATH, NO_COLOR: '1', DISTLAB_HOME: '/nonexistent-distlab-home' },
        },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
          if (code === null) reject(err ?? new Error('npx did not exit'))
          else resolve({ code, stdout, stderr })
        },
      )
    })
    const line = oneLine(r, 1, 'npx distlab status without a cluster')
    assert.match(line, /`npx distlab up`/)
  },
)

test(
  '`npm install -g --prefix <dir> .` puts distlab on the PATH; then hints say `distlab`',
  { timeout: 180_000 },
  async () => {
    const prefix = mkdtempSync(join(tmpdir(), 'distlab-prefix-'))
    try {
      await promisify(execFile)(
        'npm',
        ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ROOT],
        {
          timeout: 170_000,
        },
      )
      const PATH = `${join(prefix, 'bin')}:${BARE_PATH}`
      const help = await promisify(execFile)('distlab', ['--help'], {
        env: { ...process.env, PATH },
        cwd: tmpdir(),
      })
      assert.match(help.stdout, /^Usage: distlab /)
      const r = await runCli(['status'], {
        env: { PATH, DISTLAB_HOME: '/nonexistent-distlab-home' },
        cwd: tmpdir(),
      })
      assert.match(oneLine(r, 1, 'status with distlab on PATH'), /`distlab up`/)
    } finally {
      rmSync(prefix, { recursive: true, force: true })
    }
  },
)

describe('a running cluster: `up --open`, unknown node names', () => {
  const home = scratchDir()
  const env = { DISTLAB_HOME: home, DISTLAB_RUNS_DIR: scratchDir() }
  const cli = (...args: string[]) => runCli(args, { env, timeoutMs: 90_000 })

  // The platform's opener, as `up --open` finds it on the PATH: here one that records its argument.
  const bin = scratchDir()
  const opened = join(bin, 'opened.txt')
  writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$@" >> ${opened}\n`, { mode: 0o755 })

  before(async () => {
    const up = await runCli(['up', '--detach', '--block', '25', '--nodes', '2', '--open'], {
      env: { ...env, PATH: `${bin}:${process.env.PATH}` },
      timeoutMs: 90_000,
    })
    assert.equal(up.code, 0, up.stderr)
    const url = /dashboard: (http:\/\/\S+)/.exec(up.stdout)?.[1]
    assert.ok(url, `up prints the dashboard URL:\n${up.stdout}`)
    await waitFor(
      'the opener to be called',
      () => existsSync(opened) && readFileSync(opened, 'utf8').trim() === url,
    )
  })
  after(async () => {
    await cli('down')
  })

  test('send, kill, restart, logs, link, ping and partition all exit 2 with one line naming the valid nodes', async () => {
    for (const args of [
      ['send', 'unicast', '--from', 'node1', '--to', 'node9', 'hi'],
      ['send', 'unicast', '--from', 'node9', '--to', 'node1', 'hi'],
      ['send', 'broadcast', '--from', 'node9', 'hi'],
      ['kill', 'node9'],
      ['restart', 'node9'],
      ['logs', 'node9'],
      ['link', 'set', 'node1', 'node9', '--loss', '0.1'],
      ['ping', 'node1', 'node9'],
      ['partition', 'node1', 'node9'],
    ]) {
      const line = oneLine(await cli(...args), 2, args.join(' '))
      assert.match(line, /node9/, args.join(' '))
      assert.match(line, /master, node1, node2/, `${args.join(' ')} lists the valid names`)
    }
  })
})
