// How a local cluster of processes starts: continuously, with at most `startConcurrency` node
// processes started and not yet answering /health, and complete once `start()` resolves (every node
// healthy, every node in the master's list and in every node's member list, and soon after in every
// node's membership view).
// Loopback block 58 (127.58.x.y) and a scratch state dir.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { LocalCluster } from '../../src/cluster/local.js'
import { BIN_PATH, ROLE_ENTRY_PATH, roleEntry } from '../../src/cluster/role-process.js'
import { getJson, scratchDir, waitFor } from '../helpers.js'

const BLOCK = 58

describe('LocalCluster start in process mode', { timeout: 180_000 }, () => {
  test('keeps at most startConcurrency spawns in flight, and the cluster is complete', async () => {
    const nodes = 7
    const cluster = new LocalCluster({
      nodes,
      mode: 'process',
      stateDir: scratchDir(),
      block: BLOCK,
      dashboardPort: 0,
      startConcurrency: 2,
    })
    const spawned: string[] = []
    const healthy = new Set<string>()
    let inFlight = 0
    let mostInFlight = 0
    // A file of extra certificate authorities costs every Node.js process 50-60 ms at its start;
    // master and nodes never speak TLS, so the launcher leaves the variable out of their environment.
    const savedCa = process.env.NODE_EXTRA_CA_CERTS
    process.env.NODE_EXTRA_CA_CERTS = '/etc/ssl/certs/ca-certificates.crt'
    cluster.on('spawn', (name: string) => {
      spawned.push(name)
      mostInFlight = Math.max(mostInFlight, ++inFlight)
    })
    cluster.on('healthy', (name: string) => {
      assert.ok(spawned.includes(name), `${name} healthy before it was spawned`)
      healthy.add(name)
      inFlight--
    })
    try {
      await cluster.start()
      const names = Array.from({ length: nodes }, (_, i) => `node${i + 1}`)
      assert.deepEqual(spawned, names, 'every node spawned once, in order')
      assert.equal(healthy.size, nodes)
      assert.equal(mostInFlight, 2, 'two starts at a time, never more')

      const list = cluster.list()
      assert.ok(
        list.every((n) => n.id),
        'start() resolves with every id known',
      )
      // The master and the nodes run the launchers' entry (bin/distlab-role.cjs, a faster start
      // than bin/distlab.js), the roles bundle being up to date.
      for (const n of list) {
        const argv = readFileSync(`/proc/${n.pid}/cmdline`, 'utf8').split('\0')
        assert.ok(argv.includes(ROLE_ENTRY_PATH), `${n.name} runs ${argv.join(' ')}`)
        const env = readFileSync(`/proc/${n.pid}/environ`, 'utf8').split('\0')
        assert.ok(env.includes('FORCE_COLOR=0'), `${n.name} has the launcher's environment`)
        assert.ok(
          !env.some((v) => v.startsWith('NODE_EXTRA_CA_CERTS=')),
          `${n.name} has no NODE_EXTRA_CA_CERTS`,
        )
      }
      const master = list[0]!
      const members = await getJson<{ members: Array<{ name: string }> }>(
        `http://${master.host}:${master.httpPort}/cluster/members`,
      )
      assert.deepEqual(members.body.members.map((m) => m.name).sort(), ['master', ...names].sort())
      // And when start() resolves, every node's list of members (what unicast and broadcast send
      // by) holds the whole cluster, not only those that joined before it: node1 joined first.
      for (const n of list) {
        const health = await getJson<{ members: number }>(`http://${n.host}:${n.httpPort}/health`)
        assert.equal(health.body.members, nodes + 1, `${n.name} knows every member once start() resolves`)
      }
      // Every node's membership view (GET /peers: the other nodes) holds every other node.
      const urls = list.slice(1).map((n) => `http://${n.host}:${n.httpPort}`)
      for (const url of urls)
        await waitFor(
          `${url} to know every other node`,
          async () => {
            const peers = (await getJson<{ peers: string[] }>(`${url}/peers`)).body.peers
            return peers.length === nodes - 1 && urls.every((u) => u === url || peers.includes(u))
          },
          30_000,
          200,
        )
    } finally {
      if (savedCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS
      else process.env.NODE_EXTRA_CA_CERTS = savedCa
      await cluster.stop()
    }
  })

  test('a start concurrency below 1 is a usage error naming the field', () => {
    assert.throws(() => new LocalCluster({ nodes: 2, stateDir: scratchDir(), startConcurrency: 0 }), {
      code: 'ERR_INVALID_ARGUMENT',
      message: /startConcurrency/,
    })
  })
})

test('a node process runs bin/distlab.js instead of the role entry when the modules are to run one by one', () => {
  assert.equal(roleEntry({ DISTLAB_UNBUNDLED: '1' }), BIN_PATH)
  assert.equal(roleEntry({}), ROLE_ENTRY_PATH, 'the build just made the bundle')
})
