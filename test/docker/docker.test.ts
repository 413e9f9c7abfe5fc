// distlab in containers, on a real Docker engine (started here when it is not running):
// deploy/compose.yml's master + 4 nodes on `Proj1-distributed-network` (seed 000) with traffic
// between the containers, a 50-container overlay (seed 002) and `distlab up --mode docker`, all on
// the shared test image (shared-image.ts: built once for the Docker files that do not test the
// build; how the image is built, and what it holds, is image-and-dashboard.test.ts's). Everything a
// test creates (containers, networks, volumes) is removed in after(), also on failure, except a
// network the engine will not release with no endpoint on it (Docker 20.10's stale endpoint count,
// src/cluster/docker-network.ts): `down` says so, and the next run reuses it. The shared image and
// the base imported from the host's node stay, cached by their tags, for the next run.
// test-lane: alone (the 50 containers load the whole machine: that test runs `exclusively`, with
// nothing beside it)
// test-shares: proj1-network (compose's and `up --mode docker`'s fixed network name)
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import {
  compose,
  composeDown,
  composeSpec,
  composeYaml,
  docker,
  networkEndpoints,
  projectContainers,
  runCommand,
  NETWORK_NAME,
  type ContainerInfo,
  type KeptNetwork,
} from '../../src/cluster/docker.js'
import { parseServiceLogLine, stackOverrideYaml } from '../../src/cluster/swarm.js'
import { Keyring } from '../../src/core/auth.js'
import { binPath, exclusively, runCli, scratchDir } from '../helpers.js'
import { sharedTestImage } from './shared-image.js'

const ROOT = dirname(dirname(binPath()))
const COMPOSE_FILE = join(ROOT, 'deploy', 'compose.yml')
/** The shared test image (before() sets it). */
let TAG = ''
const PROJECT = 'distlabtest'
const CLI_PROJECT = 'distlabtestcli'
/** Host address the master's ports are published on: this suite's own loopback block. */
const PUBLISH_HOST = '127.80.0.1'
/** The compose cluster runs with a key: frames signed, state-changing API calls need its token. */
const KEY = `t1:docker-test-${process.pid}-secret`
const BEARER = new Keyring(KEY).bearer()
const composeEnv: Record<string, string | undefined> = {
  ...process.env,
  DISTLAB_PUBLISH_HOST: PUBLISH_HOST,
  DISTLAB_KEY: KEY,
  DISTLAB_INSECURE: '0',
}

const scratch: string[] = []

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

async function http<T = unknown>(
  url: string,
  body?: unknown,
  auth: string | undefined = BEARER,
  timeoutMs = 10_000,
): Promise<{ status: number; json: T }> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    // The token on GETs too: with a key, the GETs that reveal messages or members need it.
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(auth ? { authorization: auth } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  return { status: res.status, json: (await res.json()) as T }
}

/** Runs a node script inside a container (the image's own node binary). */
function execNode(container: string, script: string, timeoutMs = 30_000) {
  return runCommand('docker', ['exec', container, 'node', '-e', script], { timeoutMs, allowFailure: true })
}

async function members(url: string): Promise<Array<{ name: string; host: string }>> {
  return (await http<{ members: Array<{ name: string; host: string }> }>(`${url}/cluster/members`)).json
    .members
}

/**
 * After a `down`: the fixed network is gone, or `down` said it kept it (`kept`) with no endpoint on
 * it while the engine still refuses its removal: Docker 20.10's stale endpoint count (see
 * src/cluster/docker-network.ts), which only a dockerd restart clears and which the next `up`
 * reuses. An endpoint left on it, or a network kept without a word, fails.
 */
async function assertNetworkReleased(kept: Array<KeptNetwork | string>, what: string): Promise<void> {
  const eps = await networkEndpoints(NETWORK_NAME)
  if (eps === undefined) return
  assert.deepEqual(
    eps.map((e) => e.name),
    [],
    `${what} left endpoints on ${NETWORK_NAME}`,
  )
  const named = kept.map((k) => (typeof k === 'string' ? k : k.name))
  assert.ok(named.includes(NETWORK_NAME), `${what} left ${NETWORK_NAME} without saying so`)
  const rm = await docker(['network', 'rm', NETWORK_NAME], { allowFailure: true })
  if (rm.code !== 0) assert.match(rm.stderr, /has active endpoints/, rm.stderr)
}

async function cleanup(): Promise<void> {
  await composeDown(PROJECT, COMPOSE_FILE).catch(() => {})
  await composeDown(CLI_PROJECT, join(ROOT, 'no-such-file')).catch(() => {})
  await docker(['network', 'rm', NETWORK_NAME], { allowFailure: true }).catch(() => {})
}

before(async () => {
  // Starts dockerd when it is not running (idempotent).
  await runCommand('bash', [join(ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
  // A network of that name left empty (the engine's stale endpoint count may hold one until dockerd
  // restarts) is reused, as compose and `up` do; one with containers on it is another cluster's.
  const eps = (await networkEndpoints(NETWORK_NAME)) ?? []
  assert.deepEqual(
    eps.map((e) => e.name),
    [],
    `containers are attached to ${NETWORK_NAME}: stop the cluster that uses it first`,
  )
  await cleanup()
  TAG = await sharedTestImage()
  composeEnv.DISTLAB_IMAGE = TAG
})

after(async () => {
  await cleanup()
  for (const d of scratch) rmSync(d, { recursive: true, force: true })
})

describe('generated compose and stack files', () => {
  test('the master of `up --mode docker` records into the host runs folder, as the host user', () => {
    const spec = composeSpec({ nodes: 2, runsDir: '/tmp/some/runs', masterUser: '1000:10' }) as {
      services: Record<string, { user?: string; volumes?: unknown[]; environment: Record<string, string> }>
    }
    const master = spec.services.master!
    assert.equal(master.user, '1000:10')
    assert.deepEqual(master.volumes, [{ type: 'bind', source: '/tmp/some/runs', target: '/data/runs' }])
    assert.equal(master.environment.DISTLAB_RUNS_DIR, '/data/runs')
    // The nodes keep the image's user and have no mount.
    assert.equal(spec.services.node1!.user, undefined)
    assert.equal(spec.services.node1!.volumes, undefined)
    // Quoted: compose v1 reads YAML 1.1, where 1000:10 unquoted is the number 60010.
    assert.match(composeYaml({ nodes: 1, runsDir: '/r', masterUser: '1000:10' }), /user: "1000:10"/)
    assert.throws(() => composeSpec({ runsDir: '/r', masterUser: 'root' }), /masterUser/)
  })

  test('the swarm override mounts the runs folder and places the master on this node', () => {
    const y = stackOverrideYaml('/tmp/r', 'abc123', '1000:1000')
    assert.match(y, /user: "1000:1000"/)
    assert.match(y, /source: \/tmp\/r\n\s+target: \/data\/runs/)
    assert.match(y, /- node.id == abc123/)
    assert.throws(() => stackOverrideYaml('/tmp/r', 'x; rm -rf /'), /nodeId/)
  })

  test('service log lines are named as the nodes name themselves', () => {
    assert.deepEqual(parseServiceLogLine('st_node.12@vm    | hello | there', 'st'), {
      name: 'node12',
      text: 'hello | there',
    })
    assert.deepEqual(parseServiceLogLine('st_master.1@vm | up', 'st'), { name: 'master', text: 'up' })
    assert.equal(parseServiceLogLine('other_node.1@vm | x', 'st'), undefined)
    assert.equal(parseServiceLogLine('no bar here', 'st'), undefined)
  })
})

describe('compose: master + 4 nodes on Proj1-distributed-network (seed 000)', () => {
  let nodes: Map<string, ContainerInfo>
  const url = (name: string) => `http://${nodes.get(name)!.ip}:5000`
  const published = `http://${PUBLISH_HOST}:5000`

  before(async () => {
    await compose(PROJECT, COMPOSE_FILE, ['up', '-d'], { env: composeEnv, timeoutMs: 180_000 })
    const list = await projectContainers(PROJECT, NETWORK_NAME)
    nodes = new Map(list.map((c) => [c.service === 'node' ? `node${c.number}` : c.service, c]))
  })

  test(
    'the five containers are on the named bridge network and the master turns healthy',
    {
      timeout: 120_000,
    },
    async () => {
      assert.deepEqual([...nodes.keys()].sort(), ['master', 'node1', 'node2', 'node3', 'node4'])
      const [net] = JSON.parse((await docker(['network', 'inspect', NETWORK_NAME])).stdout) as Array<{
        Driver: string
        Containers: Record<string, unknown>
      }>
      assert.equal(net!.Driver, 'bridge')
      assert.equal(Object.keys(net!.Containers).length, 5)
      // Docker's own HEALTHCHECK (GET /health inside the container).
      await waitFor('master healthy', 90_000, async () => {
        const [c] = await projectContainers(PROJECT).then((l) => l.filter((x) => x.service === 'master'))
        return c?.health === 'healthy' || undefined
      })
      for (const name of nodes.keys())
        await waitFor(
          `${name} /health`,
          60_000,
          async () => (await http(`${url(name)}/health`)).status === 200,
        )
    },
  )

  test(
    'every node joins the master by its service name, under its replica name node1..node4',
    {
      timeout: 60_000,
    },
    async () => {
      // Through the published port, as a user on the host would.
      const names = await waitFor('4 nodes joined', 45_000, async () => {
        const m = (await members(published)).map((x) => x.name).sort()
        return m.length === 5 ? m : undefined
      })
      assert.deepEqual(names, ['master', 'node1', 'node2', 'node3', 'node4'])
    },
  )

  test('GET / and POST /message answer as seed 002 says; the log shows the message', async () => {
    for (const name of ['node1', 'node2', 'node3', 'node4']) {
      const r = await http<{ message: string }>(`${url(name)}/`)
      assert.match(r.json.message, /^Node [0-9a-f-]{36} is running!$/)
    }
    const refused = await http(`${url('node2')}/message`, { sender: 'Node1', msg: 'no token' }, '')
    assert.equal(refused.status, 401, 'the cluster key guards POST routes')
    const r = await http(`${url('node2')}/message`, { sender: 'Node1', msg: 'Hello Node2!' })
    assert.deepEqual(r.json, { status: 'received' })
    const logs = await waitFor('log line', 20_000, async () => {
      const l = await docker(['logs', nodes.get('node2')!.id])
      return l.stdout.includes('Received message from Node1: Hello Node2!') ? l.stdout : undefined
    })
    assert.ok(logs)
  })

  test('nodes ping each other over UDP and TCP between containers', { timeout: 60_000 }, async () => {
    for (const [from, to] of [
      ['node1', 'node3'],
      ['node4', 'node2'],
      ['node2', 'master'],
    ] as const)
      for (const transport of ['udp', 'tcp']) {
        const r = await waitFor(`${from} -> ${to} ${transport}`, 20_000, async () => {
          const p = await http<{ rttMs?: number }>(`${url(from)}/ping`, { to, transport, timeoutMs: 3000 })
          return p.status === 200 && typeof p.json.rttMs === 'number' ? p.json : undefined
        })
        assert.ok(r.rttMs! >= 0)
      }
  })

  test('reliable unicast from node1 reaches node4 exactly once', { timeout: 60_000 }, async () => {
    const msg = `hello node4 ${process.pid}`
    const sent = await http(`${url('node1')}/unicast`, { to: 'node4', msg })
    assert.equal(sent.status, 200, JSON.stringify(sent.json))
    const got = await waitFor('delivered', 20_000, async () => {
      const d = await http<unknown>(`${url('node4')}/unicast/delivered`)
      const hits = JSON.stringify(d.json).split(msg).length - 1
      return hits > 0 ? hits : undefined
    })
    assert.equal(got, 1)
  })

  /** Receivers in node2..node4 wait for one datagram; node1 sends until all have one (bounded). */
  async function datagramAcross(kind: 'multicast' | 'broadcast'): Promise<Map<string, string>> {
    const [net] = JSON.parse((await docker(['network', 'inspect', NETWORK_NAME])).stdout) as Array<{
      IPAM: { Config: Array<{ Subnet: string }> }
    }>
    const [base, bits] = net!.IPAM.Config[0]!.Subnet.split('/') as [string, string]
    const n = base.split('.').reduce((a, o) => a * 256 + Number(o), 0) | (2 ** (32 - Number(bits)) - 1)
    const subnetBroadcast = [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.')
    const port = kind === 'multicast' ? 5007 : 5008
    const receiver = `
      const s = require('dgram').createSocket({ type: 'udp4', reuseAddr: true })
      s.on('message', (m, r) => { console.log(JSON.stringify({ from: r.address, text: m.toString() })); process.exit(0) })
      s.bind(${port}, () => { ${kind === 'multicast' ? "s.addMembership('224.1.1.1')" : ''} })
      setTimeout(() => process.exit(3), 25000)`
    const receivers = ['node2', 'node3', 'node4'].map((n) =>
      execNode(nodes.get(n)!.id, receiver, 40_000).then((r) => [n, r] as const),
    )
    await new Promise((r) => setTimeout(r, 2000))
    const target = kind === 'multicast' ? '224.1.1.1' : subnetBroadcast
    const sender = spawn(
      'docker',
      [
        'exec',
        nodes.get('node1')!.id,
        'node',
        '-e',
        `const s = require('dgram').createSocket('udp4')
         s.bind(() => { s.setBroadcast(true); s.setMulticastTTL(2)
           const t = setInterval(() => s.send(JSON.stringify({ sensor: 'temp', value: 23.5 }), ${port}, '${target}'), 300)
           setTimeout(() => { clearInterval(t); s.close() }, 25000) })`,
      ],
      { stdio: 'ignore' },
    )
    try {
      const got = new Map<string, string>()
      for (const [name, r] of await Promise.all(receivers)) {
        assert.equal(r.code, 0, `${name} received no ${kind} datagram: ${r.stderr}`)
        got.set(name, r.stdout.trim())
      }
      return got
    } finally {
      sender.kill('SIGKILL')
    }
  }

  test('IP multicast to 224.1.1.1:5007 crosses containers (seed 001)', { timeout: 90_000 }, async () => {
    const got = await datagramAcross('multicast')
    for (const [, line] of got) {
      const d = JSON.parse(line) as { from: string; text: string }
      assert.equal(d.from, nodes.get('node1')!.ip)
      assert.deepEqual(JSON.parse(d.text), { sensor: 'temp', value: 23.5 })
    }
  })

  test(
    'IP broadcast to the subnet broadcast address reaches every other container',
    { timeout: 90_000 },
    async () => {
      const got = await datagramAcross('broadcast')
      assert.equal(got.size, 3)
      for (const [, line] of got)
        assert.equal((JSON.parse(line) as { from: string }).from, nodes.get('node1')!.ip)
    },
  )

  /** The logs of every container of one compose service, until `until` holds for each (bounded). */
  async function serviceLogs(service: string, count: number, until: RegExp, timeoutMs: number) {
    return waitFor(`${count} ${service} containers: ${until}`, timeoutMs, async () => {
      const list = (await projectContainers(PROJECT)).filter((c) => c.service === service)
      if (list.length !== count) return undefined
      const logs = await Promise.all(list.map(async (c) => (await docker(['logs', c.id])).stdout))
      return logs.every((l) => until.test(l)) ? { list, logs } : undefined
    })
  }

  test(
    'seed 001 anycast: 3 replicas of `distlab anycast serve` behind one name answer the client',
    {
      timeout: 240_000,
    },
    async () => {
      const env = { ...composeEnv, DISTLAB_INSECURE: '1' }
      await compose(PROJECT, COMPOSE_FILE, ['--profile', 'anycast', 'up', '-d', 'anycast'], {
        env,
        timeoutMs: 180_000,
      })
      await serviceLogs('anycast', 3, /\[server\] listening on 0\.0\.0\.0:5000/, 90_000)
      const client = await compose(
        PROJECT,
        COMPOSE_FILE,
        ['--profile', 'anycast', 'run', '--rm', '-T', 'anycast-client'],
        { env, timeoutMs: 120_000 },
      )
      assert.equal(client.stdout.match(/^Received: Hello from server$/gm)?.length, 3, client.stdout)
    },
  )

  test(
    'seed 001 multicast: `distlab multicast send` reaches both receivers across containers',
    {
      timeout: 240_000,
    },
    async () => {
      const env = { ...composeEnv, DISTLAB_INSECURE: '1' }
      await compose(PROJECT, COMPOSE_FILE, ['--profile', 'multicast', 'up', '-d', 'multicast-recv'], {
        env,
        timeoutMs: 180_000,
      })
      await serviceLogs('multicast-recv', 2, /Joined multicast group 224\.1\.1\.1:5007/, 90_000)
      await compose(
        PROJECT,
        COMPOSE_FILE,
        ['--profile', 'multicast', 'run', '--rm', '-T', 'multicast-send'],
        {
          env,
          timeoutMs: 120_000,
        },
      )
      const { logs } = await serviceLogs(
        'multicast-recv',
        2,
        /Received binary from \('[\d.]+', \d+\): \d+ bytes/,
        60_000,
      )
      for (const l of logs)
        assert.match(l, /Received from \('[\d.]+', \d+\): \{"sensor": ?"temp", ?"value": ?23\.5\}/)
    },
  )

  test(
    '--scale node=50 grows the overlay: 50 nodes named node1..node50, all reachable',
    {
      // The wait for the machine (up to 300 s: the files beside this one end first), then the
      // compose up (240 s) and the join (200 s) on a loaded machine, with the pings (up to 120 s
      // each) and down.
      timeout: 900_000,
    },
    async () => {
      let kept: KeptNetwork[] | undefined
      try {
        // The machine to itself while 50 nodes start and join; stopping them (4 at a time, below)
        // loads it little, so the other files resume meanwhile.
        await exclusively(async () => {
          await compose(PROJECT, COMPOSE_FILE, ['up', '-d', '--no-recreate', '--scale', 'node=50'], {
            env: composeEnv,
            timeoutMs: 240_000,
          })
          // How many the master listed last: the error says how far the join got.
          let listed = -1
          const names = await waitFor('50 nodes joined', 200_000, async () => {
            const m = (await members(published)).map((x) => x.name)
            listed = m.length
            return m.length === 51 ? m : undefined
          }).catch((err: Error) => {
            throw new Error(`${err.message}; the master listed ${listed} members last`, { cause: err })
          })
          const expected = ['master', ...Array.from({ length: 50 }, (_, i) => `node${i + 1}`)]
          assert.deepEqual(names.sort(), expected.sort())
          const list = (await projectContainers(PROJECT, NETWORK_NAME)).filter(
            (c) => c.service === 'node' || c.service === 'master',
          )
          assert.equal(list.length, 51)
          const ip = new Map(list.map((c) => [c.service === 'node' ? `node${c.number}` : c.service, c.ip]))
          // Across the overlay: node7 reaches node42 and node50 over frames, and node42 takes a message.
          for (const [from, to] of [
            ['node7', 'node42'],
            ['node50', 'node1'],
          ]) {
            // Right after 50 joins the containers are still busy with them: in one suite run node7's
            // API did not answer a ping within 10 s for a minute. Each call may take 30 s, and the
            // error says what the last one got.
            let lastAnswer = 'no answer yet'
            const r = await waitFor(`${from} -> ${to}`, 120_000, async () => {
              const p = await http<{ rttMs?: number }>(
                `http://${ip.get(from)}:5000/ping`,
                { to, timeoutMs: 5000 },
                BEARER,
                30_000,
              ).catch((err: Error) => {
                lastAnswer = err.message
                throw err
              })
              lastAnswer = `${p.status} ${JSON.stringify(p.json)}`
              return typeof p.json.rttMs === 'number' ? p.json : undefined
            }).catch((err: Error) => {
              throw new Error(`${err.message}; the last ping answered: ${lastAnswer}`, { cause: err })
            })
            assert.ok(r.rttMs! >= 0)
          }
          const m = await http(`http://${ip.get('node42')}:5000/message`, {
            sender: 'node7',
            msg: 'hello from node7',
          })
          assert.deepEqual(m.json, { status: 'received' })
        }, 300_000)
      } finally {
        // The other tests here use the same network: nothing of this project may outlive this one.
        kept = await composeDown(PROJECT, COMPOSE_FILE, { network: NETWORK_NAME })
      }
      assert.equal((await projectContainers(PROJECT)).length, 0)
      await assertNetworkReleased(kept ?? [], 'down after --scale node=50')
    },
  )
})

describe('distlab up --mode docker', () => {
  test(
    'starts a compose project, status/ping/logs work on it, down removes every container',
    {
      timeout: 240_000,
    },
    async () => {
      const dir = scratchDir('distlab-docker-cli-')
      scratch.push(dir)
      // A key through the environment, as a user would: the CLI keeps it in the state dir for its calls.
      const runs = join(dir, 'runs')
      const env = {
        DISTLAB_IMAGE: TAG,
        DISTLAB_PROJECT: CLI_PROJECT,
        DISTLAB_KEY: 'cli-test-secret-1',
        DISTLAB_RUNS_DIR: runs,
      }
      const up = await runCli(
        ['--state-dir', dir, 'up', '--mode', 'docker', '--nodes', '3', '--detach', '--json'],
        {
          env,
          timeoutMs: 150_000,
        },
      )
      assert.equal(up.code, 0, up.stderr + up.stdout)
      const rec = JSON.parse(up.stdout) as { mode: string; nodes: Array<{ name: string; host: string }> }
      assert.equal(rec.mode, 'docker')
      assert.deepEqual(
        rec.nodes.map((n) => n.name),
        ['master', 'node1', 'node2', 'node3'],
      )
      const status = await runCli(['--state-dir', dir, 'status', '--json'], { timeoutMs: 60_000 })
      assert.equal(status.code, 0, status.stderr + status.stdout)
      const rows = (JSON.parse(status.stdout) as { nodes: Array<{ name: string; state: string }> }).nodes
      assert.deepEqual(
        rows.map((r) => r.state),
        ['up', 'up', 'up', 'up'],
      )
      const ping = await waitFor('cli ping', 60_000, async () => {
        const p = await runCli(['--state-dir', dir, 'ping', 'node1', 'node3'], { timeoutMs: 30_000 })
        return p.code === 0 ? p : undefined
      })
      assert.match(ping.stdout, /node1 -> node3/)
      const logs = await waitFor('logs', 30_000, async () => {
        const l = await runCli(['--state-dir', dir, 'logs', 'node2'], { timeoutMs: 30_000 })
        return l.code === 0 && l.stdout.includes('listening') ? l : undefined
      })
      assert.match(logs.stdout, /node2/)
      // While the cluster runs: traffic, then `distlab analyze` on the host shows it (the master
      // records its run straight into the host's runs folder).
      const messages = 3
      for (let i = 0; i < messages; i++) {
        const sent = await runCli(
          ['--state-dir', dir, 'send', 'unicast', '--from', 'node1', '--to', 'node3', `live ${i}`, '--json'],
          { timeoutMs: 60_000 },
        )
        assert.equal(sent.code, 0, sent.stderr + sent.stdout)
        assert.equal((JSON.parse(sent.stdout) as { delivered: boolean }).delivered, true)
      }
      type Report = {
        run: string
        protocols: Record<string, { sent: number; received: number }>
        nodes: Record<string, { sent: number; received: number }>
      }
      const report = await waitFor('analyze shows the unicast messages', 60_000, async () => {
        const a = await runCli(['analyze', '--json'], { env: { DISTLAB_RUNS_DIR: runs }, timeoutMs: 30_000 })
        if (a.code !== 0) return undefined
        const r = JSON.parse(a.stdout) as Report
        const u = r.protocols.unicast
        return u && u.received >= messages && (r.nodes.node3?.received ?? 0) >= messages ? r : undefined
      })
      assert.ok(report.protocols.unicast!.sent >= messages)
      assert.ok(report.nodes.node1!.sent >= messages)
      const listed = await runCli(['runs', '--json'], { env: { DISTLAB_RUNS_DIR: runs }, timeoutMs: 30_000 })
      assert.equal(listed.code, 0, listed.stderr)
      assert.ok(listed.stdout.includes(report.run), listed.stdout)
      // ...and the cluster is still up: this was read live, not after `down`.
      const still = await runCli(['--state-dir', dir, 'status', '--json'], { timeoutMs: 60_000 })
      assert.equal(still.code, 0, still.stderr + still.stdout)
      const down = await runCli(['--state-dir', dir, 'down', '--json'], { timeoutMs: 200_000 })
      assert.equal(down.code, 0, down.stderr)
      assert.equal((await projectContainers(CLI_PROJECT)).length, 0)
      const { networksKept } = JSON.parse(down.stdout) as { networksKept: string[] }
      // A kept network is said in one line that names it.
      for (const name of networksKept)
        assert.match(down.stderr, new RegExp(`^distlab: network ${name} kept: `, 'm'))
      // The run stays on the host after `down`, complete (the master closed its store).
      const after = await runCli(['analyze', report.run, '--json'], {
        env: { DISTLAB_RUNS_DIR: runs },
        timeoutMs: 30_000,
      })
      assert.equal(after.code, 0, after.stderr)
      assert.ok((JSON.parse(after.stdout) as Report).protocols.unicast!.received >= messages)
      assert.ok(
        readdirSync(runs).some((f) => f.endsWith('.sqlite')),
        `no run file in ${runs}`,
      )
      await assertNetworkReleased(networksKept, '`distlab down`')
      const gone = await runCli(['--state-dir', dir, 'status'], { timeoutMs: 30_000 })
      assert.equal(gone.code, 1)
    },
  )
})
