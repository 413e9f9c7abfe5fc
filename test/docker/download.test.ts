// Seed 003's cooperative download with every client in its own container, on a real Docker engine
// (started here when it is not running): `distlab download --mode docker` runs a line server and N
// client containers on a network of its own; the server sees N source addresses; a client or the
// master killed with `docker kill` mid-run costs no line. The image is the Docker tests' shared one
// (shared-image.ts: built once for what goes into it, kept); after() removes every container,
// network and volume of its projects.
// test-shares: none (its projects carry its pid)
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { runCommand } from '../../src/cluster/docker.js'
import { downloadLeftovers, removeDownloadProject } from '../../src/cluster/download-docker.js'
import { parseSubmitReply } from '../../src/protocols/download/index.js'
import { binPath, runCli } from '../helpers.js'
import { sharedTestImage } from './shared-image.js'

const ROOT = dirname(dirname(binPath()))
let TAG = ''
const PROJECT = `dltest${process.pid}`
const FAULT_PROJECT = `dltestfault${process.pid}`
const LINES = 1000
const RATE = 200

interface DockerRun {
  clients: number
  lines: number
  seconds: number
  requests: number
  duplicates: number
  submitted: boolean
  submitReply: string | null
  masterRank: number
  fromJournal: number
  killed: Array<{ rank: number; atLines: number; wasMaster: boolean }>
  perClient: Array<{ rank: number; container: string; address: string; alive: boolean; served: number }>
  serverAddresses: Array<{ address: string; served: number; rateLimited: number }>
}

before(async () => {
  await runCommand('bash', [join(ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
  for (const p of [PROJECT, FAULT_PROJECT]) await removeDownloadProject(p)
  TAG = await sharedTestImage()
})

after(async () => {
  for (const p of [PROJECT, FAULT_PROJECT]) await removeDownloadProject(p).catch(() => {})
})

function parseRun(stdout: string, stderr: string): DockerRun {
  try {
    return JSON.parse(stdout) as DockerRun
  } catch {
    throw new Error(`not one JSON object:\n${stdout}\n${stderr}`)
  }
}

function assertAllCorrect(r: DockerRun): void {
  assert.equal(r.submitted, true, r.submitReply ?? 'no reply')
  assert.equal(r.lines, LINES)
  const reply = parseSubmitReply(r.submitReply ?? '')
  assert.deepEqual(
    { ok: reply?.ok, correct: reply?.correct, incorrect: reply?.incorrect, read: reply?.read },
    { ok: true, correct: LINES, incorrect: 0, read: LINES },
    r.submitReply ?? '',
  )
}

describe('download --mode docker: every client its own container', { timeout: 600_000 }, () => {
  test('3 client containers and a line server: SUBMIT SUCCESS with every line right, 3 addresses seen', async () => {
    const res = await runCli(
      [
        'download',
        '--mode',
        'docker',
        '--clients',
        '3',
        '--lines',
        String(LINES),
        '--rate',
        String(RATE),
        '--id',
        'containers@test',
        '--image',
        TAG,
        '--project',
        PROJECT,
        '--json',
      ],
      { timeoutMs: 240_000 },
    )
    assert.equal(res.code, 0, res.stderr)
    const r = parseRun(res.stdout, res.stderr)
    assertAllCorrect(r)
    assert.equal(r.clients, 3)
    assert.equal(r.masterRank, 0)
    assert.deepEqual(r.killed, [])
    // Three containers, three addresses, and the server kept a session (its rate limit) for each.
    const addresses = r.perClient.map((c) => c.address)
    assert.equal(new Set(addresses).size, 3, addresses.join(' '))
    assert.deepEqual(r.serverAddresses.map((a) => a.address).sort(), [...addresses].sort())
    for (const a of r.serverAddresses) assert.ok(a.served > 0, `${a.address} was served nothing`)
    // The master submitted from its own container's address.
    assert.equal(parseSubmitReply(r.submitReply!)?.address, r.perClient[0]!.address)
    // Requests and duplicates as the server counted them.
    const served = r.serverAddresses.reduce((s, a) => s + a.served, 0)
    const refused = r.serverAddresses.reduce((s, a) => s + a.rateLimited, 0)
    assert.equal(r.requests, served + refused)
    assert.equal(r.duplicates, served - LINES)
    assert.deepEqual(await downloadLeftovers(PROJECT), [], 'containers, network and volume removed')
  })

  test('docker kill of a member and then of the master: a successor finishes, no line lost', async () => {
    const res = await runCli(
      [
        'download',
        '--mode',
        'docker',
        '--clients',
        '4',
        '--lines',
        String(LINES),
        '--rate',
        String(RATE),
        '--id',
        'faults@test',
        '--image',
        TAG,
        '--project',
        FAULT_PROJECT,
        '--kill-client-at',
        '150',
        '--kill-master-at',
        '400',
        '--json',
      ],
      { timeoutMs: 240_000 },
    )
    assert.equal(res.code, 0, res.stderr)
    const r = parseRun(res.stdout, res.stderr)
    assertAllCorrect(r)
    const member = r.killed.find((k) => !k.wasMaster)
    const master = r.killed.find((k) => k.wasMaster)
    assert.ok(member && member.rank > 0, JSON.stringify(r.killed))
    assert.ok(master && master.rank === 0, JSON.stringify(r.killed))
    assert.equal(r.perClient[member.rank]!.alive, false)
    assert.equal(r.perClient[0]!.alive, false)
    // A live client took over and submitted from its own address...
    assert.notEqual(r.masterRank, 0)
    assert.notEqual(r.masterRank, member.rank)
    assert.equal(parseSubmitReply(r.submitReply!)?.address, r.perClient[r.masterRank]!.address)
    // ...starting from every line the killed master had merged (the shared journal).
    assert.ok(
      r.fromJournal >= master.atLines,
      `the successor read ${r.fromJournal} lines back; the master had ${master.atLines} when killed`,
    )
    assert.equal(new Set(r.serverAddresses.map((a) => a.address)).size, 4)
    assert.deepEqual(await downloadLeftovers(FAULT_PROJECT), [], 'containers, network and volume removed')
  })

  test('bad usage exits 2 before anything starts', async () => {
    const res = await runCli([
      'download',
      '--mode',
      'docker',
      '--clients',
      '2',
      '--server',
      '127.50.9.1:9801',
    ])
    assert.equal(res.code, 2, res.stderr)
    assert.match(res.stderr, /--server/)
  })
})
