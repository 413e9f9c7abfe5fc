// `distlab run` with real foreign programs: a seed-002 Flask bootstrap and nodes written in Python
// (Debian's python3 and python3-flask), each in a network namespace of its own, their HTTP traffic
// through distlab's relays. Block 23 (10.213.23.x in the namespaces) belongs to the library's tests,
// which share one cluster in order; block 180 to the CLI's, which runs beside them (namespace,
// bridge and rule names carry the block, so the two do not meet).
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster } from '../../src/foreign/index.js'
import { readCluster, isAlive } from '../../src/cluster/state.js'
import { RunReader } from '../../src/monitor/store.js'
import { binPath, readStreamUntil, runCli, scratchDir, waitFor } from '../helpers.js'

const BLOCK = 23
const CLI_BLOCK = 180
const programs = join(binPath(), '..', '..', 'test', 'foreign', 'programs')
const stateDir = scratchDir('distlab-foreign-')
const runsDir = join(stateDir, 'runs')
let cluster: ForeignCluster | undefined

after(async () => {
  await cluster?.stop()
})

/**
 * GET from inside an instance's namespace, with Python (as a student's peer would). Asynchronous:
 * the relays run in this process and must keep forwarding meanwhile.
 */
function fetchFrom(netns: string, url: string): Promise<{ ok: boolean; body: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${netns}`,
        '--',
        'python3',
        '-c',
        `import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(${JSON.stringify(url)}, timeout=5).read().decode())`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    let body = ''
    child.stdout.on('data', (d: Buffer) => (body += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ ok: code === 0, body })
    })
  })
}

/** Whether a TCP connection to host:port is accepted (fetch's pool would keep a refused socket around). */
function tcpAccepts(url: string): Promise<boolean> {
  const u = new URL(url)
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port) })
    s.setTimeout(2000, () => (s.destroy(), resolve(false)))
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => (s.destroy(), resolve(false)))
  })
}

async function getJson(url: string, timeoutMs = 3000): Promise<{ message?: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  return (await res.json()) as { message?: string }
}

const UUID = /^Node [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} is running!$/

function events(file: string) {
  const r = new RunReader(file)
  try {
    return [...r.events()]
  } finally {
    r.close()
  }
}

describe('distlab run', { concurrency: true }, () => {
  describe('the library', { concurrency: 1 }, () => {
    test('a Flask bootstrap and three nodes run, each on its own address, reachable from the host', async () => {
      cluster = await startForeignCluster({
        bootstrap: `python3 ${programs}/bootstrap.py {port}`,
        node: `python3 ${programs}/node.py`,
        nodes: 3,
        env: { PERIOD: '0.3' },
        stateDir,
        runsDir,
        block: BLOCK,
        dashboardPort: 0,
      })
      assert.equal(cluster.isolated, true)
      const names = cluster.instances.map((i) => i.name)
      assert.deepEqual(names, ['bootstrap', 'node1', 'node2', 'node3'])
      const node2 = cluster.instances.find((i) => i.name === 'node2')!
      assert.equal(node2.host, `10.213.${BLOCK}.5`)
      assert.match((await getJson(`${node2.url}/`)).message ?? '', UUID)
      const rec = readCluster(stateDir)
      assert.equal(rec?.mode, 'foreign')
      assert.equal(rec?.foreign?.isolated, true)
      // The placeholders and DISTLAB_* variables reached the program: it registered and talks to its peers.
      await waitFor(
        'node1 to log a message from node2',
        () => cluster!.logs('node1').some((l) => /^Received message from node2: hello \d+$/.test(l)),
        30_000,
      )
    })

    test('the relays record the foreign traffic as HTTP messages in the run store', async () => {
      const c = cluster!
      assert.ok(c.runFile && existsSync(c.runFile))
      // The request and its answer are recorded as they cross the relay, and the store writes them
      // in batches: the answer may reach the file a batch after the request.
      await waitFor(
        'POST /message from node1 to node2 and its answer in the run',
        () => {
          const seen = events(c.runFile!)
          return (
            seen.some(
              (e) =>
                e.kind === 'recv' && e.node === 'node2' && e.src === 'node1' && e.type === 'POST /message',
            ) && seen.some((e) => e.type === 'HTTP 200' && e.src === 'node2' && e.dst === 'node1')
          )
        },
        15_000,
        250,
      )
      const all = events(c.runFile!)
      assert.ok(
        all.some(
          (e) => e.proto === 'http' && e.type === 'HTTP 200' && e.src === 'node2' && e.dst === 'node1',
        ),
      )
      assert.ok(all.some((e) => e.type === 'POST /register' && e.dst === 'bootstrap'))
      // Only the student's traffic: the supervisor's own node beats to no master (they were drops).
      assert.deepEqual(
        all.filter((e) => e.proto === 'heartbeat').slice(0, 3),
        [],
        'no heartbeat events in a foreign run',
      )
    })

    test('the dashboard shows the foreign instances and streams their traffic live', async () => {
      const c = cluster!
      assert.ok(c.dashboardUrl)
      const state = (await (await fetch(`${c.dashboardUrl}/api/state`)).json()) as {
        run: { id: string }
        nodes: Array<{ name: string; up: boolean }>
      }
      assert.equal(state.run.id, c.runId)
      for (const name of ['bootstrap', 'node1', 'node2', 'node3'])
        assert.ok(
          state.nodes.some((n) => n.name === name && n.up),
          `${name} missing or down`,
        )
      const text = await readStreamUntil(
        `${c.dashboardUrl}/api/stream`,
        (text) => text.includes('node1') && text.includes('http'),
      )
      assert.ok(text.includes('node1') && text.includes('http'), 'no foreign HTTP traffic in the live stream')
    })

    test('link set --all --loss 0.3 shows as drops on the foreign links; heal clears it', async () => {
      const c = cluster!
      c.setLink('*', '*', { loss: 0.3 })
      await waitFor(
        'loss drops in the run',
        () => events(c.runFile!).filter((e) => e.kind === 'drop' && e.reason === 'loss').length >= 5,
        20_000,
        250,
      )
      assert.ok(c.traffic().some((t) => t.dropped > 0))
      // TCP lives through loss: the messages still arrive.
      const before = c.logs('node3').length
      await waitFor('node3 still receiving under loss', () => c.logs('node3').length > before + 2, 20_000)
      c.heal()
      assert.deepEqual(c.linkState().rules, [])
    })

    test('a rule for a→b shapes only what a sends to b', async () => {
      const c = cluster!
      c.setLink('node1', 'node2', { delayMs: 1500 })
      const node2 = `http://10.213.${BLOCK}.5:5000/`
      const t0 = Date.now()
      assert.ok((await fetchFrom(`dl${BLOCK}-node1`, node2)).ok)
      const slow = Date.now() - t0
      const t1 = Date.now()
      assert.ok((await fetchFrom(`dl${BLOCK}-node3`, node2)).ok)
      const fast = Date.now() - t1
      assert.ok(slow >= 1500, `node1 → node2 took ${slow} ms`)
      assert.ok(fast < slow, `node3 → node2 took ${fast} ms, node1 → node2 ${slow} ms`)
      assert.deepEqual(
        c.linkState().rules.map((r) => [r.from, r.to, r.rule.delayMs]),
        [['node1', 'node2', 1500]],
      )
      c.heal()
    })

    test('partition cuts two groups of foreign processes; heal joins them', async () => {
      const c = cluster!
      c.partition([
        ['bootstrap', 'node1'],
        ['node2', 'node3'],
      ])
      const node1 = `http://10.213.${BLOCK}.4:5000/`
      const node3 = `http://10.213.${BLOCK}.6:5000/`
      await waitFor(
        'node2 cut from node1',
        async () => !(await fetchFrom(`dl${BLOCK}-node2`, node1)).ok,
        20_000,
      )
      assert.match(
        (JSON.parse((await fetchFrom(`dl${BLOCK}-node2`, node3)).body) as { message: string }).message,
        UUID,
      )
      // The relay's telemetry reaches the run store in batches: wait for the drop to be written.
      await waitFor(
        'a partition drop in the run',
        () => events(c.runFile!).some((e) => e.kind === 'drop' && e.reason === 'partition'),
        20_000,
        250,
      )
      c.heal()
      await waitFor(
        'node2 reaches node1 again',
        async () => (await fetchFrom(`dl${BLOCK}-node2`, node1)).ok,
        20_000,
      )
    })

    test('kill, restart, pause and resume act on the foreign processes', async () => {
      const c = cluster!
      const url = c.instances.find((i) => i.name === 'node3')!.url
      const first = (await getJson(`${url}/`)).message
      await c.kill('node3')
      assert.equal(c.running('node3'), false)
      assert.equal(await tcpAccepts(url), false)
      await c.restart('node3')
      const second = (await getJson(`${url}/`)).message
      assert.match(second ?? '', UUID)
      assert.notEqual(second, first) // a new process, a new UUID
      await c.pause('node3')
      await assert.rejects(getJson(`${url}/`, 1500))
      await c.resume('node3')
      assert.match((await getJson(`${url}/`)).message ?? '', UUID)
    })

    test('stop leaves no process, namespace, bridge or host rule behind', async () => {
      const c = cluster!
      const pids = c.instances.map((i) => i.pid!)
      await c.stop()
      cluster = undefined
      for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still runs`)
      const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
      assert.doesNotMatch(ns, new RegExp(`^dl${BLOCK}-`, 'm'))
      assert.notEqual(spawnSync('ip', ['link', 'show', `dlbr${BLOCK}`]).status, 0)
      assert.doesNotMatch(
        spawnSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' }).stdout,
        new RegExp(`distlab-foreign-${BLOCK}\\b`),
      )
      assert.equal(readCluster(stateDir), undefined)
    })
  })

  test('the CLI: run -d, status, link set, analyze and down on a foreign cluster', async () => {
    const dir = scratchDir('distlab-foreign-cli-')
    const env = { DISTLAB_RUNS_DIR: join(dir, 'runs') }
    const base = ['--state-dir', dir]
    const up = await runCli(
      [
        ...base,
        'run',
        '--block',
        String(CLI_BLOCK),
        '--bootstrap',
        `python3 ${programs}/bootstrap.py {port}`,
        '--node',
        `python3 ${programs}/node.py`,
        '--nodes',
        '2',
        '--env',
        'PERIOD=0.3',
        '-d',
        '--json',
      ],
      { env, timeoutMs: 90_000 },
    )
    try {
      assert.equal(up.code, 0, up.stderr)
      const started = JSON.parse(up.stdout) as { runId: string; instances: Array<{ name: string }> }
      assert.deepEqual(
        started.instances.map((i) => i.name),
        ['bootstrap', 'node1', 'node2'],
      )
      const status = await runCli([...base, 'status', '--json'], { env })
      assert.equal(status.code, 0, status.stderr)
      assert.equal((JSON.parse(status.stdout) as { nodes: unknown[] }).nodes.length, 3)
      const set = await runCli([...base, 'link', 'set', '--all', '--loss', '0.3'], { env })
      assert.equal(set.code, 0, set.stderr)
      await waitFor(
        'drops in analyze',
        async () => {
          const a = await runCli([...base, 'analyze', started.runId, '--json'], { env })
          const r = JSON.parse(a.stdout) as { protocols: Record<string, { dropped: number }> }
          return (r.protocols.http?.dropped ?? 0) > 0
        },
        30_000,
        500,
      )
      const logs = await runCli([...base, 'logs', '-n', '200'], { env })
      assert.match(logs.stdout, /node1\s+\| \S+ Received message from node2: hello/)
    } finally {
      const down = await runCli([...base, 'down'], { env, timeoutMs: 60_000 })
      assert.equal(down.code, 0, down.stderr)
    }
    assert.equal(readCluster(dir), undefined)
    assert.doesNotMatch(
      spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout,
      new RegExp(`^dl${CLI_BLOCK}-`, 'm'),
    )
  })
})
