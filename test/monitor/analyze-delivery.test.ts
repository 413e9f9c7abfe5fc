// `distlab analyze` and `plot` over a real run (issue 16 item 4): a local cluster whose node1 <->
// node3 link drops every second frame, so unicast retransmits, and one seed-002 POST /message.
// Every unicast message was delivered, so the delivery ratio is 100% (retransmissions and
// duplicates do not count against it); the HTTP message is counted in the `http` row; numbers follow
// one format per kind; and the plot colours each protocol as the dashboard's served palette does.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { LocalCluster } from '../../src/cluster/local.js'
import { readDashboardRecord } from '../../src/monitor/dashboard-record.js'
import { postFresh, runCli, scratchDir, waitFor } from '../helpers.js'

const dir = scratchDir('distlab-analyze-delivery-')
const runsDir = join(dir, 'runs')
const stateDir = join(dir, 'state')
const UNICASTS = 6
let runId = ''
let palette: { known: Record<string, string>; fallback: string[] } = { known: {}, fallback: [] }

before(async () => {
  const cluster = new LocalCluster({
    nodes: 3,
    mode: 'inproc',
    stateDir,
    block: 72,
    dashboardPort: 0,
    runsDir,
  })
  await cluster.start()
  // Counted as they arrive, not looked up in the collector's recent-events ring at the end: the ring
  // keeps the last 5000 events, and on a loaded machine a slow run's membership and heartbeat
  // traffic pushes the first deliveries out of it before the last one arrives.
  const delivered = { unicast: 0, http: 0 }
  const unsubscribe = cluster.nodeObjects()[0]!.collector!.subscribe((events) => {
    for (const e of events) {
      if (e.kind === 'deliver' && (e.proto === 'unicast' || e.proto === 'http')) delivered[e.proto]++
    }
  })
  try {
    const record = readDashboardRecord(stateDir)!
    runId = record.runId
    palette = (await (await fetch(new URL('api/palette', record.url))).json()) as typeof palette
    const state = ['--state-dir', stateDir]
    const link = await runCli(['link', 'set', 'node1', 'node3', '--drop-every', '2', ...state])
    assert.equal(link.code, 0, link.stderr)
    // Every second frame on the link is dropped, acks and other protocols' frames included: one
    // message can need ten attempts, its retransmissions backing off to 4 s each (past send's
    // default 30 s on a loaded machine). The sends run at once, so the wait is the slowest
    // message's, not the sum of all six.
    const sends = await Promise.all(
      Array.from({ length: UNICASTS }, (_, i) =>
        runCli(
          ['send', 'unicast', '--from', 'node1', '--to', 'node3', `m${i}`, '--timeout', '120000', ...state],
          { timeoutMs: 150_000 },
        ),
      ),
    )
    for (const r of sends) {
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /delivered to node3/)
    }
    const node2 = cluster.nodeObjects()[2]!
    const m = await postFresh(
      `http://${node2.self().host}:${node2.self().httpPort}/message`,
      { sender: 'Node1', msg: 'Hello Node2!' },
      20_000,
    )
    assert.equal(m.status, 200, m.text)
    await waitFor(
      'the deliveries at the collector',
      () => delivered.unicast >= UNICASTS && delivered.http >= 1,
      30_000,
    )
  } finally {
    unsubscribe()
    await cluster.stop()
  }
})
after(() => rmSync(dir, { recursive: true, force: true }))

interface ProtoJson {
  sent: number
  received: number
  dropped: number
  uniqueMessages: number
  deliveryRatio: number | null
  duplicates: number
}

describe('analyze: delivery ratio, HTTP messages, number formats, colours (real run)', () => {
  test('a unicast run that delivered everything shows 100% though the link dropped and unicast resent', async () => {
    const r = await runCli(['analyze', runId, '--json', '--runs-dir', runsDir])
    assert.equal(r.code, 0, r.stderr)
    const u = (JSON.parse(r.stdout) as { protocols: Record<string, ProtoJson> }).protocols.unicast!
    // Every second frame on the link was dropped: data frames were resent, acks lost.
    assert.ok(u.dropped > 0, `dropped ${u.dropped}`)
    assert.ok(u.sent > 2 * UNICASTS, `sent ${u.sent}: data, acks and retransmissions`)
    assert.equal(u.uniqueMessages, UNICASTS)
    assert.equal(u.deliveryRatio, 1)
  })

  test('seed 002 POST /message is counted in the http row', async () => {
    const r = await runCli(['analyze', runId, '--json', '--runs-dir', runsDir])
    const report = JSON.parse(r.stdout) as {
      protocols: Record<string, ProtoJson>
      nodes: Record<string, { received: number; delivered: number }>
    }
    const http = report.protocols.http!
    assert.deepEqual(
      { sent: http.sent, received: http.received, uniqueMessages: http.uniqueMessages },
      { sent: 1, received: 1, uniqueMessages: 1 },
    )
    assert.equal(http.deliveryRatio, 1)
    assert.ok(report.nodes.node2!.delivered >= 1)
  })

  test('the table writes counts, percentages, ms and bytes each one way, and --help defines delivery', async () => {
    const r = await runCli(['analyze', runId, '--runs-dir', runsDir])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    const header = lines.findIndex((l) => l.startsWith('PROTOCOL'))
    const cols = lines[header]!.split(/\s{2,}/)
    assert.deepEqual(cols, [
      'PROTOCOL',
      'SENT',
      'RECEIVED',
      'DROPPED',
      'BYTES',
      'UNIQUE',
      'DELIVERY',
      'DUPS',
      'P50 ms',
      'P95 ms',
      'P99 ms',
      'MAX ms',
      'UNNECESSARY',
    ])
    const count = /^(-|\d{1,3}(,\d{3})*)$/
    const percent = /^(-|\d+\.\d%)$/
    const ms = /^(-|\d{1,3}(,\d{3})*\.\d)$/
    const bytes = /^(-|\d+ B|\d+\.\d (KiB|MiB|GiB))$/
    const rules = [null, count, count, count, bytes, count, percent, count, ms, ms, ms, ms, percent]
    const rows = []
    for (let i = header + 1; lines[i]; i++) rows.push(lines[i]!.split(/\s{2,}/))
    assert.ok(rows.some((r) => r[0] === 'unicast') && rows.some((r) => r[0] === 'http'))
    for (const row of rows) {
      assert.equal(row.length, cols.length, row.join('|'))
      row.forEach((cell, i) => {
        if (rules[i]) assert.match(cell, rules[i]!, `${row[0]} ${cols[i]} = ${JSON.stringify(cell)}`)
      })
    }
    assert.equal(rows.find((r) => r[0] === 'unicast')![6], '100.0%')
    const help = await runCli(['analyze', '--help'])
    assert.match(help.stdout, /DELIVERY +delivered \/ unique messages sent/)
    assert.match(help.stdout, /Retransmissions and\s+duplicates do not count against it/)
  })

  test("plot colours each protocol as the dashboard's served palette does", async () => {
    assert.equal(palette.known.unicast, '#5aa9ff')
    const out = join(dir, 'plots')
    const r = await runCli(['plot', runId, '--out', out, '--json', '--runs-dir', runsDir], {
      timeoutMs: 120_000,
    })
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse((await runCli(['analyze', runId, '--json', '--runs-dir', runsDir])).stdout) as {
      protocols: Record<string, ProtoJson>
    }
    const messages = readFileSync(join(out, 'messages.svg'), 'utf8').toLowerCase()
    const throughput = readFileSync(join(out, 'throughput.svg'), 'utf8').toLowerCase()
    for (const proto of Object.keys(report.protocols)) {
      const c = palette.known[proto]
      assert.ok(c, `the served palette has a colour for ${proto}`)
      assert.match(messages, new RegExp(`fill="${c}"`), `messages.svg draws ${proto} in ${c}`)
    }
    assert.match(throughput, new RegExp(`stroke="${palette.known.unicast}"`), 'throughput line of unicast')
  })
})
