// The local cluster as a user drives it: the real CLI, child processes, fixed ports on the
// loopback addresses of block 13 (127.13.x.y), and a scratch state dir.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { binPath, getJson, isAlive, postJson, runCli, scratchDir, waitFor } from '../helpers.js'

const BLOCK = '13'
const node = (i: number) => `http://127.${BLOCK}.2.${i}:5000`

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, host, () => s.close(() => resolve(true)))
  })
}

describe('distlab up --detach / status / logs / link / down', () => {
  const home = scratchDir()
  const env = { DISTLAB_HOME: home }
  const cli = (...args: string[]) => runCli(args, { env, timeoutMs: 150_000 })
  let pids: number[] = []

  before(async () => {
    const up = await cli('up', '--detach', '--block', BLOCK, '--json')
    assert.equal(up.code, 0, up.stderr)
    const rec = JSON.parse(up.stdout) as {
      supervisorPid: number
      nodes: Array<{ name: string; pid: number; host: string }>
    }
    assert.deepEqual(
      rec.nodes.map((n) => [n.name, n.host]),
      [
        ['master', `127.${BLOCK}.1.1`],
        ['node1', `127.${BLOCK}.2.1`],
        ['node2', `127.${BLOCK}.2.2`],
        ['node3', `127.${BLOCK}.2.3`],
        ['node4', `127.${BLOCK}.2.4`],
      ],
    )
    pids = [rec.supervisorPid, ...rec.nodes.map((n) => n.pid)]
    assert.equal(new Set(pids).size, 6, 'the supervisor and five node processes')
  })

  after(async () => {
    await cli('down')
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  })

  test('each node answers on its own address with its own UUID', async () => {
    const ids = new Set<string>()
    for (let i = 1; i <= 4; i++) {
      const r = await getJson<{ message: string }>(`${node(i)}/`)
      assert.match(r.body.message, /^Node [0-9a-f-]{36} is running!$/)
      ids.add(r.body.message)
    }
    assert.equal(ids.size, 4)
  })

  test('a message posted to node2 shows in `distlab logs node2`', async () => {
    const r = await postJson(`${node(2)}/message`, { sender: 'Node1', msg: 'Hello Node2!' })
    assert.deepEqual(r.body, { status: 'received' })
    await waitFor('the log line', async () =>
      (await cli('logs', 'node2')).stdout.includes('Received message from Node1: Hello Node2!'),
    )
    const all = await cli('logs')
    assert.match(all.stdout, /node2 +\| .*Received message from Node1: Hello Node2!/)
  })

  test('status lists every node as up, in JSON too', async () => {
    const s = await cli('status', '--json')
    assert.equal(s.code, 0, s.stderr)
    const body = JSON.parse(s.stdout) as { nodes: Array<{ name: string; state: string; id: string }> }
    assert.deepEqual(
      body.nodes.map((n) => [n.name, n.state]),
      [
        ['master', 'up'],
        ['node1', 'up'],
        ['node2', 'up'],
        ['node3', 'up'],
        ['node4', 'up'],
      ],
    )
    const human = await cli('status')
    assert.match(human.stdout, /5 up, 0 dead/)
  })

  test('a second `up` is refused with one clear line and exit 1', async () => {
    const again = await cli('up', '--detach', '--block', BLOCK)
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^distlab: a cluster is already running .*distlab down/m)
  })

  test('link set --all --loss 1 stops traffic; heal restores it', async () => {
    assert.equal((await cli('ping', 'node1', 'node3', '-c', '1', '--timeout', '5s')).code, 0)
    const set = await cli('link', 'set', '--all', '--loss', '1')
    assert.equal(set.code, 0, set.stderr)
    const cut = await cli('ping', 'node1', 'node3', '-c', '2', '--timeout', '300ms', '--json')
    assert.equal(cut.code, 1)
    assert.equal(JSON.parse(cut.stdout).received, 0)
    const metrics = (await getJson<string>(`${node(1)}/metrics`)).body
    assert.match(
      metrics,
      /distlab_frames_dropped_total\{proto="ping",reason="loss",direction="out",transport="udp"\} [1-9]/,
    )
    assert.equal((await cli('heal')).code, 0)
    const back = await cli('ping', 'node1', 'node3', '-c', '1', '--timeout', '5s', '--json')
    assert.equal(back.code, 0, back.stderr)
    assert.equal(JSON.parse(back.stdout).received, 1)
  })

  test('a link between two nodes and a partition, set from the CLI', async () => {
    assert.equal((await cli('link', 'set', 'node1', 'node2', '--delay', '20ms', '--jitter', '5ms')).code, 0)
    const show = JSON.parse((await cli('link', 'show', '--json')).stdout) as {
      nodes: Array<{ node: string; rules: Record<string, { delayMs: number }> }>
    }
    assert.equal(show.nodes.find((n) => n.node === 'node1')!.rules.node2!.delayMs, 20)
    assert.equal(show.nodes.find((n) => n.node === 'node2')!.rules.node1!.delayMs, 20)
    assert.equal((await cli('partition', 'node1,node2', 'node3,node4')).code, 0)
    assert.equal((await cli('ping', 'node1', 'node3', '-c', '1', '--timeout', '300ms')).code, 1)
    assert.equal((await cli('ping', 'node1', 'node2', '-c', '1', '--timeout', '5s')).code, 0)
    await cli('heal')
    assert.equal((await cli('ping', 'node1', 'node3', '-c', '1', '--timeout', '5s')).code, 0)
    const bad = await cli('link', 'set', 'node1', 'node9', '--loss', '0.1')
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /unknown node "node9"/)
    const usage = await cli('link', 'set', '--all', '--loss', '3')
    assert.equal(usage.code, 2)
  })

  test('monitor prints live telemetry lines', async () => {
    const m = await cli('monitor', '--count', '3', '--duration', '20s')
    assert.equal(m.code, 0, m.stderr)
    const lines = m.stdout.trim().split('\n')
    assert.equal(lines.length, 3)
    for (const l of lines)
      assert.match(l, /^\d\d:\d\d:\d\d\.\d{3} \S+ +\S+ +(send|recv|deliver|drop|error) +\S+ -> \S+ \d+B \S+/)
  })

  test('kill -9 marks a node dead in status; restart brings it back', async () => {
    assert.equal((await cli('kill', 'node3')).code, 0)
    const s = await cli('status', '--json')
    assert.equal(s.code, 1, 'status exits 1 when a node is dead')
    assert.equal(JSON.parse(s.stdout).nodes.find((n: { name: string }) => n.name === 'node3').state, 'dead')
    assert.equal((await cli('restart', 'node3')).code, 0)
    assert.equal((await cli('status')).code, 0)
    const rec = JSON.parse(readFileSync(join(home, 'cluster.json'), 'utf8')) as {
      nodes: Array<{ pid: number }>
    }
    pids.push(...rec.nodes.map((n) => n.pid))
  })

  test('down leaves no process and no bound port behind', async () => {
    const d = await cli('down')
    assert.equal(d.code, 0, d.stderr)
    assert.match(d.stdout, /stopped master and 4 nodes/)
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still alive`)
    for (const host of [`127.${BLOCK}.1.1`, ...[1, 2, 3, 4].map((i) => `127.${BLOCK}.2.${i}`)])
      for (const port of [5000, 7000]) assert.ok(await portFree(host, port), `${host}:${port} still bound`)
    assert.match((await cli('status')).stderr, /no cluster is running/)
  })
})

describe('distlab up failures', () => {
  test('a busy port gets one clear line, exit 1, and nothing left running', async () => {
    const home = scratchDir()
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(5000, `127.${BLOCK}.2.3`, () => r()))
    try {
      const up = await runCli(['up', '--detach', '--block', BLOCK], {
        env: { DISTLAB_HOME: home },
        timeoutMs: 60_000,
      })
      assert.equal(up.code, 1)
      assert.match(
        up.stderr,
        new RegExp(`^distlab: port 5000 on 127\\.${BLOCK}\\.2\\.3 is already in use$`, 'm'),
      )
      assert.ok(await portFree(`127.${BLOCK}.1.1`, 5000), 'the master was not left running')
    } finally {
      blocker.close()
    }
  })

  test('bad usage exits 2', async () => {
    const r = await runCli(['up', '--nodes', '0'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--nodes/)
    assert.equal((await runCli(['up', '--mode', 'teleport'])).code, 2)
  })
})

describe('distlab up in the foreground', () => {
  test('prints the table, streams prefixed logs, and Ctrl-C stops everything', async () => {
    const home = scratchDir()
    const child = spawn(process.execPath, [binPath(), 'up', '--nodes', '2', '--block', BLOCK], {
      env: { ...process.env, DISTLAB_HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    try {
      await waitFor('the cluster table', () => out.includes('master + 2 nodes up'), 60_000).catch(
        (err: Error) => {
          throw new Error(`${err.message}\n${out}`)
        },
      )
      assert.match(out, /NAME +ID +ADDRESS/)
      await waitFor('prefixed log lines', () => /^node2 +\| .*listening/m.test(out), 10_000)
      const r = await postJson(`http://127.${BLOCK}.2.1:5000/message`, { sender: 'A', msg: 'over the wire' })
      assert.equal(r.status, 200)
      await waitFor('the message in the foreground log', () =>
        /node1 +\| .*Received message from A: over the wire/.test(out),
      )
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      child.kill('SIGINT')
      assert.equal(await exited, 0)
      assert.match(out, /nothing left running/)
      assert.ok(await portFree(`127.${BLOCK}.2.1`, 5000))
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})
