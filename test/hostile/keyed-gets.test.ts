// Issue 14, item 14: with a cluster key, the GETs that reveal what the cluster carries or who is in
// it (delivered messages, telemetry events, member tables) need the bearer token; the seed's `/`,
// `/peers`, `/health` and the counters stay open. distlab's own callers send the token: a node's
// member refresh, `distlab status`, `distlab monitor`. Real nodes on 127.69.1.x (in process) and a
// real process cluster from the CLI on block 69 (127.69.x.y).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { Keyring } from '../../src/core/auth.js'
import { defaultProtocols } from '../../src/protocols/defaults.js'
import { PROTECTED_GETS } from '../../src/node/protected-gets.js'
import { binPath, getJson, isAlive, runCli, scratchDir, waitFor } from '../helpers.js'

const KEY = 'keyed gets test secret 0123456789'
const bearer = new Keyring(KEY).bearer()
const OPEN = ['/', '/peers', '/health', '/membership/self', '/metrics', '/unicast/stats', '/telemetry/stats']

/** Status of GET `path` (a stream is aborted once its status is known). */
async function statusOf(base: string, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), 20_000)
  try {
    const res = await fetch(base + path, { method, headers, signal: ctrl.signal })
    const text = res.headers.get('content-type')?.startsWith('text/event-stream') ? '' : await res.text()
    return { status: res.status, text, auth: res.headers.get('www-authenticate') }
  } finally {
    clearTimeout(timer)
    ctrl.abort()
  }
}

describe('keyed cluster: state-revealing GETs need the token', () => {
  let master: Node
  let node1: Node
  let open: Node
  before(async () => {
    const protocols = (name: string, masterUrl?: string) =>
      defaultProtocols({ role: masterUrl ? 'node' : 'master', name, masterUrl })
    master = createNode({
      name: 'master',
      host: '127.69.1.1',
      httpPort: 0,
      framePort: 0,
      key: KEY,
      protocols: protocols('master'),
    })
    await master.start()
    node1 = createNode({
      name: 'node1',
      host: '127.69.1.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      key: KEY,
      protocols: protocols('node1', master.httpUrl),
    })
    await node1.start()
    open = createNode({
      name: 'master',
      host: '127.69.1.11',
      httpPort: 0,
      framePort: 0,
      protocols: protocols('master'),
    })
    await open.start()
    await waitFor('node1 to join', () => master.member('node1') !== undefined)
    // Something to reveal: a delivered unicast message and telemetry events.
    const sent = await getJson(`${node1.httpUrl}/unicast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: bearer },
      body: JSON.stringify({ to: 'master', msg: 'secret-payload' }),
    })
    assert.equal(sent.status, 200, JSON.stringify(sent.body))
  })
  after(async () => {
    await node1?.stop()
    await master?.stop()
    await open?.stop()
  })

  test('each protected GET: 401 without the token or with a wrong one, 200 with it', async () => {
    for (const path of PROTECTED_GETS) {
      const bare = await statusOf(master.httpUrl, path)
      assert.equal(bare.status, 401, `${path} without a token`)
      assert.equal(bare.auth, 'Bearer realm="distlab"')
      assert.doesNotMatch(bare.text, /secret-payload|127\.69/, `${path} leaks nothing`)
      assert.equal((await statusOf(master.httpUrl, path, { authorization: 'Bearer nope' })).status, 401, path)
      assert.equal((await statusOf(master.httpUrl, path, {}, 'HEAD')).status, 401, `HEAD ${path}`)
      assert.equal((await statusOf(master.httpUrl, path, { authorization: bearer })).status, 200, path)
    }
    // The delivered message is there for the token holder.
    await waitFor('the message at the master', async () => {
      const r = await statusOf(master.httpUrl, '/unicast/delivered', { authorization: bearer })
      return r.text.includes('secret-payload')
    })
  })

  test('a query string, a percent-escape or a trailing slash does not slip past', async () => {
    for (const path of [
      '/unicast/delivered?since=0',
      '/unicast/%64elivered',
      '/unicast/delivered/',
      '/cluster/members?version=-1',
      '/telemetry/recent?limit=5000',
      '/membership/',
    ]) {
      const r = await statusOf(master.httpUrl, path)
      assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status}`)
      assert.doesNotMatch(r.text, /secret-payload|127\.69\.1\.2/, `${path} leaks nothing`)
    }
  })

  test("the seed's GET /, /peers, /health and the counters stay open", async () => {
    for (const path of OPEN) assert.equal((await statusOf(master.httpUrl, path)).status, 200, path)
  })

  test('an open cluster keeps every GET open', async () => {
    for (const path of PROTECTED_GETS) assert.equal((await statusOf(open.httpUrl, path)).status, 200, path)
  })

  test("a keyed node's member refresh from the master still works (it sends the token)", async () => {
    await node1.refreshMembers()
    assert.ok(node1.member('master'), 'node1 knows the master')
  })
})

describe('keyed process cluster: distlab status and monitor send the token', () => {
  const home = scratchDir('distlab-keyed-gets-')
  const env = { DISTLAB_HOME: home }
  const cli = (...args: string[]) => runCli(args, { env, timeoutMs: 90_000 })
  let pids: number[] = []
  before(async () => {
    const up = await cli('up', '--detach', '--block', '69', '--nodes', '2', '--key', KEY, '--json')
    assert.equal(up.code, 0, up.stderr)
    const rec = JSON.parse(up.stdout) as { supervisorPid: number; nodes: Array<{ pid: number }> }
    pids = [rec.supervisorPid, ...rec.nodes.map((n) => n.pid)]
  })
  after(async () => {
    await cli('down')
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  })

  test('the master refuses the member list without the token', async () => {
    assert.equal((await statusOf('http://127.69.1.1:5000', '/cluster/members')).status, 401)
    assert.equal((await statusOf('http://127.69.1.1:5000', '/health')).status, 200)
  })

  test('status reads the member list (heartbeats shown)', async () => {
    await waitFor('heartbeats in status', async () => {
      const s = await cli('status', '--json')
      assert.equal(s.code, 0, s.stderr)
      const body = JSON.parse(s.stdout) as {
        nodes: Array<{ name: string; state: string; heartbeatAgoMs?: number }>
      }
      assert.deepEqual(
        body.nodes.map((n) => n.state),
        ['up', 'up', 'up'],
      )
      return body.nodes.filter((n) => n.name !== 'master').every((n) => typeof n.heartbeatAgoMs === 'number')
    })
  })

  test('monitor streams telemetry lines', async () => {
    const child = spawn(process.execPath, [binPath(), 'monitor', '--count', '2', '--duration', '60s'], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    let done = false
    void exited.then(() => (done = true))
    // Traffic for the monitor to show, until it has its lines (bounded: at most 300 messages).
    for (let i = 0; i < 300 && !done; i++) {
      await getJson('http://127.69.2.1:5000/message', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: bearer },
        body: JSON.stringify({ sender: 'test', msg: `m${i}` }),
      }).catch(() => undefined)
      await new Promise((r) => setTimeout(r, 200))
    }
    if (!done && child.pid) child.kill('SIGKILL')
    assert.equal(await exited, 0, err)
    assert.equal(out.trim().split('\n').length, 2, out)
  })
})
