// The live fuzz run: bounded streams of random and mutated input at every listening socket of a
// running cluster (in-process, 127.90.x.y) and of the course programs (line server, gbnnode, dvnode).
// Afterwards every node still answers /health, and what was refused shows in /metrics.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { LocalCluster } from '../../src/cluster/local.js'
import { lineServer, type LineServer } from '../../src/protocols/download/lineserver.js'
import { goBackN, type GoBackN, udpNetwork } from '../../src/protocols/gbn/index.js'
import { dvNode, type DvNode } from '../../src/protocols/dv/index.js'
import {
  fuzzTarget,
  metricSum,
  nodeTargets,
  scrapeMetrics,
  type FuzzResult,
} from '../../src/scenario/fuzz.js'
import { getJson, scratchDir } from '../helpers.js'
import { connect } from 'node:net'

const INPUTS = 150

describe('fuzzing every socket of a live cluster', { timeout: 240_000 }, () => {
  const cluster = new LocalCluster({
    nodes: 2,
    mode: 'inproc',
    stateDir: scratchDir(),
    block: 90,
    dashboardPort: 0,
  })
  let lines: LineServer
  let gbn: GoBackN
  let dv: DvNode
  const results: FuzzResult[] = []
  const before_: Record<string, string> = {}

  before(async () => {
    await cluster.start()
    lines = lineServer({ host: '127.90.8.1', port: 0, lines: ['zero', 'one', 'two'] })
    await lines.start()
    gbn = goBackN({ port: 0, peerPort: 9 })({ network: udpNetwork({ host: '127.90.8.2' }) })
    await gbn.start()
    dv = dvNode({ port: 0, neighbors: [{ port: 9, cost: 1 }] })({
      network: udpNetwork({ host: '127.90.8.3' }),
    })
    await dv.start()
    for (const n of cluster.list()) before_[n.name] = await scrapeMetrics(n.host, n.httpPort)
  })
  after(async () => {
    await dv?.stop()
    await gbn?.stop()
    await lines?.stop()
    await cluster.stop()
  })

  test('random and mutated input at every socket: no crash, every node still answers', async () => {
    const nodes = cluster.list()
    let seed = 1
    for (const n of nodes)
      for (const t of nodeTargets(n, { peer: n.name === 'node1' ? 'node2' : 'node1', seed: seed++ }))
        results.push(await fuzzTarget(t, { inputs: INPUTS, seed: seed++, fromHost: '127.90.9.9' }))
    const course = [
      { kind: 'tcp-lines', name: 'lineserver', host: '127.90.8.1', port: lines.address().port },
      { kind: 'udp', name: 'gbnnode', host: '127.90.8.2', port: gbn.port },
      { kind: 'udp', name: 'dvnode', host: '127.90.8.3', port: dv.port },
    ] as const
    for (const t of course)
      results.push(await fuzzTarget(t, { inputs: INPUTS, seed: seed++, fromHost: '127.90.9.9' }))
    assert.equal(results.length, nodes.length * 3 + 3)
    for (const r of results) assert.ok(r.inputs === INPUTS, `${r.target}: ${r.inputs} inputs`)

    for (const n of nodes) {
      const h = await getJson<{ status: string; state: string }>(`http://${n.host}:${n.httpPort}/health`)
      assert.equal(h.status, 200, `${n.name} answers /health`)
      assert.equal(h.body.state, 'running')
    }
    // The course programs still do their job.
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.90.8.1', port: lines.address().port })
      let got = ''
      s.on('error', reject)
      s.on('data', (d) => {
        got += d.toString()
        if (got.split('\n').length >= 3) {
          s.destroy()
          resolve(got)
        }
      })
      s.write('SESSION RESET\nSENDLINE\n')
    })
    assert.match(answer, /^Ok\n[0-2]\n(zero|one|two)\n/)
    // No internal errors: 4xx for bad bodies; 502-504 are honest answers (a ping that timed out).
    for (const r of results.filter((x) => x.kind === 'http'))
      assert.equal(
        r.internalErrors ?? 0,
        0,
        `${r.target}: ${JSON.stringify(r.statuses)} ${JSON.stringify(r.serverErrors)}`,
      )
  })

  test('what was refused is counted: /metrics per node, stats of the course programs', async () => {
    for (const n of cluster.list()) {
      const now = await scrapeMetrics(n.host, n.httpPort)
      const was = before_[n.name]!
      const delta = (name: string, labels: Record<string, string>) =>
        metricSum(now, name, labels) - metricSum(was, name, labels)
      const udpSeen =
        delta('distlab_frames_dropped_total', { direction: 'in', transport: 'udp' }) +
        delta('distlab_frames_received_total', { transport: 'udp' })
      // Every datagram that arrived was either decoded or dropped with a reason.
      assert.ok(udpSeen >= INPUTS * 0.9, `${n.name}: ${udpSeen} udp frames accounted for, sent ${INPUTS}`)
      assert.ok(
        delta('distlab_frames_dropped_total', { direction: 'in', transport: 'udp', reason: 'bad_magic' }) > 0,
      )
      assert.ok(
        delta('distlab_frames_dropped_total', { direction: 'in', transport: 'tcp' }) > 0,
        `${n.name} tcp drops`,
      )
      assert.ok(delta('distlab_http_rejected_total', {}) > INPUTS / 4, `${n.name} http rejections`)
      assert.ok(
        delta('distlab_http_rejected_total', { route: '/register' }) > 0,
        `${n.name} refused /register bodies`,
      )
    }
    assert.ok(lines.stats().malformed > 0)
    assert.ok(gbn.stats().rejected > INPUTS / 2)
    assert.ok(dv.stats().rejected > INPUTS / 2)
  })
})
