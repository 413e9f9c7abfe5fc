// The membership flags as a user runs them: `distlab bootstrap --membership-profile local` runs
// with the local timings (GET /membership shows them), `distlab up` hands its profile and options
// to the node processes it starts, and a bad profile, option or value is one line with exit 2.
// Addresses in 127.85.x.y only; ports found at run time.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { binPath, getJson, runCli, scratchDir, waitFor } from '../helpers.js'

interface MembershipAnswer {
  options: {
    profile: string
    probeIntervalMs: number
    probeTimeoutMs: number
    gossipIntervalMs: number
    suspicionMult: number
    registry: boolean
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

describe('membership flags', () => {
  test('bad profiles, options and values are one line and exit 2, before anything starts', async () => {
    const dir = scratchDir()
    for (const [args, why, env] of [
      [
        ['p2p', '--membership-profile', 'fast', '--nodes', '2'],
        /--membership-profile must be one of lan, local/,
      ],
      [['node', '--membership-option', 'nope=1'], /--membership-option: unknown option nope/],
      [['bootstrap', '--membership-option', 'probeIntervalMs=soon'], /probeIntervalMs must be a number/],
      [['master', '--membership-option', 'probeTimeoutMs=5000'], /probeTimeoutMs \(5000\) must be shorter/],
      [['up', '--mode', 'docker', '--membership-profile', 'local'], /are for --mode process or inproc/],
      [['p2p', '--nodes', '2'], /DISTLAB_MEMBERSHIP must be a JSON object/, { DISTLAB_MEMBERSHIP: 'fast' }],
    ] as Array<[string[], RegExp, Record<string, string>?]>) {
      const r = await runCli(['--state-dir', dir, ...args], { env, timeoutMs: 60_000 })
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}${r.stdout}`)
      assert.match(r.stderr, /^distlab: .+\n$/, args.join(' '))
      assert.match(r.stderr, why, args.join(' '))
    }
  })

  test('distlab bootstrap --membership-profile local runs the local timings, an option over them', async () => {
    const host = '127.85.0.1'
    const port = await freePort(host)
    const framePort = await freePort(host)
    const child = spawn(
      process.execPath,
      [
        binPath(),
        'bootstrap',
        '--host',
        host,
        '--port',
        String(port),
        '--frame-port',
        String(framePort),
        '--membership-profile',
        'local',
        '--membership-option',
        'suspicionMult=3',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    )
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const exited = new Promise((r) => child.once('exit', r))
    try {
      const m = await waitFor(
        'the bootstrap to answer GET /membership',
        async () =>
          (await getJson<MembershipAnswer>(`http://${host}:${port}/membership`, undefined, 5000)).body,
        60_000,
        200,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${output}`)
      })
      assert.equal(m.options.profile, 'local')
      assert.equal(m.options.registry, true)
      assert.equal(m.options.probeIntervalMs, 250)
      assert.equal(m.options.gossipIntervalMs, 60)
      assert.equal(m.options.suspicionMult, 3)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  })

  test('distlab up hands its profile and options to every node process it starts', async () => {
    const dir = scratchDir()
    const env = { DISTLAB_HOME: dir }
    const dashboardPort = await freePort('127.0.0.1')
    const up = await runCli(
      [
        '--state-dir',
        dir,
        'up',
        '--detach',
        '--nodes',
        '2',
        '--block',
        '85',
        '--dashboard-port',
        String(dashboardPort),
        '--membership-profile',
        'local',
        '--membership-option',
        'probeIntervalMs=300',
        '--json',
      ],
      { env, timeoutMs: 180_000 },
    )
    try {
      assert.equal(up.code, 0, up.stderr + up.stdout)
      const nodes = (
        JSON.parse(up.stdout) as { nodes: Array<{ name: string; host: string; httpPort: number }> }
      ).nodes
      assert.equal(nodes.length, 3)
      for (const n of nodes) {
        const m = (await getJson<MembershipAnswer>(`http://${n.host}:${n.httpPort}/membership`)).body
        assert.equal(m.options.profile, 'local', n.name)
        assert.equal(m.options.probeIntervalMs, 300, n.name)
        assert.equal(m.options.probeTimeoutMs, 120, n.name)
        assert.equal(m.options.gossipIntervalMs, 60, n.name)
      }
    } finally {
      const down = await runCli(['--state-dir', dir, 'down'], { env, timeoutMs: 120_000 })
      assert.equal(down.code, 0, down.stderr)
    }
  })
})
