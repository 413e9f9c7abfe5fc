// A check stopped from outside (Ctrl-C, or a test runner's timeout sending SIGTERM) takes the
// student's programs with it: nothing is left answering on the check's addresses to be mistaken for
// the next run's programs, and a later check on the same block refuses to take a leftover's answers
// as evidence. The check says on stderr which step it is at, in --json mode too. Block 97.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { binPath, runCli, waitFor } from '../helpers.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed002/', import.meta.url))
const BLOCK = '97'
const ARGS = [
  'check',
  'seed002',
  '--json',
  '--block',
  BLOCK,
  '--cwd',
  DIR,
  '--bootstrap',
  'python3 bootstrap.py --host {host} --port {port}',
  '--node',
  'python3 node.py --host {host} --port {port} --bootstrap {bootstrap}',
]
const ADDRESSES = [`127.${BLOCK}.1.1`, ...[1, 2, 3, 4].map((i) => `127.${BLOCK}.2.${i}`)]

function answers(host: string, port = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port })
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(1000, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

test('SIGTERM during a check stops its programs; --json still shows progress on stderr', async () => {
  const child = spawn(process.execPath, [binPath(), ...ARGS], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdout.on('data', (d) => (stdout += d))
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  try {
    // the peers item runs with every program up
    await waitFor('the check to reach its peers item', () => /checking peers \(4\/8\)/.test(stderr), 90_000)
    for (const host of ADDRESSES) assert.ok(await answers(host), `${host}:5000 answers while the check runs`)
    child.kill('SIGTERM')
    const code = await Promise.race([
      closed,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000).unref()),
    ])
    assert.equal(code, 1, `the check exits 1 on SIGTERM\n${stderr}`)
    assert.match(stderr, /^starting the seed002 programs$/m)
    assert.match(stderr, /^checking root \(1\/8\)$/m)
    assert.match(stderr, /SIGTERM: stopped 5 programs of the check/)
    assert.equal(stdout, '', 'stdout holds only the final JSON report, and there is none')
    await waitFor(
      'every program of the check to stop answering',
      async () => {
        for (const host of ADDRESSES) if (await answers(host)) return false
        return true
      },
      20_000,
      200,
    )
  } finally {
    child.kill('SIGKILL')
  }
})

test('a check refuses to start where a program already answers (a leftover would give false evidence)', async () => {
  const { createServer } = await import('node:net')
  const squatter = createServer((s) => s.destroy())
  await new Promise<void>((resolve) => squatter.listen(5000, `127.${BLOCK}.2.2`, () => resolve()))
  try {
    const r = await runCli(ARGS, { timeoutMs: 60_000 })
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const report = JSON.parse(r.stdout) as { items: Array<{ passed: boolean; evidence: string[] }> }
    assert.ok(report.items.every((i) => !i.passed))
    assert.match(
      report.items[0]!.evidence.join('\n'),
      new RegExp(`127\\.${BLOCK}\\.2\\.2:5000 already answers before the check started its program there`),
    )
    // and it started nothing: the bootstrap's address is free
    assert.equal(await answers(`127.${BLOCK}.1.1`), false)
  } finally {
    await new Promise<void>((resolve) => squatter.close(() => resolve()))
  }
})
