// The workload runners' client (callApi) on a keyed cluster (block 73): every call carries the
// node's bearer token, so the unicast and broadcast workloads run to the end with nothing lost
// (multicast's calls are the same callApi; its IP half sends datagrams, so it is not run here); the same calls without the token are refused (401), which is what the token is for.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { LocalCluster } from '../../src/cluster/local.js'
import { nodeUrl } from '../../src/cluster/state.js'
import { Keyring } from '../../src/core/auth.js'
import { callApi, type WorkloadNode } from '../../src/protocols/workload.js'
import { runUnicastWorkload } from '../../src/protocols/unicast/workload.js'
import { runBroadcastWorkload } from '../../src/protocols/broadcast/workload.js'
import { withBenchCluster } from '../../src/cli/commands/messaging.js'
import { scratchDir } from '../helpers.js'

const KEY = 'workload keyed test key'

describe('workloads on a keyed cluster', () => {
  let dir: string
  let cluster: LocalCluster
  let nodes: WorkloadNode[]

  before(async () => {
    // Removed when the file ends: the last test's cluster records into the same runs folder.
    dir = scratchDir('distlab-workload-keyed-')
    process.env.DISTLAB_RUNS_DIR ??= join(dir, 'runs')
    cluster = new LocalCluster({
      nodes: 3,
      mode: 'inproc',
      stateDir: dir,
      block: 73,
      dashboardPort: 0,
      key: KEY,
    })
    await cluster.start()
    const authorization = new Keyring(KEY).bearer()
    nodes = cluster.list().map((n) => ({ name: n.name, url: nodeUrl(n), authorization }))
    // Every node knows every other before a workload runs (the member list needs the token too).
    const deadline = Date.now() + 60_000
    for (;;) {
      const counts = await Promise.all(
        nodes.map((n) =>
          callApi<{ members: number }>(n, 'GET', '/health', undefined, 10_000)
            .then((h) => h.members)
            .catch(() => 0),
        ),
      )
      if (counts.every((c) => c >= nodes.length)) break
      assert.ok(Date.now() < deadline, `members never converged: ${counts.join(', ')}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  })

  after(async () => {
    await cluster?.stop()
  })

  test('without the token the workload is refused (401)', async () => {
    const bare = nodes.map(({ name, url }) => ({ name, url }))
    await assert.rejects(
      runUnicastWorkload({ nodes: bare, messages: 5, concurrency: 2, transport: 'udp', link: {} }),
      /401/,
    )
  })

  test('unicast: every message acknowledged and delivered once, in order', async () => {
    const r = await runUnicastWorkload({
      nodes,
      messages: 40,
      concurrency: 4,
      transport: 'udp',
      link: { loss: 0.2 },
    })
    assert.equal(r.acknowledged, 40)
    assert.equal(r.lost, 0)
    assert.equal(r.duplicates, 0)
    assert.equal(r.outOfOrder, 0)
    assert.equal(r.deliveryRatio, 1)
  })

  test('broadcast: reads and broadcasts succeed, nothing lost', async () => {
    const r = await runBroadcastWorkload({
      nodes,
      strategy: 'tree',
      rate: 20,
      durationMs: 1500,
      latencyMs: 5,
    })
    assert.ok(r.acknowledged > 0)
    assert.equal(r.failedOps, 0)
    assert.equal(r.lost, 0)
    assert.equal(r.deliveryRatio, 1)
  })
})

test('withBenchCluster({ keyed: true }) hands the workload nodes that carry the token', async () => {
  const r = await withBenchCluster({ nodes: 2, mode: 'inproc', block: 73, keyed: true }, async (nodes) => {
    assert.ok(nodes.every((n) => n.authorization?.startsWith('Bearer ')))
    // A guarded GET (issue 14 item 14): answered with the token, refused without it.
    const guarded = await fetch(`${nodes[1]!.url}/unicast/delivered`)
    assert.equal(guarded.status, 401)
    return runUnicastWorkload({ nodes, messages: 10, concurrency: 2, transport: 'tcp', link: {} })
  })
  assert.equal(r.acknowledged, 10)
  assert.equal(r.lost, 0)
})

test('withBenchCluster twice in one process leaves nothing behind: its runs go with its state dir', async () => {
  const saved = { TMPDIR: process.env.TMPDIR, DISTLAB_RUNS_DIR: process.env.DISTLAB_RUNS_DIR }
  const tmp = scratchDir('distlab-bench-tmp-')
  // os.tmpdir() reads TMPDIR on every call; no runs folder named, as for a user of the library.
  process.env.TMPDIR = tmp
  delete process.env.DISTLAB_RUNS_DIR
  try {
    for (let i = 0; i < 2; i++)
      await withBenchCluster({ nodes: 1, mode: 'inproc', block: 73 }, async () => {
        assert.equal(readdirSync(tmp).length, 1, 'the cluster state dir, and nothing else')
        assert.equal(process.env.DISTLAB_RUNS_DIR, undefined, 'the environment is left alone')
      })
    assert.deepEqual(readdirSync(tmp), [])
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
  }
})
