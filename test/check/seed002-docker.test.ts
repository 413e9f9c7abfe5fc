// `distlab check seed002 --mode docker`: the correct Flask node and bootstrap of test/check/programs
// in an image built offline from this machine's python3 and python3-flask (test/foreign's
// python-image.ts), run as containers bootstrap, node1..node4 on Proj1-distributed-network through
// distlab run's docker mode, on the real engine. Every required item passes, and no container is left.
// test-lane: host (the Docker engine's bridges are on the host's network)
// test-shares: proj1-network container-names (bootstrap, node1..node5 on Proj1-distributed-network)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers.js'
import { buildPythonImage } from '../foreign/python-image.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed002/', import.meta.url))
const IMAGE = 'distlab-check-seed002-py:test'

test('seed002 in docker mode: containers on Proj1-distributed-network pass every required item (exit 0)', async () => {
  buildPythonImage(IMAGE, DIR)
  const r = await runCli(
    [
      'check',
      'seed002',
      '--mode',
      'docker',
      '--node-image',
      IMAGE,
      '--bootstrap-image',
      IMAGE,
      '--bootstrap',
      'python3 /app/bootstrap.py --host {host} --port {port}',
      '--node',
      'python3 /app/node.py --host {host} --port {port} --bootstrap {bootstrap}',
    ],
    { timeoutMs: 300_000 },
  )
  assert.equal(r.code, 0, r.stdout + r.stderr)
  for (const id of ['root', 'message', 'register', 'peers', 'many', 'bad-json', 'no-bootstrap'])
    assert.match(r.stdout, new RegExp(`^PASS  ${id}  `, 'm'))
  assert.match(
    r.stdout,
    /started container node5 at http:\/\/[\d.]+:5000 with \{bootstrap\} = http:\/\/node1:5000/,
  )
  assert.match(r.stdout, /required 7\/7: PASS$/m)
  const left = execFileSync('docker', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' })
    .split('\n')
    .filter((n) => /^(bootstrap|node\d+)$/.test(n))
  assert.deepEqual(left, [], 'no container left')
})
