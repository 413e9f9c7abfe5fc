// `distlab up --mode swarm` on the real engine (started here when it is not running), on a
// single-node swarm made for the test: master + 3 nodes on the default overlay with the dashboard
// forwarded to a loopback port of the host (issue 16 item 13), unicast and overlay multicast across
// it, and `down` removing the stack, its network, the swarm made for it and the forwarder. One stack
// on one swarm: the Docker lanes wait while this file runs, and a swarm made, used and left costs
// about 40 s. Everything made here is removed in after(), also on failure. The image is the Docker
// tests' shared one (shared-image.ts).
// No `test-shares` line: this file runs with no other Docker file. Making and leaving a swarm
// changes the engine's networking under every container: run beside docker.test, it took the
// compose master (the one container with published ports) off its network twice, and its 50 nodes
// could not join.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { docker, imageExists, runCommand } from '../../src/cluster/docker.js'
import {
  OVERLAY_NETWORK,
  leaveSwarm,
  removeStack,
  stackContainers,
  swarmState,
} from '../../src/cluster/swarm.js'
import { binPath, freePort, runCli, scratchDir, waitFor } from '../helpers.js'
import { dashboardAnswers } from './dashboard.js'
import { sharedTestImage } from './shared-image.js'

const ROOT = dirname(dirname(binPath()))
let TAG = ''
/** The stack, on the default overlay network. */
const SWARM_STACK = 'distlabteststack'
const scratch: string[] = []
let swarmBefore = 'inactive'

before(async () => {
  await runCommand('bash', [join(ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
  swarmBefore = await swarmState()
  TAG = await sharedTestImage()
})

after(async () => {
  await removeStack(SWARM_STACK, OVERLAY_NETWORK, 60_000).catch(() => {})
  await docker(['network', 'rm', OVERLAY_NETWORK], { allowFailure: true }).catch(() => {})
  if (swarmBefore !== 'active' && (await swarmState().catch(() => '')) === 'active') await leaveSwarm()
  for (const d of scratch) rmSync(d, { recursive: true, force: true })
})

/** GET of a node's JSON answer (the swarm stack is an open cluster: no token). */
async function getJson<T>(url: string): Promise<{ status: number; json: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return { status: res.status, json: (await res.json()) as T }
}

async function members(url: string): Promise<Array<{ name: string; host: string }>> {
  return (await getJson<{ members: Array<{ name: string; host: string }> }>(`${url}/cluster/members`)).json
    .members
}

describe('swarm: `distlab up --mode swarm -d` on a single-node swarm with an overlay network', () => {
  test(
    'master + 3 nodes join over the overlay; the dashboard is forwarded to a host loopback port; unicast and overlay multicast cross it; down removes the stack, its network, the swarm made for it and the forwarder',
    {
      timeout: 420_000,
    },
    async () => {
      assert.ok(await imageExists(TAG), 'before() builds it')
      const dir = scratchDir('distlab-swarm-')
      scratch.push(dir)
      // An open cluster (no key), as `up` without --key: the CLI calls need no token.
      const runs = join(dir, 'runs')
      const env = {
        DISTLAB_IMAGE: TAG,
        DISTLAB_PROJECT: SWARM_STACK,
        DISTLAB_KEY: '',
        DISTLAB_RUNS_DIR: runs,
      }
      const cli = (args: string[], timeoutMs = 60_000) =>
        runCli(['--state-dir', dir, ...args], { env, timeoutMs })
      let down: Awaited<ReturnType<typeof cli>>
      // The dashboard on a free port: docker.test's `up --mode docker` may hold the default 8080 now.
      const dashboardPort = await freePort()
      const dashboard = `http://127.0.0.1:${dashboardPort}`
      try {
        const up = await cli(
          [
            'up',
            '--mode',
            'swarm',
            '--nodes',
            '3',
            '-d',
            '--json',
            '--dashboard-port',
            String(dashboardPort),
          ],
          300_000,
        )
        assert.equal(up.code, 0, up.stderr + up.stdout)
        const rec = JSON.parse(up.stdout) as {
          mode: string
          dashboard: string
          nodes: Array<{ name: string; host: string }>
        }
        assert.equal(rec.mode, 'swarm')
        // The master task's dashboard, forwarded to a loopback port of the host (issue 16 item 13).
        assert.equal(rec.dashboard, dashboard)
        assert.deepEqual(
          rec.nodes.map((n) => n.name),
          ['master', 'node1', 'node2', 'node3'],
        )
        assert.equal(await swarmState(), 'active')
        const [net] = JSON.parse((await docker(['network', 'inspect', OVERLAY_NETWORK])).stdout) as Array<{
          Driver: string
        }>
        assert.equal(net!.Driver, 'overlay')
        const host = new Map(rec.nodes.map((n) => [n.name, n.host]))
        const names = await waitFor(
          '3 nodes joined',
          async () => {
            const m = (await members(`http://${host.get('master')}:5000`)).map((x) => x.name).sort()
            return m.length === 4 ? m : undefined
          },
          90_000,
          500,
        )
        assert.deepEqual(names, ['master', 'node1', 'node2', 'node3'])
        assert.deepEqual(
          await waitFor('the dashboard answers on the host', () => dashboardAnswers(dashboard), 90_000, 500),
          ['master', 'node1', 'node2', 'node3'],
        )
        const status = await cli(['status', '--json'])
        assert.equal(status.code, 0, status.stderr + status.stdout)
        const st = JSON.parse(status.stdout) as {
          mode: string
          nodes: Array<{ name: string; state: string }>
        }
        assert.equal(st.mode, 'swarm')
        assert.deepEqual(
          st.nodes.map((r) => [r.name, r.state]),
          [
            ['master', 'up'],
            ['node1', 'up'],
            ['node2', 'up'],
            ['node3', 'up'],
          ],
        )
        // A message crosses the overlay from one task to another.
        const uni = await waitFor(
          'unicast node1 -> node3',
          async () => {
            const r = await cli([
              'send',
              'unicast',
              '--from',
              'node1',
              '--to',
              'node3',
              'over the overlay',
              '--json',
            ])
            return r.code === 0 ? (JSON.parse(r.stdout) as { delivered: boolean }) : undefined
          },
          90_000,
          500,
        )
        assert.equal(uni.delivered, true)
        // Overlay (group) multicast, not IP multicast (overlay networks do not carry it): members
        // in both services (master, and node tasks), the sender outside the group.
        const group = 'sensors'
        for (const member of ['master', 'node1', 'node3']) {
          const j = await cli(['group', 'join', member, group, '--wait', '60000', '--json'], 90_000)
          assert.equal(j.code, 0, j.stderr + j.stdout)
          const v = JSON.parse(j.stdout) as { seenBy: number; answering: number }
          assert.equal(v.seenBy, v.answering, `every node sees ${member} in ${group}`)
        }
        // The sender's first frames to each member: on a busy engine the overlay's forwarding
        // entries for a task pair can take seconds to be programmed, so the path is waited for.
        for (const member of ['master', 'node1', 'node3'])
          await waitFor(
            `ping node2 -> ${member}`,
            async () => {
              const p = await cli(['ping', 'node2', member, '--json'])
              return p.code === 0 ? p : undefined
            },
            90_000,
            500,
          )
        const msg = `reading ${process.pid}`
        const sent = await cli(
          ['send', 'multicast', '--from', 'node2', '--group', group, msg, '--timeout', '60000', '--json'],
          120_000,
        )
        assert.equal(sent.code, 0, sent.stderr + sent.stdout)
        const r = JSON.parse(sent.stdout) as { members: string[]; delivered: string[]; failed: unknown[] }
        assert.deepEqual(r.members, ['master', 'node1', 'node3'])
        assert.deepEqual(r.delivered, ['master', 'node1', 'node3'])
        assert.deepEqual(r.failed, [])
        type Delivered = { messages: Array<{ group: string; from: string; msg: unknown }> }
        for (const name of ['master', 'node1', 'node3']) {
          const d = await getJson<Delivered>(
            `http://${host.get(name)}:5000/multicast/delivered?group=${group}`,
          )
          assert.deepEqual(
            d.json.messages.map((m) => [m.from, m.msg]),
            [['node2', msg]],
            `${name} got the multicast once`,
          )
        }
        const outside = await getJson<Delivered>(
          `http://${host.get('node2')}:5000/multicast/delivered?group=${group}`,
        )
        assert.deepEqual(outside.json.messages, [], 'the sender is not a member: nothing delivered to it')
        // While the stack runs: the master's run (bind-mounted) shows those messages to analyze,
        // and the supervisor keeps each task's log for `distlab logs`.
        type Report = { protocols: Record<string, { sent: number; received: number }> }
        const report = await waitFor(
          'analyze shows the unicast and multicast',
          async () => {
            const a = await cli(['analyze', '--json'])
            if (a.code !== 0) return undefined
            const p = (JSON.parse(a.stdout) as Report).protocols
            return (p.unicast?.received ?? 0) >= 1 && (p.multicast?.received ?? 0) >= 2 ? p : undefined
          },
          60_000,
          500,
        )
        assert.ok(report.unicast!.sent >= 1)
        const logs = await waitFor(
          'logs of node3',
          async () => {
            const l = await cli(['logs', 'node3'])
            return l.code === 0 && l.stdout.includes('listening') ? l.stdout : undefined
          },
          30_000,
          500,
        )
        assert.match(logs, /node3/)
      } finally {
        // Runs also when a check above failed; its own outcome is checked below.
        down = await cli(['down', '--json'], 300_000)
      }
      assert.equal(down.code, 0, down.stderr + down.stdout)
      assert.equal((await stackContainers(SWARM_STACK)).size, 0)
      assert.notEqual((await docker(['network', 'inspect', OVERLAY_NETWORK], { allowFailure: true })).code, 0)
      if (swarmBefore !== 'active') assert.equal(await swarmState(), 'inactive')
      const gone = await cli(['status'], 30_000)
      assert.equal(gone.code, 1)
      // The forwarder went with the supervisor.
      await waitFor(
        'the dashboard port is free again',
        async () => {
          try {
            await fetch(`${dashboard}/`, { signal: AbortSignal.timeout(2000) })
            return false
          } catch {
            return true
          }
        },
        30_000,
        500,
      )
      // The run stays on the host, closed by the master (no WAL left beside it).
      const files = readdirSync(runs)
      assert.equal(files.filter((f) => f.endsWith('.sqlite')).length, 1, files.join(' '))
      assert.deepEqual(
        files.filter((f) => f.endsWith('-wal')),
        [],
      )
    },
  )
})
