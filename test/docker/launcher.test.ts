// The Docker launcher behind the Launcher interface, on the real engine (started here when it is
// not running): the shared launcher suite on a keyed compose cluster (link rules, partition, heal,
// docker pause, docker kill that stays down, restart with a new id, logs, the record), then
// `distlab scenario run --mode docker`: master + 3 containers, a unicast workload through a
// kill -9, a partition and a heal, PASS; then the CLI on a detached `up --mode docker` cluster:
// kill (status shows it dead), restart, partition and heal, link set and clear, with the traffic
// between the containers really cut and restored. Every name it makes starts with `distlab-lt-`; after()
// removes its containers and networks, also on failure. The image is the Docker tests' shared one
// (shared-image.ts: built once for what goes into it, kept).
// test-shares: none (its projects and networks are its own)
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { DockerCluster, composeDown, docker, runCommand } from '../../src/cluster/docker.js'
import { createLauncher } from '../../src/cluster/create-launcher.js'
import { DockerLauncher } from '../../src/cluster/docker-launcher.js'
import type { ScenarioReport } from '../../src/scenario/index.js'
import { binPath, freePort, runCli, scratchDir, waitFor, type CliResult } from '../helpers.js'
import { launcherConformance } from '../cluster/launcher-suite.js'
import { assertClean } from '../scenario/shared.js'
import { sharedTestImage } from './shared-image.js'

const ROOT = dirname(dirname(binPath()))
let TAG = ''
const SUITE = { project: 'distlab-lt-suite', network: 'distlab-lt-suite-net' }
const SCENARIO = { project: 'distlab-lt-scenario', network: 'distlab-lt-scenario-net' }
const CLI = { project: 'distlab-lt-cli', network: 'distlab-lt-cli-net' }
const BUSY = { project: 'distlab-lt-busy', network: 'distlab-lt-busy-net', squatter: 'distlab-lt-squatter' }
const scratch: string[] = []
const dir = () => {
  const d = scratchDir('distlab-lt-')
  scratch.push(d)
  return d
}

async function cleanup(): Promise<void> {
  for (const p of [SUITE, SCENARIO, CLI]) {
    await composeDown(p.project, join(ROOT, 'no-such-file')).catch(() => {})
    await docker(['network', 'rm', p.network], { allowFailure: true }).catch(() => {})
  }
  await docker(['rm', '-f', BUSY.squatter], { allowFailure: true }).catch(() => {})
  await docker(['network', 'rm', BUSY.network], { allowFailure: true }).catch(() => {})
}

before(async () => {
  await runCommand('bash', [join(ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
  await cleanup()
  // The Docker tests' shared image (built once for what goes into it, kept for the next file).
  TAG = await sharedTestImage()
})

after(async () => {
  await cleanup()
  for (const d of scratch) rmSync(d, { recursive: true, force: true })
})

describe('the Docker launcher', { timeout: 600_000 }, () => {
  test('runs the launcher suite on a keyed compose cluster: docker pause, kill, restart', async () => {
    const state = dir()
    const l = createLauncher({
      mode: 'docker',
      nodes: 2,
      stateDir: state,
      key: `t1:distlab-lt-${process.pid}-secret`,
      image: TAG,
      ...SUITE,
      runsDir: join(state, 'runs'),
    })
    assert.ok(l instanceof DockerLauncher)
    try {
      await l.start()
      const net = JSON.parse((await docker(['network', 'inspect', SUITE.network])).stdout) as Array<{
        Containers: Record<string, unknown>
      }>
      assert.equal(Object.keys(net[0]!.Containers).length, 3, 'master and 2 nodes on the network')
      await launcherConformance(l, { canPause: true, handle: 'container' })
    } finally {
      await l.stop()
      await l.stop()
    }
    const left = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${SUITE.project}`])
    assert.equal(left.stdout.trim(), '', 'stop removes every container')
  })

  test('distlab scenario run --mode docker: unicast through kill -9, a partition and a heal; PASS', async () => {
    const state = dir()
    const file = join(state, 'docker-unicast.yaml')
    writeFileSync(
      file,
      [
        'name: unicast in containers under kill -9 and a partition',
        'cluster: { nodes: 3, mode: process }',
        'workloads:',
        '  - { kind: unicast, pairs: [[node1, node2], [node2, node1], [node3, node1]], messages: 40, interval: 40ms, timeout: 4s }',
        'steps:',
        '  - wait: 300ms',
        '  - link: { from: node1, to: node2, both: true, loss: 0.2, duplicate: 0.2 }',
        '  - partition: [[master, node1], [node2, node3]]',
        '  - wait: 500ms',
        '  - heal: true',
        '  - kill: node3',
        '  - wait: 300ms',
        'settle: 15s',
      ].join('\n'),
    )
    const r = await runCli(
      [
        '--state-dir',
        state,
        'scenario',
        'run',
        file,
        '--mode',
        'docker',
        '--image',
        TAG,
        '--project',
        SCENARIO.project,
        '--network',
        SCENARIO.network,
        '--json',
      ],
      { timeoutMs: 300_000, env: { DISTLAB_RUNS_DIR: join(state, 'runs') } },
    )
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const report = JSON.parse(r.stdout) as ScenarioReport
    assert.equal(report.mode, 'docker')
    assert.equal(report.nodes, 3)
    assert.equal(report.faults, 4)
    for (const s of ['partition master,node1 | node2,node3', 'heal', 'kill -9 node3'])
      assert.ok(
        report.steps.some((x) => x.step === s && x.ok),
        `${s}: ${JSON.stringify(report.steps)}`,
      )
    assertClean(report)
    const left = await docker([
      'ps',
      '-aq',
      '--filter',
      `label=com.docker.compose.project=${SCENARIO.project}`,
    ])
    assert.equal(left.stdout.trim(), '', 'the run removes its containers')
    const net = await docker(['network', 'inspect', SCENARIO.network], { allowFailure: true })
    assert.notEqual(net.code, 0, 'and its network')
  })

  test('the CLI on `up --mode docker -d`: kill, status, restart, partition, heal, link set and clear', async () => {
    const state = dir()
    const env = {
      DISTLAB_IMAGE: TAG,
      DISTLAB_PROJECT: CLI.project,
      DISTLAB_NETWORK: CLI.network,
      DISTLAB_RUNS_DIR: join(state, 'runs'),
    }
    const cli = (...args: string[]) => runCli(['--state-dir', state, ...args], { env, timeoutMs: 240_000 })
    const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`)
    type Row = { name: string; id?: string; state: 'up' | 'dead' }
    const status = async () => JSON.parse((await cli('status', '--json')).stdout) as { nodes: Row[] }
    // A ping from node1 over the node-to-node transport (node1's POST /ping, at the address the
    // record has now): true when it came back within timeoutMs.
    const pings = async (to: string, timeoutMs: number) => {
      const rec = JSON.parse(readFileSync(join(state, 'cluster.json'), 'utf8')) as {
        nodes: Array<{ name: string; host: string; httpPort: number }>
      }
      const n1 = rec.nodes.find((n) => n.name === 'node1')!
      const res = await fetch(`http://${n1.host}:${n1.httpPort}/ping`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to, timeoutMs }),
        signal: AbortSignal.timeout(timeoutMs + 15_000),
      }).catch(() => undefined)
      return res?.status === 200
    }
    const up = await cli(
      'up',
      '--mode',
      'docker',
      '-d',
      '--nodes',
      '3',
      '--dashboard-port',
      String(await freePort()),
    )
    ok(up, 'up')
    try {
      const bad = await cli('kill', 'node9')
      assert.equal(bad.code, 2)
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr)
      assert.match(bad.stderr, /^distlab: .*node9.*master, node1, node2, node3/)
      const before = (await status()).nodes.find((n) => n.name === 'node2')!

      // kill: the container stops and stays down; status sees it dead (exit 1).
      const k = await cli('kill', 'node2', '--json')
      ok(k, 'kill')
      assert.deepEqual(JSON.parse(k.stdout), {
        name: 'node2',
        action: 'kill',
        running: false,
        mode: 'docker',
      })
      const ps = await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${CLI.project}`])
      assert.equal(ps.stdout.trim().split('\n').length, 3, 'three containers still run')
      const down = await cli('status', '--json')
      assert.equal(down.code, 1)
      const rows = (JSON.parse(down.stdout) as { nodes: Row[] }).nodes
      assert.deepEqual(
        rows.map((r) => [r.name, r.state]),
        [
          ['master', 'up'],
          ['node1', 'up'],
          ['node2', 'dead'],
          ['node3', 'up'],
        ],
      )

      // restart: a new incarnation (new id) that answers, under the same name.
      ok(await cli('restart', 'node2'), 'restart')
      const back = await status()
      assert.ok(
        back.nodes.every((r) => r.state === 'up'),
        JSON.stringify(back),
      )
      assert.notEqual(back.nodes.find((n) => n.name === 'node2')!.id, before.id)

      // partition: node1 and node2 on one side, node3 on the other; the frames really stop.
      await waitFor('node1 reaches node3', () => pings('node3', 5000), 90_000, 500)
      ok(await cli('partition', 'node1,node2', 'node3'), 'partition')
      assert.equal(await pings('node3', 500), false, 'node1 -> node3 is cut')
      await waitFor(
        'node1 reaches node2 (restarted) across its side',
        () => pings('node2', 5000),
        90_000,
        500,
      )
      const show = JSON.parse((await cli('link', 'show', '--json')).stdout) as {
        nodes: Array<{ node: string; partition: string[][] }>
      }
      assert.deepEqual(show.nodes.find((n) => n.node === 'node3')!.partition, [['node1', 'node2'], ['node3']])
      const healed = await cli('heal', '--json')
      ok(healed, 'heal')
      assert.deepEqual((JSON.parse(healed.stdout) as { failed: unknown[] }).failed, [])
      await waitFor('node1 reaches node3 after heal', () => pings('node3', 5000), 90_000, 500)

      // link set --loss 1 cuts node1 <-> node3 both ways; link clear restores it.
      ok(await cli('link', 'set', 'node1', 'node3', '--loss', '1'), 'link set')
      assert.equal(await pings('node3', 500), false, 'a lossy link drops every frame')
      ok(await cli('link', 'clear', 'node1', 'node3'), 'link clear')
      const clean = JSON.parse((await cli('link', 'show', '--json')).stdout) as {
        nodes: Array<{ rules: Record<string, unknown> }>
      }
      assert.ok(
        clean.nodes.every((n) => Object.keys(n.rules).length === 0),
        JSON.stringify(clean),
      )
      await waitFor('node1 reaches node3 after clear', () => pings('node3', 5000), 90_000, 500)
    } finally {
      ok(await cli('down'), 'down')
    }
    const left = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${CLI.project}`])
    assert.equal(left.stdout.trim(), '', 'down removes every container')
  })
})

describe('the compose network', () => {
  test('up refuses a network that a container of another project is on, before it starts anything', async () => {
    await docker(['network', 'create', BUSY.network])
    await docker([
      'run',
      '-d',
      '--name',
      BUSY.squatter,
      '--network',
      BUSY.network,
      '--entrypoint',
      'node',
      TAG,
      '-e',
      'setTimeout(() => {}, 300000)',
    ])
    const cluster = new DockerCluster({
      nodes: 1,
      stateDir: dir(),
      image: TAG,
      project: BUSY.project,
      network: BUSY.network,
    })
    await assert.rejects(cluster.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CLUSTER')
      assert.match(
        err.message,
        /^network distlab-lt-busy-net is in use by distlab-lt-squatter, not of compose project distlab-lt-busy/,
      )
      return true
    })
    const ps = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${BUSY.project}`])
    assert.equal(ps.stdout.trim(), '', 'no container of the project was made')
  })
})
