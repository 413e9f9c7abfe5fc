// `distlab check seed000 --mode docker`: the master and node of test/check/programs/seed000 in an
// image built offline from this machine's python3 (test/foreign's python-image.ts: no registry is
// reachable here), run as attached containers master, node1..node4 on a docker network of this
// file's own (the handout's Proj1-distributed-network is what users get by default; another name
// keeps this test apart from the other docker tests). The correct master passes every item, the
// wire counted in each container's namespace; the master whose multicast goes to every node fails
// exactly the multicast item. No container or network is left.
// test-lane: host (the Docker engine's bridges are on the host's network)
// test-shares: container-names (containers named master, node1..node4)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers.js'
import { buildPythonImage } from '../foreign/python-image.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed000/', import.meta.url))
const IMAGE = 'distlab-check-seed000-py:test'
const NETWORK = 's19-seed000-check'
const master = (file: string) => `python3 /app/${file} --host {host} --port {port} --nodes {nodes}`
const NODE = 'python3 /app/node.py --host {host} --port {port} --name {name}'

function leftovers(): string[] {
  const containers = execFileSync('docker', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' })
    .split('\n')
    .filter((n) => /^(master|node\d+)$/.test(n))
  const networks = execFileSync('docker', ['network', 'ls', '--format', '{{.Name}}'], { encoding: 'utf8' })
    .split('\n')
    .filter((n) => n === NETWORK)
  return [...containers, ...networks]
}

const check = (file: string, json = false) =>
  runCli(
    [
      'check',
      'seed000',
      '--mode',
      'docker',
      '--network',
      NETWORK,
      '--node-image',
      IMAGE,
      '--master',
      master(file),
      '--node',
      NODE,
      ...(json ? ['--json'] : []),
    ],
    { timeoutMs: 300_000 },
  )

test('seed000 in docker mode: the correct master and nodes as containers pass every item, seen on each container’s wire (exit 0)', async () => {
  buildPythonImage(IMAGE, DIR)
  const r = await check('master.py')
  assert.equal(r.code, 0, r.stdout + r.stderr)
  for (const id of ['cluster', 'broadcast', 'unicast', 'multicast', 'broadcast-traffic'])
    assert.match(r.stdout, new RegExp(`^PASS  ${id}  `, 'm'))
  assert.match(r.stdout, /master master:5000, node1 node1:5000/)
  assert.match(r.stdout, new RegExp(`containers on the docker network ${NETWORK}`))
  assert.match(r.stdout, /node2\| node2 received broadcast: dl-bcast-/)
  assert.match(r.stdout, /^ +yours +4 +0%$/m)
  assert.match(r.stdout, /node1 1 in\/0 out, node2 0 in\/0 out, node3 1 in\/0 out, node4 0 in\/0 out/)
  assert.match(r.stdout, /^seed000: 5\/5 items passed, required 4\/4: PASS$/m)
  assert.deepEqual(leftovers(), [], 'no container or network left')
})

test('seed000 in docker mode: a multicast sent to every node fails the multicast item on the wire (exit 1)', async () => {
  buildPythonImage(IMAGE, DIR)
  const r = await check('master_broken.py', true)
  assert.equal(r.code, 1, r.stdout + r.stderr)
  const report = JSON.parse(r.stdout) as {
    items: Array<{ id: string; passed: boolean; evidence: string[] }>
    passed: number
  }
  const failed = report.items.filter((i) => !i.passed)
  assert.deepEqual(
    failed.map((i) => i.id),
    ['multicast'],
    JSON.stringify(report, null, 2),
  )
  const evidence = failed[0]!.evidence.join('\n')
  assert.match(evidence, /node1\| node1 received multicast/)
  assert.match(evidence, /node2 received 1 packet\(s\) carrying it; node4 received 1 packet\(s\) carrying it/)
  assert.equal(report.passed, 4)
  assert.deepEqual(leftovers(), [], 'no container or network left')
})
