// The Docker launcher behind the Launcher interface, on the real engine (started here when it is
// not running): the shared launcher suite on a keyed compose cluster (link rules, partition, heal,
// docker pause, docker kill that stays down, restart with a new id, logs, the record), then
// `distlab scenario run --mode docker`: master + 3 containers, a unicast workload through a
// kill -9, a partition and a heal, PASS. Every name it makes starts with `distlab-lt-`; after()
// removes its containers, networks and image tag, also on failure.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { buildImage, buildLocalBaseImage, composeDown, docker, runCommand } from '../../src/cluster/docker.js'
import { createLauncher } from '../../src/cluster/create-launcher.js'
import { DockerLauncher } from '../../src/cluster/docker-launcher.js'
import type { ScenarioReport } from '../../src/scenario/index.js'
import { binPath, runCli, scratchDir } from '../helpers.js'
import { launcherConformance } from '../cluster/launcher-suite.js'
import { assertClean } from '../scenario/shared.js'

const ROOT = dirname(dirname(binPath()))
const TAG = `distlab-lt-test:${process.pid}`
const SUITE = { project: 'distlab-lt-suite', network: 'distlab-lt-suite-net' }
const SCENARIO = { project: 'distlab-lt-scenario', network: 'distlab-lt-scenario-net' }
const scratch: string[] = []
const dir = () => {
  const d = scratchDir('distlab-lt-')
  scratch.push(d)
  return d
}

async function cleanup(): Promise<void> {
  for (const p of [SUITE, SCENARIO]) {
    await composeDown(p.project, join(ROOT, 'no-such-file')).catch(() => {})
    await docker(['network', 'rm', p.network], { allowFailure: true }).catch(() => {})
  }
}

before(async () => {
  await runCommand('bash', [join(ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
  await cleanup()
  // The base imported from the host's node binary is cached by its tag; the image is ours.
  const base = await buildLocalBaseImage()
  await buildImage({ tag: TAG, baseImage: base.tag, timeoutMs: 600_000 })
})

after(async () => {
  await cleanup()
  await docker(['rmi', '-f', TAG], { allowFailure: true }).catch(() => {})
  await docker(['image', 'prune', '-f', '--filter', 'label=dev.distlab.image'], { allowFailure: true }).catch(
    () => {},
  )
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
})
