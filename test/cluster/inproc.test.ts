// Many nodes in one process, each with real sockets on its own loopback address (block 12).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LocalCluster, checkOpenFileLimit } from '../../src/cluster/local.js'
import { getJson, scratchDir, waitFor } from '../helpers.js'
import type { Ping } from '../../src/protocols/ping/index.js'

test(
  '200 nodes in one process all answer /health, join the master, and reach each other',
  { timeout: 240_000 },
  async () => {
    const cluster = new LocalCluster({
      nodes: 200,
      mode: 'inproc',
      stateDir: scratchDir(),
      block: 12,
      dashboardPort: 0,
    })
    await cluster.start()
    try {
      const t0 = Date.now()
      const list = cluster.list()
      assert.equal(list.length, 201)
      assert.equal(list[200]!.host, '127.12.2.200')
      const ids = new Set<string>()
      for (const n of list) {
        // Just after start, 200 nodes joining the overlay at once keep the one process busy for a few seconds.
        const r = await getJson<{ status: string; id: string; name: string }>(
          `http://${n.host}:${n.httpPort}/health`,
          {},
          30_000,
        )
        assert.equal(r.status, 200)
        assert.equal(r.body.name, n.name)
        ids.add(r.body.id)
      }
      assert.equal(ids.size, 201, 'every node has its own id')
      console.log(`health of 201 nodes in ${Date.now() - t0} ms`)
      const nodes = cluster.nodeObjects()
      const master = nodes[0]!
      await waitFor(
        'every node registered with the master',
        () => master.memberList().members.length === 201,
        30_000,
      )
      const first = nodes[1]!
      const last = nodes[200]!
      await first.refreshMembers()
      const r = await first.protocol<Ping>('ping')!.ping('node200', 5000)
      assert.ok(r.rttMs >= 0)
      await last.refreshMembers()
      assert.ok((await last.protocol<Ping>('ping')!.ping('node1', 5000, 'tcp')).rttMs >= 0)
    } finally {
      await cluster.stop()
    }
    const down = await fetch('http://127.12.2.1:5000/health').then(
      () => 'up',
      () => 'down',
    )
    assert.equal(down, 'down')
  },
)

test('a cluster that would run out of file descriptors is refused up front, with the remedy', () => {
  assert.throws(() => checkOpenFileLimit('inproc', 1000, 1024), {
    code: 'ERR_CLUSTER',
    message:
      /1000 nodes in inproc mode need about \d+ open files and this shell allows 1024: run `ulimit -n \d+` first/,
  })
  assert.doesNotThrow(() => checkOpenFileLimit('inproc', 50, 1024))
  assert.doesNotThrow(() => checkOpenFileLimit('process', 100, 1024))
  // 2000 peers in one process peaked at 13,000 open files: this machine's 20,000 allows them.
  assert.doesNotThrow(() => checkOpenFileLimit('inproc', 2000, 20_000))
  assert.throws(() => checkOpenFileLimit('inproc', 4000, 20_000), /4000 nodes in inproc mode/)
})
