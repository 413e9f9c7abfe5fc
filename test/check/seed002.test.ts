// `distlab check seed002` against a student's Flask node and bootstrap written here in Python
// (Debian's python3 and python3-flask): the correct pair passes every required item, the pair whose
// discovery dies with the bootstrap fails exactly the no-bootstrap item, with evidence naming the
// node the others never learned. Programs run on 127.24.x.y (this suite's loopback block).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed002/', import.meta.url))
const BOOTSTRAP = 'python3 bootstrap.py --host {host} --port {port}'
const node = (file: string) => `python3 ${file} --host {host} --port {port} --bootstrap {bootstrap}`

interface Report {
  seed: string
  items: Array<{ id: string; title: string; required: boolean; passed: boolean; evidence: string[] }>
  passed: number
  total: number
  ok: boolean
}

test('a correct node and bootstrap pass every required seed002 item (exit 0, one line per item)', async () => {
  const r = await runCli(
    ['check', 'seed002', '--block', '24', '--cwd', DIR, '--bootstrap', BOOTSTRAP, '--node', node('node.py')],
    { timeoutMs: 180_000 },
  )
  assert.equal(r.code, 0, r.stdout + r.stderr)
  for (const id of ['root', 'message', 'register', 'peers', 'many', 'bad-json', 'lossy', 'no-bootstrap'])
    assert.match(r.stdout, new RegExp(`^PASS  ${id}  `, 'm'))
  assert.match(r.stdout, /node2 log: Received message from Node1: Hello Node2!/)
  assert.match(r.stdout, /GET http:\/\/127\.24\.2\.1:5000\/ → 200 .*Node [0-9a-f-]{36} is running!/)
  // lossy: a second cluster through `distlab run`, every link 10% loss and 50 ms delay in the relays
  assert.match(r.stdout, /every link 10% loss and 50 ms delay/)
  assert.match(r.stdout, /^seed002: 8\/8 items passed, required 7\/7: PASS$/m)
})

test('a node that only ever asks the bootstrap fails the no-bootstrap item, and only it (exit 1)', async () => {
  const r = await runCli(
    [
      'check',
      'seed002',
      '--json',
      '--block',
      '24',
      '--cwd',
      DIR,
      '--discovery-timeout',
      '10s',
      '--bootstrap',
      BOOTSTRAP,
      '--node',
      node('node_broken.py'),
    ],
    { timeoutMs: 180_000 },
  )
  assert.equal(r.code, 1, r.stdout + r.stderr)
  const report = JSON.parse(r.stdout) as Report
  assert.equal(report.seed, 'seed002')
  assert.equal(report.ok, false)
  assert.equal(report.total, 8)
  const failed = report.items.filter((i) => !i.passed)
  assert.deepEqual(
    failed.map((i) => i.id),
    ['no-bootstrap'],
    JSON.stringify(failed, null, 2),
  )
  assert.equal(failed[0]!.required, true)
  assert.ok(failed[0]!.evidence.some((e) => /does not list http:\/\/127\.24\.2\.5:5000/.test(e)))
  assert.equal(report.passed, 7)
})
