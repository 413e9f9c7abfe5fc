// Issue 14, items 3 and 4 against a live cluster started by the real CLI (child processes on block
// 21, 127.21.x.y): the supervisor's control API takes malformed URLs, huge paths and missing or
// wrong tokens without dying, and a POST /telemetry naming `__proto__` poisons nothing on the master.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { getJson, isAlive, postJson, runCli, scratchDir, waitFor } from '../helpers.js'
import { rawRequest, statusOf } from './raw.js'

const BLOCK = '21'
const master = `http://127.${BLOCK}.1.1:5000`
const node = (i: number) => `http://127.${BLOCK}.2.${i}:5000`

interface Rec {
  supervisorPid: number
  controlUrl: string
  nodes: Array<{ name: string; pid: number }>
}

describe('hostile requests to the supervisor and the master (unkeyed cluster)', () => {
  const home = scratchDir()
  const env = { DISTLAB_HOME: home, DISTLAB_RUNS_DIR: join(home, 'runs') }
  const cli = (...args: string[]) => runCli(args, { env, timeoutMs: 90_000 })
  let rec: Rec
  let host = ''
  let port = 0
  let token = ''

  const record = () => JSON.parse(readFileSync(join(home, 'cluster.json'), 'utf8')) as Rec

  /** The supervisor, every node process and cluster.json are still there and sound. */
  const assertAllUp = async () => {
    assert.ok(isAlive(rec.supervisorPid), 'the supervisor is alive')
    for (const n of rec.nodes) assert.ok(isAlive(n.pid), `${n.name} (pid ${n.pid}) is alive`)
    const now = record()
    assert.equal(now.supervisorPid, rec.supervisorPid)
    assert.equal(now.nodes.length, 3)
    const s = await cli('status', '--json')
    assert.equal(s.code, 0, s.stderr)
  }

  before(async () => {
    const up = await cli('up', '--detach', '--block', BLOCK, '--nodes', '2', '--json')
    assert.equal(up.code, 0, up.stderr)
    rec = record()
    const u = new URL(rec.controlUrl)
    host = u.hostname
    port = Number(u.port)
    token = readFileSync(join(home, 'control.token'), 'utf8').trim()
  })

  after(async () => {
    await cli('down')
    for (const n of rec?.nodes ?? []) if (isAlive(n.pid)) process.kill(n.pid, 'SIGKILL')
    if (rec && isAlive(rec.supervisorPid)) process.kill(rec.supervisorPid, 'SIGKILL')
  })

  test('the control token is random, per run, and readable by its owner only', () => {
    assert.match(token, /^[A-Za-z0-9_-]{40,}$/)
    assert.equal(statSync(join(home, 'control.token')).mode & 0o777, 0o600)
    assert.ok(!readFileSync(join(home, 'cluster.json'), 'utf8').includes(token), 'not in cluster.json')
  })

  test('malformed URLs, huge paths, no token and a wrong token: refused, supervisor and nodes up', async () => {
    const auth = `Authorization: Bearer ${token}\r\n`
    const attacks: Array<[string, string, number[]]> = [
      ['`//` without a token', 'GET // HTTP/1.1\r\nHost: x\r\n\r\n', [401]],
      ['`//` with the token', `GET // HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, [404]],
      [
        'a bad escape without a token',
        'POST /nodes/%zz/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
        [401],
      ],
      [
        'a bad escape with the token',
        `POST /nodes/%zz/kill HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 0\r\n\r\n`,
        [400],
      ],
      [
        'a lone %',
        `POST /nodes/%/restart HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 0\r\n\r\n`,
        [400, 404],
      ],
      ['a scheme-relative URL', `GET //evil.example/nodes HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, [404]],
      ['an absolute URL', `GET http://[::1/nodes HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, [404]],
      ['a 64 KiB path', `GET /${'a'.repeat(65_536)} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, [0, 400, 414, 431]],
      [
        'a wrong token',
        'POST /nodes/node1/kill HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 0\r\n\r\n',
        [401],
      ],
      [
        'the wrong scheme',
        `POST /nodes/node1/kill HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${token}\r\nContent-Length: 0\r\n\r\n`,
        [401],
      ],
      ['no token on GET /nodes', 'GET /nodes HTTP/1.1\r\nHost: x\r\n\r\n', [401]],
      [
        'a JSON body that is null',
        `POST /nodes/node1/kill HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 4\r\n\r\nnull`,
        [200],
      ],
      [
        'a body that is not JSON',
        `POST /nodes/node1/kill HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 3\r\n\r\n{{{`,
        [400],
      ],
      [
        'an oversized body',
        `POST /nodes/node1/kill HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 100000\r\n\r\n${'x'.repeat(100_000)}`,
        [0, 413],
      ],
      ['garbage', '\u0000\u0001\u0002 not http at all\r\n\r\n', [0, 400]],
    ]
    for (const [what, request, want] of attacks) {
      const status = statusOf(await rawRequest(host, port, request))
      assert.ok(want.includes(status), `${what}: answered ${status}, expected one of ${want.join(', ')}`)
      assert.ok(isAlive(rec.supervisorPid), `the supervisor survived ${what}`)
    }
    // The `null` body above was a valid kill (SIGKILL by default) of node1: bring it back.
    const r = await cli('restart', 'node1')
    assert.equal(r.code, 0, r.stderr)
    rec = record()
    await assertAllUp()
  })

  test('`distlab kill` and `restart` carry the token; without it nothing is killed', async () => {
    const denied = await fetch(`${rec.controlUrl}/nodes/node2/kill`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(5000),
    })
    assert.equal(denied.status, 401)
    assert.ok(isAlive(rec.nodes.find((n) => n.name === 'node2')!.pid), 'node2 was not killed')
    const k = await cli('kill', 'node2', '--json')
    assert.equal(k.code, 0, k.stderr)
    assert.equal((JSON.parse(k.stdout) as { running: boolean }).running, false)
    const r = await cli('restart', 'node2')
    assert.equal(r.code, 0, r.stderr)
    rec = record()
    await assertAllUp()
  })

  test('POST /telemetry naming __proto__, constructor and prototype poisons nothing on the master', async () => {
    const ev = (name: string) => ({
      ts: Date.now(),
      node: name,
      proto: name,
      kind: 'send',
      msgId: name,
      src: name,
      dst: name,
      bytes: 1,
      transport: 'udp',
      type: name,
      reason: name,
    })
    for (const name of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString']) {
      const r = await postJson(`${master}/telemetry`, {
        node: name,
        seq: 1,
        lost: 3,
        events: [ev(name), { ...ev(name), kind: 'recv' }],
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
    }
    // __proto__ as a key of the body: refused outright (Fastify's JSON parser) or harmless.
    const raw = `{"__proto__": {"polluted": 1}, "node": "n", "seq": 2, "lost": 0, "events": []}`
    assert.ok([200, 400].includes((await postJson(`${master}/telemetry`, raw)).status))

    // Strict schemas still pass: PUT /link takes a strict object, as do frames' own checks.
    const link = await postJson(`${master}/link`, { peer: 'node1', loss: 0 }, 'PUT')
    assert.equal(link.status, 200, JSON.stringify(link.body))
    const stats = await getJson<{ nodes: Record<string, { lost: number }> }>(`${master}/telemetry/stats`)
    assert.equal(stats.status, 200)
    assert.equal(Object.getOwnPropertyDescriptor(stats.body.nodes, '__proto__')?.value?.lost, 3)
    // Frames are still accepted: a unicast from node1 reaches node2 and is acknowledged.
    const sent = await postJson<{ delivered?: boolean; acked?: boolean }>(`${node(1)}/unicast`, {
      to: 'node2',
      msg: 'after the attack',
    })
    assert.equal(sent.status, 200, JSON.stringify(sent.body))
    await waitFor('node2 to deliver the unicast', async () => {
      const d = await getJson<unknown>(`${node(2)}/unicast/delivered`)
      return JSON.stringify(d.body).includes('after the attack')
    })
    // And fresh telemetry from a real node still lands in the collector.
    const before = (await getJson<{ events: number }>(`${master}/telemetry/stats`)).body.events
    await postJson(`${node(1)}/message`, { sender: 'x', msg: 'y' })
    await waitFor(
      'telemetry from node1 after the attack',
      async () => (await getJson<{ events: number }>(`${master}/telemetry/stats`)).body.events > before,
      20_000,
    )
    await assertAllUp()
  })
})
