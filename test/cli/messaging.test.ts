// The messaging commands as a user runs them against a running cluster (child processes on the
// loopback addresses of block 30: master 127.30.1.1, nodes 127.30.2.x).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, scratchDir } from '../helpers.js'

const BLOCK = '30'

describe('distlab send unicast|broadcast', () => {
  const home = scratchDir()
  const env = { DISTLAB_HOME: home }
  const cli = (...args: string[]) => runCli(args, { env, timeoutMs: 90_000 })

  before(async () => {
    const up = await cli('up', '--detach', '--block', BLOCK, '--nodes', '3', '--json')
    assert.equal(up.code, 0, up.stderr)
  })
  after(async () => {
    await cli('down')
  })

  test('prints the delivery confirmation and the round-trip time', async () => {
    const r = await cli('send', 'unicast', '--from', 'node1', '--to', 'node3', 'hello')
    assert.equal(r.code, 0, r.stderr)
    // One attempt on a clean link; a loaded machine may answer late and take a second.
    assert.match(
      r.stdout,
      /^delivered to node3 from node1: rtt \d+\.\d+ ms, seq \d+, (1 attempt|\d+ attempts), udp\n$/,
    )
  })

  test('--json over TCP, through a lossy link', async () => {
    // 20% each way: an attempt gets through with its ack 64% of the time. Each message's timer
    // doubles from the link's RTO up to 4 s, so 60 s allows about 17 attempts on a loaded machine
    // (RTO near 500 ms), which all fail with odds near 1e-8. At 30% and 30 s (10 attempts at that
    // RTO, odds about 1e-3 a message) CI failed a run.
    const set = await cli('link', 'set', 'node1', 'node2', '--loss', '0.2')
    assert.equal(set.code, 0, set.stderr)
    for (let i = 0; i < 3; i++) {
      const r = await cli(
        'send',
        'unicast',
        '--from',
        'node1',
        '--to',
        'node2',
        `m${i}`,
        '--transport',
        'tcp',
        '--timeout',
        '60000',
        '--json',
      )
      assert.equal(r.code, 0, r.stderr)
      const body = JSON.parse(r.stdout) as {
        delivered: boolean
        rttMs: number
        transport: string
        to: string
      }
      assert.equal(body.delivered, true)
      assert.equal(body.transport, 'tcp')
      assert.equal(typeof body.rttMs, 'number')
    }
    assert.equal((await cli('heal')).code, 0)
  })

  test('send broadcast: every node delivers it once, with each strategy', async () => {
    const r = await cli('send', 'broadcast', '--from', 'node1', 'hello all')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^broadcast node1~\S+ from node1 \(tree\) acknowledged\n/)
    assert.match(r.stdout, /delivered on 4\/4 live nodes\n$/)
    // What it took: frames for this broadcast, payload and control, and the redundancy.
    assert.match(r.stdout, /^node\s+hops\s+latency\s+payload sent\s+control sent$/m)
    const took = /^took (\d+) frames: (\d+) payload \+ (\d+) control.*; redundancy (\d+\.\d\d) /m.exec(
      r.stdout,
    )
    assert.ok(took, r.stdout)
    assert.equal(Number(took[1]), Number(took[2]) + Number(took[3]))
    // The tree reaches the three other nodes with at least one payload frame each.
    assert.ok(Number(took[2]) >= 3, r.stdout)
    for (const strategy of ['flood', 'gossip', 'ip']) {
      const j = await cli(
        'send',
        'broadcast',
        '--from',
        'node2',
        '--strategy',
        strategy,
        `hi ${strategy}`,
        '--json',
      )
      assert.equal(j.code, 0, j.stderr)
      const body = JSON.parse(j.stdout) as {
        strategy: string
        deliveredTo: Array<{ node: string; hops: number; framesSent: { payload: number; control: number } }>
        missing: string[]
        frames: { payload: number; control: number; total: number; byType: Record<string, number> }
        redundancy: number
      }
      assert.equal(body.strategy, strategy)
      assert.deepEqual(body.deliveredTo.map((d) => d.node).sort(), ['master', 'node1', 'node2', 'node3'])
      assert.deepEqual(body.missing, [])
      assert.ok(body.deliveredTo.filter((d) => d.node !== 'node2').every((d) => d.hops >= 1))
      // The frames it took add up, node by node and by type.
      const f = body.frames
      assert.equal(f.total, f.payload + f.control)
      assert.equal(
        body.deliveredTo.reduce((a, d) => a + d.framesSent.payload, 0),
        f.payload,
      )
      assert.equal(
        Object.values(f.byType).reduce((a, n) => a + n, 0),
        f.total,
      )
      if (strategy === 'ip') assert.ok((f.byType.ip ?? 0) >= 1, JSON.stringify(f))
      else assert.ok(f.payload >= 3, JSON.stringify(f))
      // Flooding sends every node's copy on to every other node: 3 + 3 * 2 payload frames at least.
      if (strategy === 'flood') {
        assert.ok(f.payload >= 9, JSON.stringify(f))
        assert.ok(body.redundancy >= 2, JSON.stringify(body))
      }
    }
    const bad = await cli('send', 'broadcast', '--from', 'node1', '--strategy', 'carrier-pigeon', 'x')
    assert.equal(bad.code, 2)
  })

  test('group join/leave and send multicast: current members only, each once', async () => {
    const j2 = await cli('group', 'join', 'node2', 'sensors')
    assert.equal(j2.code, 0, j2.stderr)
    assert.match(j2.stdout, /^node2 joined sensors \(seen by 4\/4 nodes\); node2 is in: sensors\n$/)
    assert.equal((await cli('group', 'join', 'node3', 'sensors')).code, 0)
    const r = await cli('send', 'multicast', '--from', 'node1', '--group', 'sensors', 'temp=23.5')
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stdout,
      /^multicast to sensors from node1: delivered to node2, node3 \(2\/2\) in [\d.]+ ms\n$/,
    )
    assert.equal((await cli('group', 'leave', 'node3', 'sensors')).code, 0)
    const j = await cli('send', 'multicast', '--from', 'node1', '--group', 'sensors', 'second', '--json')
    assert.equal(j.code, 0, j.stderr)
    assert.deepEqual((JSON.parse(j.stdout) as { delivered: string[] }).delivered, ['node2'])
    const list = await cli('group', 'list', '--json')
    assert.deepEqual((JSON.parse(list.stdout) as { groups: Record<string, string[]> }).groups, {
      sensors: ['node2'],
    })
    const bad = await cli('group', 'join', 'node2', 'bad name')
    assert.equal(bad.code, 2)
  })

  test('anycast client finds the replicas of the running cluster', async () => {
    const r = await cli('anycast', 'client', '--requests', '12', '--policy', 'least-loaded', '--json')
    assert.equal(r.code, 0, r.stderr)
    const body = JSON.parse(r.stdout) as {
      answered: number
      replicas: Array<{ replica: string; answered: number }>
    }
    assert.equal(body.answered, 12)
    assert.deepEqual(body.replicas.map((x) => x.replica).sort(), ['master', 'node1', 'node2', 'node3'])
    assert.ok(body.replicas.every((x) => x.answered === 3))
  })

  test('bad usage exits 2; so does an unknown node, with one clear line', async () => {
    const same = await cli('send', 'unicast', '--from', 'node1', '--to', 'node1', 'x')
    assert.equal(same.code, 2)
    const unknown = await cli('send', 'unicast', '--from', 'node1', '--to', 'node9', 'x')
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /node9/)
    assert.equal(unknown.stderr.trim().split('\n').length, 1)
  })
})
