// A master and two nodes on real sockets (127.10.x.y, OS-chosen ports): the HTTP API a user
// calls, what garbage does to a node, the link emulator through the API, and telemetry.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { createServer, type Server } from 'node:http'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { createRootLogger } from '../../src/core/logger.js'
import { getJson, postJson, waitFor } from '../helpers.js'
import type { Ping } from '../../src/protocols/ping/index.js'

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').at(-1))
  }
  return sum
}

describe('node', () => {
  const lines: string[] = []
  const logger = createRootLogger({ write: (l) => lines.push(l) })
  const master = createNode({ name: 'master', host: '127.10.1.1', httpPort: 0, framePort: 0, logger })
  let n1: Node
  let n2: Node

  before(async () => {
    await master.start()
    n1 = createNode({
      name: 'node1',
      host: '127.10.2.1',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      logger,
    })
    n2 = createNode({
      name: 'node2',
      host: '127.10.2.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
      logger,
    })
    await n1.start()
    await n2.start()
    await n1.refreshMembers()
    await n2.refreshMembers()
  })
  after(async () => {
    await n1.stop()
    await n2.stop()
    await master.stop()
    await master.stop()
  })

  test('GET / answers in the seed format with the node UUID', async () => {
    const r = await getJson<{ message: string }>(`${n2.httpUrl}/`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { message: `Node ${n2.id} is running!` })
    assert.match(n2.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  test('POST /message answers {"status":"received"} and logs the seed line', async () => {
    const r = await postJson(`${n2.httpUrl}/message`, { sender: 'Node1', msg: 'Hello Node2!' })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { status: 'received' })
    assert.ok(lines.some((l) => l.includes('Received message from Node1: Hello Node2!')))
  })

  test('GET /message answers 405 with Allow: POST; an unknown path stays 404', async () => {
    const res = await fetch(`${n2.httpUrl}/message`)
    assert.equal(res.status, 405)
    assert.equal(res.headers.get('allow'), 'POST')
    assert.equal(((await res.json()) as { error: string }).error, 'method_not_allowed')
    const none = await fetch(`${n2.httpUrl}/no-such-path`)
    assert.equal(none.status, 404)
    assert.equal(none.headers.get('allow'), null)
  })

  test('bad bodies get a 4xx naming the problem, and are counted', async () => {
    const missing = await postJson<{ error: string; field: string }>(`${n2.httpUrl}/message`, { sender: 'x' })
    assert.equal(missing.status, 400)
    assert.equal(missing.body.field, 'msg')
    const wrongType = await postJson<{ field: string }>(`${n2.httpUrl}/message`, { sender: 3, msg: 'x' })
    assert.equal(wrongType.status, 400)
    assert.equal(wrongType.body.field, 'sender')
    const notJson = await postJson<{ error: string }>(`${n2.httpUrl}/message`, '{"sender": ')
    assert.equal(notJson.status, 400)
    const huge = await postJson<{ error: string }>(
      `${n2.httpUrl}/message`,
      JSON.stringify({ sender: 'x', msg: 'y'.repeat(10_000_000) }),
    )
    assert.equal(huge.status, 413)
    assert.equal(huge.body.error, 'body_too_large')
    const m = (await getJson<string>(`${n2.httpUrl}/metrics`)).body
    assert.ok(metric(m, 'distlab_http_rejected_total') >= 4)
    assert.equal((await getJson(`${n2.httpUrl}/health`)).status, 200)
  })

  test('garbage datagrams and streams are dropped and counted; the node stays up', async () => {
    const port = n1.self().framePort
    const s = createSocket('udp4')
    for (let i = 0; i < 100; i++)
      await new Promise<void>((r) => s.send(Buffer.alloc(1 + (i % 50), i), port, '127.10.2.1', () => r()))
    s.close()
    await new Promise<void>((resolve) => {
      const c = connect(port, '127.10.2.1', () => c.end(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])))
      c.on('close', () => resolve())
      c.on('error', () => resolve())
    })
    const dropped = await waitFor('drops in /metrics', async () => {
      const m = (await getJson<string>(`${n1.httpUrl}/metrics`)).body
      const n = metric(m, 'distlab_frames_dropped_total', { direction: 'in' })
      return n >= 90 ? n : undefined
    })
    assert.ok(dropped >= 90)
    assert.equal((await getJson(`${n1.httpUrl}/health`)).status, 200)
    assert.ok((await n1.protocol<Ping>('ping')!.ping('node2')).rttMs >= 0)
  })

  test('link loss set through the API stops traffic; heal restores it', async () => {
    assert.equal((await postJson(`${n1.httpUrl}/link`, { peer: '*', loss: 1 }, 'PUT')).status, 200)
    const lost = await postJson<{ error: string }>(`${n1.httpUrl}/ping`, { to: 'node2', timeoutMs: 300 })
    assert.equal(lost.status, 504)
    assert.equal(lost.body.error, 'timeout')
    const bad = await postJson<{ field: string }>(`${n1.httpUrl}/link`, { peer: '*', loss: 7 }, 'PUT')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.field, 'loss')
    await postJson(`${n1.httpUrl}/heal`, {})
    const ok = await postJson<{ rttMs: number }>(`${n1.httpUrl}/ping`, { to: 'node2', timeoutMs: 2000 })
    assert.equal(ok.status, 200)
    assert.ok(ok.body.rttMs >= 0)
  })

  test('a partition separates the groups in both directions, over UDP and TCP', async () => {
    for (const n of [n1, n2])
      await postJson(`${n.httpUrl}/partition`, { groups: [['node1'], ['node2', 'master']] })
    for (const transport of ['udp', 'tcp'])
      assert.equal(
        (await postJson(`${n1.httpUrl}/ping`, { to: 'node2', timeoutMs: 300, transport })).status,
        504,
      )
    assert.equal((await postJson(`${n2.httpUrl}/ping`, { to: 'node1', timeoutMs: 300 })).status, 504)
    for (const n of [n1, n2]) await postJson(`${n.httpUrl}/heal`, {})
    assert.equal(
      (await postJson(`${n2.httpUrl}/ping`, { to: 'node1', timeoutMs: 2000, transport: 'tcp' })).status,
      200,
    )
  })

  test("telemetry from every node reaches the master's collector", async () => {
    await n1.protocol<Ping>('ping')!.ping('node2')
    await waitFor('ping events at the master', () => {
      const events = master.collector!.recentEvents()
      return (
        events.some((e) => e.node === 'node1' && e.proto === 'ping' && e.kind === 'send') &&
        events.some((e) => e.node === 'node2' && e.proto === 'ping' && e.kind === 'recv')
      )
    })
    const s = master.collector!.stats()
    assert.equal(s.lostEvents, 0)
    assert.ok(s.nodes.node1 && s.nodes.node2)
  })

  test('heartbeats reach the master', async () => {
    await waitFor('a heartbeat from node1', () => master.member('node1')?.lastSeen, 5000)
  })
})

test('a node started before its master joins once the master is up', async () => {
  const node = createNode({
    name: 'late1',
    host: '127.10.3.2',
    httpPort: 0,
    framePort: 0,
    masterUrl: 'http://127.10.3.1:5000',
    membersRefreshMs: 100,
  })
  const master = createNode({ name: 'master', host: '127.10.3.1', httpPort: 5000, framePort: 0 })
  try {
    await node.start()
    await new Promise((r) => setTimeout(r, 300))
    await master.start()
    await waitFor('the late node in the master registry', () => master.member('late1'), 10_000)
    await waitFor('the master in the node view', () => node.member('master'), 10_000)
  } finally {
    await node.stop()
    await master.stop()
  }
})

/**
 * Starts `server` (a hand-made master) at 127.10.`block`.1:5000 and makes node n2 at 127.10.`block`.2
 * pointed at it, with no periodic refresh: the test asks for each refresh itself.
 */
async function besideHandMadeMaster(server: Server, block: number): Promise<Node> {
  await new Promise<void>((r) => server.listen(5000, `127.10.${block}.1`, r))
  return createNode({
    name: 'n2',
    host: `127.10.${block}.2`,
    httpPort: 0,
    framePort: 0,
    masterUrl: `http://127.10.${block}.1:5000`,
    membersRefreshMs: 3_600_000,
  })
}

test('a member list answered late, after a later request was answered, does not replace the newer list', async () => {
  // A master busy with a mass join answers out of order: the node asked twice (its periodic refresh
  // and one for an unknown peer), and the first answer, older news, arrives last.
  const member = (name: string, i: number) => ({
    name,
    id: `00000000-0000-4000-8000-00000000000${i}`,
    role: name === 'master' ? 'master' : 'node',
    host: `127.10.4.${i}`,
    httpPort: 5000,
    framePort: 7000,
  })
  let self: Record<string, unknown> | undefined
  let joins = 0
  let lists = 0
  const server = createServer((req, res) => {
    const answer = (body: unknown, delayMs = 0) =>
      setTimeout(() => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(body))
      }, delayMs)
    let text = ''
    req.on('data', (d) => (text += d))
    req.on('end', () => {
      if (req.url === '/cluster/join') {
        joins++
        self = JSON.parse(text) as Record<string, unknown>
        return answer({ version: 5, members: [member('master', 1), self] })
      }
      if (req.url?.startsWith('/cluster/members')) {
        // The first request sees version 6, from before this node's join went through (a master
        // answers a join and a list in any order), and is answered last; the second sees version 7.
        const first = ++lists === 1
        const members = first
          ? [member('master', 1), member('a', 3)]
          : [member('master', 1), self, member('a', 3), member('b', 4)]
        return answer({ version: first ? 6 : 7, members }, first ? 400 : 0)
      }
      answer({ status: 'ok' })
    })
  })
  const node = await besideHandMadeMaster(server, 4)
  try {
    await node.start()
    assert.equal(joins, 1)
    const older = node.refreshMembers()
    await waitFor('the first member-list request at the master', () => lists === 1, 5000)
    await node.refreshMembers()
    assert.ok(node.member('b'), 'the newer list is applied')
    await older
    assert.equal(lists, 2)
    assert.ok(node.member('b'), 'the older answer, come last, did not replace the newer list')
    assert.equal(node.memberList().members.length, 4)
    assert.equal(joins, 1, 'an older list without this node is no reason to join again')
  } finally {
    await node.stop()
    await new Promise((r) => server.close(r))
  }
})

test('a member list answered while the node stops does not make it join the master again', async () => {
  // At `down` a hundred nodes left and then joined again: a refresh asked before stop() was
  // answered after the leave, by a list without the node, which read as "the master forgot me".
  const events: string[] = []
  let answerList: (() => void) | undefined
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (d) => (text += d))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      if (req.url === '/cluster/join') {
        events.push('join')
        const self = JSON.parse(text) as Record<string, unknown>
        return res.end(JSON.stringify({ version: 5, members: [self] }))
      }
      if (req.url?.startsWith('/cluster/members')) {
        events.push('list')
        // Answered once the node has left: a list without it.
        answerList = () => res.end(JSON.stringify({ version: 6, members: [] }))
        return
      }
      if (req.url === '/cluster/leave') events.push('leave')
      res.end(JSON.stringify({ status: 'left' }))
    })
  })
  const node = await besideHandMadeMaster(server, 5)
  try {
    await node.start()
    const refresh = node.refreshMembers()
    await waitFor('the member-list request at the master', () => events.includes('list'), 5000)
    const stopped = node.stop()
    await waitFor('the leave at the master', () => events.includes('leave'), 5000)
    answerList!()
    await refresh
    await stopped
    assert.deepEqual(events, ['join', 'list', 'leave'], 'no join after the leave')
  } finally {
    await node.stop()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
})
