// Issue 16 items 12 and 13 on the real engine (started here when it is not running):
// `distlab deploy image` on a machine that cannot reach a registry builds FROM a base imported from
// this host's node, says so in one line and leaves none of its stage images behind, and the image
// runs every role as uid 1000 with a HEALTHCHECK; then
// `up --mode docker` answers the dashboard on 127.0.0.1 at the port asked for (`up --mode swarm`'s
// is swarm.test.ts's). The cluster uses a project and network of its own. Everything made here is
// removed in after(); the imported base stays (cached by its tag, as every build here uses it).
// test-shares: none (its project, network and image tag are its own)
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { DEFAULT_BASE_IMAGE, composeDown, docker, imageExists, runCommand } from '../../src/cluster/docker.js'
import { isRegistryUnreachable } from '../../src/cluster/image-base.js'
import { binPath, freePort, runCli, scratchDir, waitFor } from '../helpers.js'
import { dashboardAnswers } from './dashboard.js'

const ROOT = dirname(dirname(binPath()))
const TAG = `distlab-nb-test:${process.pid}`
const PROJECT = 'distlabnbdash'
const NETWORK = 'distlab-nb-dash'
const scratch: string[] = []

before(async () => {
  await runCommand('bash', [join(ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
})

after(async () => {
  await composeDown(PROJECT, join(ROOT, 'no-such-file')).catch(() => {})
  await docker(['rmi', '-f', TAG], { allowFailure: true }).catch(() => {})
  for (const d of scratch) rmSync(d, { recursive: true, force: true })
})

describe('deploy image without a registry (issue 16 item 12)', () => {
  test(
    'the default base is imported from this host when no registry answers; one line says so; no stage image is left; non-root, HEALTHCHECK, one image for every role',
    { timeout: 600_000 },
    async () => {
      // What this engine can do decides what to expect: on these machines no registry answers.
      const present = await imageExists(DEFAULT_BASE_IMAGE)
      const probe = present
        ? undefined
        : await docker(['pull', '--quiet', DEFAULT_BASE_IMAGE], { allowFailure: true, timeoutMs: 300_000 })
      const offline =
        probe !== undefined && probe.code !== 0 && isRegistryUnreachable(probe.stderr + probe.stdout)
      const r = await runCli(['deploy', 'image', '--tag', TAG, '--json'], { timeoutMs: 580_000 })
      assert.equal(r.code, 0, r.stderr + r.stdout)
      const out = JSON.parse(r.stdout) as {
        tag: string
        baseImage: string
        baseSource: string
        buildId: string
      }
      assert.equal(out.tag, TAG)
      if (offline) {
        assert.equal(out.baseSource, 'local-base')
        assert.match(out.baseImage, /^distlab-base:node-v\d+\./)
        const notes = r.stderr.split('\n').filter((l) => l.startsWith('no registry reachable'))
        assert.equal(notes.length, 1, r.stderr)
        assert.match(notes[0]!, /no such host|dial tcp|timeout|refused|unreachable/i)
        assert.ok(!/legacy builder|DEPRECATED/i.test(r.stderr), r.stderr)
      } else assert.equal(out.baseImage, DEFAULT_BASE_IMAGE)
      // The first stage's image (labelled with this build's id) is gone; the image itself runs.
      const left = await docker(['images', '-q', '--filter', `label=dev.distlab.build=${out.buildId}`])
      assert.equal(left.stdout.trim(), '')
      // What the image holds: one image for every role, run as uid 1000, with a HEALTHCHECK.
      const [info] = JSON.parse((await docker(['image', 'inspect', TAG])).stdout) as Array<{
        Size: number
        Config: { User: string; Healthcheck?: { Test: string[] } }
      }>
      assert.ok(info!.Size > 10_000_000 && info!.Size < 600_000_000, `image size ${info!.Size}`)
      assert.equal(info!.Config.User, '1000:1000')
      assert.ok(info!.Config.Healthcheck?.Test.join(' ').includes('healthcheck.mjs'))
      const uid = await docker([
        'run',
        '--rm',
        '--entrypoint',
        'node',
        TAG,
        '-e',
        'console.log(process.getuid())',
      ])
      assert.equal(uid.stdout.trim(), '1000')
      // The role is the command: here the CLI's own --help lists every role.
      const help = await docker(['run', '--rm', TAG, '--help'])
      for (const role of ['master', 'node', 'up', 'deploy'])
        assert.match(help.stdout, new RegExp(`\\n  ${role} `))
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
      assert.equal((await docker(['run', '--rm', TAG, '--version'])).stdout.trim(), pkg.version)
    },
  )

  test(
    'a base named with --base that cannot be pulled is one error line, exit 1',
    { timeout: 320_000 },
    async () => {
      const probe = await docker(['pull', '--quiet', 'node:20-no-such-tag-distlab'], {
        allowFailure: true,
        timeoutMs: 300_000,
      })
      assert.notEqual(probe.code, 0)
      const r = await runCli(['deploy', 'image', '--tag', TAG, '--base', 'node:20-no-such-tag-distlab'], {
        timeoutMs: 310_000,
      })
      assert.equal(r.code, 1, r.stderr + r.stdout)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0]!, /^distlab: cannot pull base image node:20-no-such-tag-distlab/)
    },
  )
})

describe('the dashboard of a container cluster on the host loopback (issue 16 item 13)', () => {
  test(
    'up --mode docker prints the dashboard URL, and it answers from the host',
    { timeout: 300_000 },
    async () => {
      assert.ok(await imageExists(TAG), 'the image test above builds it')
      const dir = scratchDir('distlab-nb-dash-')
      scratch.push(dir)
      const port = await freePort()
      const env = {
        DISTLAB_IMAGE: TAG,
        DISTLAB_PROJECT: PROJECT,
        DISTLAB_NETWORK: NETWORK,
        DISTLAB_KEY: '',
        DISTLAB_RUNS_DIR: join(dir, 'runs'),
      }
      try {
        const up = await runCli(
          [
            '--state-dir',
            dir,
            'up',
            '--mode',
            'docker',
            '--nodes',
            '2',
            '-d',
            '--dashboard-port',
            String(port),
          ],
          { env, timeoutMs: 240_000 },
        )
        assert.equal(up.code, 0, up.stderr + up.stdout)
        const url = `http://127.0.0.1:${port}`
        assert.ok(
          up.stdout.split('\n').some((l) => l.startsWith(`dashboard: ${url} `)),
          up.stdout,
        )
        const names = await waitFor(
          'the dashboard answers on the host',
          () => dashboardAnswers(url),
          60_000,
          500,
        )
        assert.deepEqual(names, ['master', 'node1', 'node2'])
        // Published on loopback only: the engine's port binding names 127.0.0.1.
        const ports = await docker([
          'ps',
          '--filter',
          `label=com.docker.compose.project=${PROJECT}`,
          '--format',
          '{{.Ports}}',
        ])
        assert.ok(ports.stdout.includes(`127.0.0.1:${port}->8080/tcp`), ports.stdout)
        assert.ok(!ports.stdout.includes(`0.0.0.0:${port}`), ports.stdout)
      } finally {
        const down = await runCli(['--state-dir', dir, 'down'], { env, timeoutMs: 200_000 })
        assert.equal(down.code, 0, down.stderr + down.stdout)
      }
    },
  )
})
