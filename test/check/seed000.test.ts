// `distlab check seed000` against a student's master and node written here in Python: the correct
// pair (a tree broadcast, a unicast, a multicast to the group's members only) passes every item;
// the master whose multicast goes to every node (the others drop it, so every node's output looks
// right) fails exactly the multicast item, with the wire counts naming the nodes that got it. Each
// program runs in a network namespace of its own (10.213.61.x, this suite's block; needs root).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed000/', import.meta.url))
const master = (file: string) => `python3 ${file} --host {host} --port {port} --nodes {nodes}`
const NODE = 'python3 node.py --host {host} --port {port} --name {name}'

interface Report {
  seed: string
  items: Array<{ id: string; title: string; required: boolean; passed: boolean; evidence: string[] }>
  passed: number
  total: number
  ok: boolean
}

function leftovers(): string {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  return ns
    .split('\n')
    .filter((l) => l.startsWith('dl61-'))
    .join(',')
}

test('a correct master and node pass every seed000 item, seen on each node’s wire (exit 0)', async () => {
  const r = await runCli(
    ['check', 'seed000', '--block', '61', '--cwd', DIR, '--master', master('master.py'), '--node', NODE],
    { timeoutMs: 120_000 },
  )
  assert.equal(r.code, 0, r.stdout + r.stderr)
  for (const id of ['cluster', 'broadcast', 'unicast', 'multicast', 'broadcast-traffic'])
    assert.match(r.stdout, new RegExp(`^PASS  ${id}  `, 'm'))
  assert.match(r.stdout, /master 10\.213\.61\.2:5000, node1 10\.213\.61\.3:5000/)
  assert.match(r.stdout, /node2\| node2 received broadcast: dl-bcast-/)
  // the tree: one arrival per node, as distlab's tree
  assert.match(r.stdout, /^ +yours +4 +0%$/m)
  assert.match(r.stdout, /only node2 got it, on the wire and in their output/)
  assert.match(r.stdout, /node1 1 in\/0 out, node2 0 in\/0 out, node3 1 in\/0 out, node4 0 in\/0 out/)
  assert.match(r.stdout, /^seed000: 5\/5 items passed, required 4\/4: PASS$/m)
  assert.equal(leftovers(), '', 'the namespaces are removed')
})

test('a multicast sent to every node (the others drop it) fails the multicast item on the wire (exit 1)', async () => {
  const r = await runCli(
    [
      'check',
      'seed000',
      '--json',
      '--block',
      '61',
      '--cwd',
      DIR,
      '--master',
      master('master_broken.py'),
      '--node',
      NODE,
    ],
    { timeoutMs: 120_000 },
  )
  assert.equal(r.code, 1, r.stdout + r.stderr)
  const report = JSON.parse(r.stdout) as Report
  assert.equal(report.seed, 'seed000')
  assert.equal(report.ok, false)
  const failed = report.items.filter((i) => !i.passed)
  assert.deepEqual(
    failed.map((i) => i.id),
    ['multicast'],
    JSON.stringify(report, null, 2),
  )
  const evidence = failed[0]!.evidence.join('\n')
  // every node's output is right: only the wire shows the fault
  assert.match(evidence, /node1\| node1 received multicast/)
  assert.doesNotMatch(evidence, /node2 printed it/)
  assert.match(evidence, /node2 received 1 packet\(s\) carrying it; node4 received 1 packet\(s\) carrying it/)
  assert.equal(report.passed, 4)
  assert.equal(leftovers(), '', 'the namespaces are removed')
})
