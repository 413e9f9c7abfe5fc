// Issue 14, item 17: the run store when its master dies. SIGTERM (and SIGINT) flush what is queued
// and close the run ("ended", every event written); SIGKILL leaves the run open, and it is marked
// "interrupted" — by `distlab runs` at once (its writer's pid is gone) and in the file itself when a
// run store is next opened in the folder, with the events known lost. Real master processes on
// 127.62.201.x, the real CLI.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { RunReader, RunStore } from '../../src/monitor/store.js'
import { binPath, postJson, runCli, scratchDir, waitFor } from '../helpers.js'

const dir = scratchDir('distlab-run-interrupted-')
const runs = join(dir, 'runs')
const children: ChildProcess[] = []
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

interface RunRow {
  id: string
  file: string
  status: string
  open: boolean
  events: number
  lostAtInterrupt?: number
}

async function startMaster(host: string): Promise<{ child: ChildProcess; runFile: string; url: string }> {
  const state = join(dir, `state-${host}`)
  const child = spawn(
    process.execPath,
    [
      binPath(),
      '--state-dir',
      state,
      'master',
      '--name',
      'master',
      '--host',
      host,
      '--port',
      '5000',
      '--frame-port',
      '7000',
      '--dashboard-port',
      '0',
    ],
    { env: { ...process.env, DISTLAB_RUNS_DIR: runs }, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  children.push(child)
  const rec = await waitFor(
    'the master to record its run',
    () => JSON.parse(readFileSync(join(state, 'dashboard.json'), 'utf8')) as { runFile: string; pid: number },
    60_000,
  )
  assert.equal(rec.pid, child.pid)
  return { child, runFile: rec.runFile, url: `http://${host}:5000` }
}

async function sendEvents(url: string, n: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => ({
    ts: Date.now(),
    node: 'node1',
    proto: 'unicast',
    kind: 'send',
    msgId: `m${i}`,
    src: 'node1',
    dst: 'node2',
    bytes: 10,
    transport: 'udp',
  }))
  const r = await postJson(`${url}/telemetry`, { node: 'node1', seq: 1, lost: 0, events })
  assert.ok(r.status < 300, `POST /telemetry: ${r.status} ${JSON.stringify(r.body)}`)
}

const listRunsCli = async (): Promise<RunRow[]> => {
  const r = await runCli(['runs', '--json'], { env: { DISTLAB_RUNS_DIR: runs }, timeoutMs: 60_000 })
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as { runs: RunRow[] }).runs
}

const exit = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))

test('SIGTERM and SIGINT: the master flushes and closes its run (ended, every event written)', async () => {
  for (const [sig, host] of [
    ['SIGTERM', '127.62.201.1'],
    ['SIGINT', '127.62.201.2'],
  ] as const) {
    const m = await startMaster(host)
    await sendEvents(m.url, 300)
    m.child.kill(sig)
    await exit(m.child)
    const row = (await listRunsCli()).find((r) => r.file === m.runFile)!
    assert.equal(row.status, 'ended', sig)
    assert.equal(row.open, false)
    assert.equal(row.events, 300, `${sig}: every event reached the file`)
  }
})

test('SIGKILL: the run is shown interrupted, and marked so with its loss when a store next opens', async () => {
  const m = await startMaster('127.62.201.3')
  await sendEvents(m.url, 200)
  const before = (await listRunsCli()).find((r) => r.file === m.runFile)!
  assert.equal(before.status, 'recording', 'a live master: the run is recording')
  m.child.kill('SIGKILL')
  await exit(m.child)

  const shown = (await listRunsCli()).find((r) => r.file === m.runFile)!
  assert.equal(shown.status, 'interrupted')
  assert.equal(shown.open, false)
  const table = await runCli(['runs'], { env: { DISTLAB_RUNS_DIR: runs }, timeoutMs: 60_000 })
  assert.match(table.stdout, new RegExp(`${shown.id}.*interrupted`))

  // The next store opened in the folder writes the mark into the file.
  const next = new RunStore({ dir: runs })
  await next.start()
  await next.stop()
  assert.ok(next.interruptedRuns.includes(shown.id), `marked: ${next.interruptedRuns.join(',')}`)
  const r = new RunReader(m.runFile)
  try {
    const meta = r.meta()
    assert.equal(typeof meta.interruptedAt, 'number')
    assert.equal(typeof meta.lostAtInterrupt, 'number')
    // Handed to the store and written: the count of those never written is what was lost.
    assert.equal(meta.lostAtInterrupt, Math.max(0, Number(meta.received ?? 0) - r.count()))
    assert.equal(r.summary().status, 'interrupted')
  } finally {
    r.close()
  }
  // The other masters' runs, closed properly, are not marked.
  assert.equal(next.interruptedRuns.length, 1)
})
