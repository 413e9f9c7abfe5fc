// The p2p commands as a user runs them: `distlab p2p` in process (dozens of peers, the bootstrap
// killed on the way) and as processes, `distlab bootstrap` alone, `distlab p2p send` and
// `distlab p2p broadcast`, and bad usage. Addresses in 127.40.x.y only.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { createRootLogger } from '../../src/core/logger.js'
import { membership } from '../../src/protocols/membership/index.js'
import { binPath, getJson, postJson, runCli, scratchDir, waitFor } from '../helpers.js'

const SUMMARY_KEYS = [
  'nodes',
  'converged',
  'convergenceMs',
  'peersKnown',
  'messagesSent',
  'messagesDelivered',
  'lost',
  'bootstrapKilled',
].sort()

interface Summary {
  nodes: number
  converged: boolean
  convergenceMs: number
  peersKnown: { min: number; median: number; max: number }
  messagesSent: number
  messagesDelivered: number
  lost: number
  bootstrapKilled: boolean
}

describe('distlab p2p', () => {
  test('50 peers in one process converge, and every message among 50 random pairs arrives after the bootstrap is killed', async () => {
    const r = await runCli(
      [
        '--state-dir',
        scratchDir(),
        'p2p',
        '--nodes',
        '50',
        '--mode',
        'inproc',
        '--block',
        '40',
        '--messages',
        '50',
        '--kill-bootstrap-after',
        // Once converged, not after a fixed 5 s: a loaded machine may not have registered every peer by then.
        'converged',
        '--json',
      ],
      { timeoutMs: 240_000 },
    )
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const s = JSON.parse(r.stdout) as Summary
    assert.deepEqual(Object.keys(s).sort(), SUMMARY_KEYS)
    assert.equal(s.nodes, 50)
    assert.equal(s.converged, true)
    assert.ok(typeof s.convergenceMs === 'number' && s.convergenceMs >= 0)
    assert.deepEqual(s.peersKnown, { min: 49, median: 49, max: 49 })
    assert.equal(s.messagesSent, 50)
    assert.equal(s.messagesDelivered, 50)
    assert.equal(s.lost, 0)
    assert.equal(s.bootstrapKilled, true)
  })

  test('peers as separate processes converge and message each other; people get a table', async () => {
    const r = await runCli(
      ['--state-dir', scratchDir(), 'p2p', '--nodes', '4', '--block', '40', '--messages', '12'],
      { timeoutMs: 240_000 },
    )
    assert.equal(r.code, 0, r.stderr + r.stdout)
    assert.match(r.stdout, /converged/)
    assert.match(r.stdout, /NODES\s+CONVERGED\s+CONVERGENCE/)
    assert.match(r.stdout, /\n4\s+yes\s+\S+\s+3\/3\/3\s+12\s+12\s+0/)
  })

  test('bad usage exits 2 and names the flag', async () => {
    const mode = await runCli(['p2p', '--mode', 'docker-ish', '--nodes', '3'])
    assert.equal(mode.code, 2)
    assert.match(mode.stderr, /--mode/)
    const kill = await runCli(['p2p', '--nodes', '3', '--kill-bootstrap-after', 'soon'])
    assert.equal(kill.code, 2)
    assert.match(kill.stderr, /--kill-bootstrap-after/)
    const nodes = await runCli(['p2p', '--nodes', 'many'])
    assert.equal(nodes.code, 2)
    const send = await runCli(['p2p', 'send', '--from', 'ftp://127.40.1.1:5000', '--to', 'node2', 'hi'])
    assert.equal(send.code, 2)
    assert.match(send.stderr, /--from/)
  })
})

describe('distlab bootstrap', () => {
  let child: ChildProcess | undefined
  after(() => {
    child?.kill('SIGKILL')
  })

  test('serves only the registry: POST /register then GET /peers in the seed shapes', async () => {
    child = spawn(
      process.execPath,
      [binPath(), 'bootstrap', '--host', '127.40.1.9', '--port', '0', '--frame-port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    )
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    const url = await waitFor('the registry URL', () => /registry on (http:\/\/\S+):/.exec(out)?.[1], 30_000)
    // A seed-only peer to register: it answers GET / as the seed says.
    const peer = createNode({ name: 'node1', host: '127.40.2.9', httpPort: 0, framePort: 0 })
    await peer.start()
    try {
      const r = await postJson<{ status: string }>(`${url}/register`, { url: peer.httpUrl })
      assert.equal(r.status, 200)
      assert.equal(r.body.status, 'registered')
      const peers = await getJson<{ peers: string[] }>(`${url}/peers`)
      assert.deepEqual(peers.body, { peers: [peer.httpUrl] })
      const bad = await postJson<{ field: string }>(`${url}/register`, { peer: 'mailto:x@y' })
      assert.equal(bad.status, 400)
      assert.equal(bad.body.field, 'peer')
    } finally {
      await peer.stop()
    }
    child.kill('SIGTERM')
    await new Promise((r) => child!.once('exit', r))
    child = undefined
  })
})

describe('distlab p2p send and broadcast', () => {
  const lines: string[] = []
  const logger = createRootLogger({ write: (l) => lines.push(l) })
  const registry = createNode({
    name: 'master',
    host: '127.40.1.8',
    httpPort: 0,
    framePort: 0,
    protocols: [
      membership({ registry: true, gossipIntervalMs: 50, probeIntervalMs: 300, probeTimeoutMs: 150 }),
    ],
  })
  const peers: Node[] = []

  before(async () => {
    await registry.start()
    for (const i of [1, 2, 3]) {
      const n = createNode({
        name: `node${i}`,
        host: `127.40.2.${20 + i}`,
        httpPort: 0,
        framePort: 0,
        logger,
        protocols: [
          membership({
            bootstrapUrl: registry.httpUrl,
            gossipIntervalMs: 50,
            probeIntervalMs: 300,
            probeTimeoutMs: 150,
          }),
        ],
      })
      peers.push(n)
      await n.start()
    }
    await waitFor(
      'the peers to know each other',
      async () => {
        for (const n of peers)
          if ((await getJson<{ peers: string[] }>(`${n.httpUrl}/peers`)).body.peers.length !== 2) return false
        return true
      },
      30_000,
    )
  })
  after(async () => {
    for (const n of peers) await n.stop()
    await registry.stop()
  })

  test('send goes from one peer to another over the sender’s view; the target logs the seed line', async () => {
    const r = await runCli(
      ['p2p', 'send', '--from', peers[0]!.httpUrl, '--to', 'node3', 'Hello node3!', '--json'],
      {
        timeoutMs: 60_000,
      },
    )
    assert.equal(r.code, 0, r.stderr)
    const body = JSON.parse(r.stdout) as { status: string; to: string; reply: unknown }
    assert.equal(body.status, 'sent')
    assert.equal(body.to, 'node3')
    assert.deepEqual(body.reply, { status: 'received' })
    assert.ok(lines.some((l) => l.includes('Received message from node1: Hello node3!')))
    const unknown = await runCli(['p2p', 'send', '--from', peers[0]!.httpUrl, '--to', 'node42', 'hi'], {
      timeoutMs: 60_000,
    })
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /^distlab: node42 is not in node1's view \(/)
    assert.doesNotMatch(unknown.stderr, /POST|refused/, "said in the overlay's words, not the route's")
    assert.equal(unknown.stderr.trim().split('\n').length, 1)
  })

  test('broadcast reaches every other peer once', async () => {
    const r = await runCli(['p2p', 'broadcast', '--from', peers[1]!.httpUrl, 'Hello everyone!'], {
      timeoutMs: 60_000,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /broadcast \S+ \(tree\) to the 2 peers of its view/)
    await waitFor(
      'both other peers to log it',
      () => lines.filter((l) => l.includes('Received message from node2: Hello everyone!')).length === 2,
      20_000,
    )
  })
})
