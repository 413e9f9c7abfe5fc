// `distlab maelstrom test --mode docker` on the real engine (started here when it is not running):
// test-lane: host
// test-shares: none (its containers and network carry the run's own label and name)
// every node program in a container of its own on a network made for the test, from the runtime
// image built offline from this machine's python3 and node. `--bin "python3 broadcast.py"` runs
// from the current directory (mounted read-only); the pause nemesis freezes containers, kill kills
// one and a new container takes its place; nothing (container, network) is left after.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { binPath, runCli, scratchDir } from '../helpers.js'
import { docker } from '../../src/cluster/docker.js'
import { MAELSTROM_LABEL } from '../../src/maelstrom/container.js'
import type { MaelstromResults } from '../../src/maelstrom/run.js'
import { nodesDir, shortRun } from './helpers.js'

const ROOT = join(binPath(), '..', '..')
/** This file's loopback block: 127.63.0.0/16. */
const BLOCK = 63

before(() => {
  const start = spawnSync('bash', [join(ROOT, 'scripts', 'docker-start.sh')], {
    stdio: 'ignore',
    timeout: 120_000,
  })
  assert.equal(start.status, 0, 'the Docker engine did not start')
})

interface Seen {
  names: Set<string>
  paused: Set<string>
  networks: Set<string>
}

/** Polls the engine for this layer's containers and networks until `stop` is called. */
function watchEngine(): { seen: Seen; stop: () => Promise<void> } {
  const seen: Seen = { names: new Set(), paused: new Set(), networks: new Set() }
  let on = true
  const loop = (async () => {
    const deadline = Date.now() + 300_000
    while (on && Date.now() < deadline) {
      const ps = await docker(
        ['ps', '-a', '--filter', `label=${MAELSTROM_LABEL}`, '--format', '{{.Names}} {{.State}}'],
        { allowFailure: true, timeoutMs: 30_000 },
      )
      for (const line of ps.stdout.split('\n')) {
        const [name, state] = line.trim().split(' ')
        if (!name) continue
        seen.names.add(name)
        if (state === 'paused') seen.paused.add(name)
      }
      const nets = await docker(
        ['network', 'ls', '--filter', `label=${MAELSTROM_LABEL}`, '--format', '{{.Name}}'],
        {
          allowFailure: true,
          timeoutMs: 30_000,
        },
      )
      for (const n of nets.stdout.split('\n')) if (n.trim()) seen.networks.add(n.trim())
      await new Promise((r) => setTimeout(r, 200))
    }
  })()
  return {
    seen,
    stop: async () => {
      on = false
      await loop
    },
  }
}

async function leftBehind(): Promise<{ containers: string; networks: string }> {
  const c = await docker(['ps', '-aq', '--filter', `label=${MAELSTROM_LABEL}`])
  const n = await docker(['network', 'ls', '-q', '--filter', `label=${MAELSTROM_LABEL}`])
  return { containers: c.stdout.trim(), networks: n.stdout.trim() }
}

test('docker mode: broadcast from `python3 broadcast.py` in the current directory is valid; pause freezes containers; nothing is left', async () => {
  const dir = scratchDir('distlab-maelstrom-docker-')
  const watch = watchEngine()
  let res
  try {
    res = await runCli(
      [
        '--state-dir',
        join(dir, 'state'),
        'maelstrom',
        'test',
        '-w',
        'broadcast',
        '--bin',
        'python3 broadcast.py',
        '--mode',
        'docker',
        '--node-count',
        '3',
        '--time-limit',
        '6',
        '--rate',
        '10',
        '--nemesis',
        'pause',
        '--nemesis-interval',
        '1',
        '--recovery',
        '2500',
        '--block',
        String(BLOCK),
        '--json',
      ],
      { cwd: nodesDir(), env: { DISTLAB_RUNS_DIR: join(dir, 'runs') }, timeoutMs: 400_000 },
    )
  } finally {
    await watch.stop()
  }
  assert.ok(res.stdout.trim().startsWith('{'), `exit ${res.code}: ${res.stderr}`)
  const r = JSON.parse(res.stdout) as MaelstromResults
  assert.equal(r.run.mode, 'docker')
  assert.equal(r.valid, true, r.summary)
  assert.equal(res.code, 0)
  assert.ok(r.stats['ok-count'] >= 10)
  assert.ok(r.net.servers['send-count'] > 0, 'the containers gossiped through distlab frames')
  assert.equal(watch.seen.names.size, 3, `one container per node: ${[...watch.seen.names].join(', ')}`)
  assert.equal(watch.seen.networks.size, 1, 'the test made a network')
  const pauses = r.nemesis.filter((e) => e.f === 'pause')
  assert.ok(pauses.length >= 1 && pauses.every((e) => e.ok), JSON.stringify(r.nemesis))
  assert.ok(watch.seen.paused.size >= 1, 'a container was seen paused by the engine')
  assert.deepEqual(await leftBehind(), { containers: '', networks: '' })
})

test('docker mode: kill is docker kill of a container; the node comes back in a new container and echo stays valid', async () => {
  const watch = watchEngine()
  let r: MaelstromResults
  try {
    r = await shortRun({
      workload: 'echo',
      bin: `python3 ${join(nodesDir(), 'echo.py')}`,
      mode: 'docker',
      nodeCount: 3,
      timeLimitS: 6,
      rate: 10,
      nemesis: ['kill'],
      nemesisIntervalS: 1,
      timeoutMs: 2000,
      block: BLOCK,
    })
  } finally {
    await watch.stop()
  }
  const kills = r.nemesis.filter((e) => e.f === 'kill')
  const starts = r.nemesis.filter((e) => e.f === 'start')
  assert.ok(kills.length >= 1 && starts.length >= 1, JSON.stringify(r.nemesis))
  assert.ok(
    r.nemesis.every((e) => e.ok),
    JSON.stringify(r.nemesis),
  )
  assert.ok(
    watch.seen.names.size >= 3 + starts.length,
    `a restarted node runs in a new container: ${[...watch.seen.names].join(', ')}`,
  )
  assert.ok(r.nodes.every((n) => n.ready))
  assert.equal(r.valid, true, r.summary)
  assert.deepEqual(await leftBehind(), { containers: '', networks: '' })
})
