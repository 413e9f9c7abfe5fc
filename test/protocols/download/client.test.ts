// `distlab download client`: one cooperating client per process (what each container runs), the
// clients finding each other by address and port alone. Killing the master's process mid-run: the
// next rank takes over from the shared journal, the others exit 0 once told the text is in. The
// tests run side by side (each mostly waits on the rate-limited line server), each with a line
// server and addresses of its own.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DownloadClient,
  LineServer,
  parseSubmitReply,
  readJournal,
} from '../../../src/protocols/download/index.js'

const BIN = join(process.cwd(), 'bin', 'distlab.js')
const SERVER_HOST = '127.50.5.1'
/** Each client's own address; the channel port is the same for all, as in containers. */
const CLIENT_HOSTS = ['127.50.5.11', '127.50.5.12', '127.50.5.13']
const CHANNEL_PORT = 9900
const LIB_HOSTS = ['127.50.6.11', '127.50.6.12']
/** The library test's own line server. */
const LIB_SERVER_HOST = '127.50.6.1'

interface ClientRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function startClient(rank: number, serverPort: number, journal: string, rate: number) {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'download',
      'client',
      '--rank',
      String(rank),
      '--peers',
      CLIENT_HOSTS.map((h) => `${h}:${CHANNEL_PORT}`).join(','),
      '--listen',
      CLIENT_HOSTS[rank]!,
      '--bind',
      CLIENT_HOSTS[rank]!,
      '--server',
      `${SERVER_HOST}:${serverPort}`,
      '--rate',
      String(rate),
      '--id',
      'processes@test',
      '--journal',
      journal,
      '--timeout',
      '120000',
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const done = new Promise<ClientRun>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, done }
}

describe('download client: one client per process', { timeout: 200_000, concurrency: true }, () => {
  let server: LineServer
  let libServer: LineServer
  let dir: string
  const children: ChildProcess[] = []
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'distlab-download-client-'))
    server = new LineServer({ host: SERVER_HOST, port: 0, ratePerSecond: 300 })
    await server.start()
    libServer = new LineServer({ host: LIB_SERVER_HOST, port: 0, ratePerSecond: 300 })
    await libServer.start()
  })
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await server.stop()
    await libServer.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('two DownloadClients by address alone: the master submits, the member hears it', async () => {
    libServer.resetAll()
    const peers = LIB_HOSTS.map((host) => ({ host, port: CHANNEL_PORT }))
    const clients = LIB_HOSTS.map(
      (h, rank) =>
        new DownloadClient({
          server: libServer.address(),
          rank,
          peers,
          listenHost: h,
          localAddress: h,
          id: 'lib@test',
          lines: 200,
          ratePerSecond: 2000,
        }),
    )
    const [master, member] = await Promise.all(clients.map((c) => c.run()))
    assert.equal(master!.role, 'master')
    assert.equal(member!.role, 'member')
    const reply = parseSubmitReply(master!.submitReply!)
    assert.equal(reply?.correct, 200)
    assert.equal(reply?.address, LIB_HOSTS[0])
    assert.equal(member!.submitReply, master!.submitReply)
    assert.equal(member!.masterRank, 0)
    for (const h of LIB_HOSTS) assert.ok((libServer.session(h)?.served ?? 0) > 0, `${h} fetched nothing`)
  })

  test('SIGKILL of the master process: rank 1 takes over from the journal; all 1000 lines right', async () => {
    server.resetAll()
    const journal = join(dir, 'shared.jsonl')
    const runs = [0, 1, 2].map((r) => startClient(r, server.address().port, journal, 300))
    children.push(...runs.map((r) => r.child))
    // Kill the master once it has merged a good part of the text.
    let inJournal = 0
    const deadline = Date.now() + 90_000
    while (Date.now() < deadline) {
      inJournal = readJournal(journal, 1000).size
      if (inJournal >= 300) break
      if (runs[0]!.child.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(inJournal >= 300, `the master's journal held only ${inJournal} lines`)
    runs[0]!.child.kill('SIGKILL')
    const [killed, next, last] = await Promise.all(runs.map((r) => r.done))
    assert.equal(killed!.signal, 'SIGKILL')
    assert.equal(next!.code, 0, next!.stderr)
    assert.equal(last!.code, 0, last!.stderr)
    const m = JSON.parse(next!.stdout) as { role: string; fromJournal: number; submitReply: string }
    const other = JSON.parse(last!.stdout) as { role: string; submitReply: string; masterRank: number }
    assert.equal(m.role, 'master')
    assert.ok(m.fromJournal >= inJournal, `read back ${m.fromJournal} < ${inJournal} journaled`)
    const reply = parseSubmitReply(m.submitReply)
    assert.deepEqual(
      { ok: reply?.ok, correct: reply?.correct, incorrect: reply?.incorrect, address: reply?.address },
      { ok: true, correct: 1000, incorrect: 0, address: CLIENT_HOSTS[1] },
    )
    assert.equal(other.role, 'member')
    assert.equal(other.masterRank, 1)
    assert.equal(other.submitReply, m.submitReply)
  })

  test('bad usage exits 2', async () => {
    const cases = [
      ['download', 'client', '--peers', 'a:1,b:2', '--server', 'x:1'],
      ['download', 'client', '--rank', '2', '--peers', 'a:1,b:2', '--server', 'x:1'],
      ['download', 'client', '--rank', '0', '--server', 'x:1'],
      ['download', '--rank', '0', '--server', 'x:1'],
      ['download', '--mode', 'nope', '--server', 'x:1'],
    ]
    for (const args of cases) {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (d) => (stderr += d))
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`)
    }
  })
})
