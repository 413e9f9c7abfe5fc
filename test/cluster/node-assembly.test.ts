// The node distlab starts (createNode) against the bare Node it is built on (127.84.x.y, OS-chosen
// ports): the Node runs only what it is handed, and createNode hands it heartbeat, ping and, on the
// master, the telemetry collector, so `distlab master` still collects and every node still answers
// ping and heartbeats.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { Collector } from '../../src/monitor/collector.js'
import { getJson, postJson, waitFor } from '../helpers.js'

interface MemberView {
  name: string
  lastSeen?: number
}

describe('createNode', () => {
  const master = createNode({ name: 'master', host: '127.84.1.1', httpPort: 0, framePort: 0 })
  let n1: Node

  before(async () => {
    await master.start()
    n1 = createNode({
      name: 'node1',
      host: '127.84.1.2',
      httpPort: 0,
      framePort: 0,
      masterUrl: master.httpUrl,
    })
    await n1.start()
  })
  after(async () => {
    await n1?.stop()
    await master.stop()
  })

  test('a node answers POST /ping with the round trip to another node', async () => {
    const r = await postJson<{ to: string; rttMs: number; transport: string }>(`${n1.httpUrl}/ping`, {
      to: 'master',
      timeoutMs: 10_000,
      transport: 'tcp',
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.to, 'master')
    assert.equal(r.body.transport, 'tcp')
    assert.ok(r.body.rttMs >= 0)
    const bad = await postJson<{ error: string; field: string }>(`${n1.httpUrl}/ping`, { to: '' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error, 'invalid_body')
    assert.equal(bad.body.field, 'to')
  })

  test("the master hears the node's heartbeats", async () => {
    await waitFor(
      'a heartbeat from node1 in the master member list',
      async () => {
        const r = await getJson<{ members: MemberView[] }>(`${master.httpUrl}/cluster/members`)
        const seen = r.body.members.find((m) => m.name === 'node1')?.lastSeen
        return typeof seen === 'number' && seen > 0
      },
      30_000,
    )
  })

  test("the master's collector takes in the node's telemetry", async () => {
    assert.ok(master.collector instanceof Collector)
    assert.equal(n1.collector, undefined)
    await postJson(`${n1.httpUrl}/message`, { sender: 'test', msg: 'hello' })
    await waitFor(
      "node1's events in /telemetry/stats",
      async () => {
        const r = await getJson<{ nodes: Record<string, { events: number }> }>(
          `${master.httpUrl}/telemetry/stats`,
        )
        return (r.body.nodes.node1?.events ?? 0) > 0
      },
      30_000,
    )
  })
})

describe('a bare Node', () => {
  test('runs only what it is handed: no ping route, no telemetry routes, no collector', async () => {
    const bare = new Node({ name: 'master', host: '127.84.2.1', httpPort: 0, framePort: 0 })
    await bare.start()
    try {
      assert.equal(bare.collector, undefined)
      assert.equal(bare.protocol('ping'), undefined)
      assert.equal(bare.protocol('heartbeat'), undefined)
      assert.equal((await postJson(`${bare.httpUrl}/ping`, { to: 'x' })).status, 404)
      assert.equal((await getJson(`${bare.httpUrl}/telemetry/stats`)).status, 404)
      // The registry is the master's own: it still answers.
      assert.equal((await getJson(`${bare.httpUrl}/cluster/members`)).status, 200)
    } finally {
      await bare.stop()
    }
  })

  test('takes a collector on the master only', () => {
    assert.throws(() => new Node({ name: 'node1', collector: new Collector() }), {
      code: 'ERR_INVALID_ARGUMENT',
      field: 'collector',
    })
  })
})
