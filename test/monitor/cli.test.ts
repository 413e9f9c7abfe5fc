// The analyzer from the command line, over a real run recorded by a real (in-process) cluster:
// runs, analyze (table, json, csv), the pcap export read by tshark and by `distlab analyze`
// itself, Wireshark's view through contrib/distlab.lua, and plots.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { LocalCluster } from '../../src/cluster/local.js'
import { readDashboardRecord } from '../../src/monitor/dashboard-record.js'
import { binPath, runCli, scratchDir, waitFor } from '../helpers.js'
import type { Ping } from '../../src/protocols/ping/index.js'

const dir = scratchDir('distlab-analyze-')
const runsDir = join(dir, 'runs')
const stateDir = join(dir, 'state')
const repoRoot = join(binPath(), '..', '..')
let runId = ''
const PINGS = 15

function tshark(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // tshark keeps its profile under HOME; a scratch HOME keeps the machine's clean.
  const r = spawnSync('tshark', args, {
    env: { ...process.env, HOME: dir },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

before(async () => {
  process.env.DISTLAB_RUNS_DIR = runsDir
  const cluster = new LocalCluster({ nodes: 4, mode: 'inproc', stateDir, block: 70, dashboardPort: 0 })
  await cluster.start()
  try {
    runId = readDashboardRecord(stateDir)!.runId
    const nodes = cluster.nodeObjects()
    for (let i = 0; i < PINGS; i++) {
      await nodes[1]!.protocol<Ping>('ping')!.ping('node2', 5000, 'udp')
      await nodes[3]!.protocol<Ping>('ping')!.ping('node4', 5000, 'tcp')
    }
    // Every ping and pong reached the collector before the run closes.
    await waitFor(
      'ping telemetry at the collector',
      () =>
        nodes[0]!.collector!.recentEvents().filter((e) => e.proto === 'ping' && e.kind === 'recv').length >=
        4 * PINGS,
      20_000,
    )
  } finally {
    await cluster.stop()
    delete process.env.DISTLAB_RUNS_DIR
  }
})
after(() => rmSync(dir, { recursive: true, force: true }))

describe('distlab runs / analyze / plot', () => {
  test('runs lists the recorded run', async () => {
    const r = await runCli(['runs', '--json', '--runs-dir', runsDir])
    assert.equal(r.code, 0, r.stderr)
    const { runs } = JSON.parse(r.stdout) as {
      runs: Array<{ id: string; events: number; open: boolean; nodes: string[] }>
    }
    assert.equal(runs.length, 1)
    assert.equal(runs[0]!.id, runId)
    assert.equal(runs[0]!.open, false)
    assert.ok(runs[0]!.events >= 8 * PINGS)
    assert.deepEqual(runs[0]!.nodes, ['master', 'node1', 'node2', 'node3', 'node4'])
    const human = await runCli(['runs', '--runs-dir', runsDir])
    assert.match(human.stdout, new RegExp(runId))
  })

  test('analyze --json reports per protocol and per node in the documented shape', async () => {
    const r = await runCli(['analyze', runId, '--json', '--runs-dir', runsDir])
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout)
    assert.deepEqual(Object.keys(report), ['run', 'events', 'lostEvents', 'protocols', 'nodes'])
    assert.equal(report.run, runId)
    assert.equal(report.lostEvents, 0)
    const ping = report.protocols.ping
    for (const k of ['sent', 'received', 'dropped', 'bytes', 'deliveryRatio', 'duplicates', 'latencyMs'])
      assert.ok(k in ping, `protocols.ping.${k}`)
    assert.deepEqual(Object.keys(ping.latencyMs), ['p50', 'p95', 'p99', 'max'])
    // Each ping is a ping and a pong: 2 messages, both received, nothing lost on loopback.
    assert.equal(ping.sent, 4 * PINGS)
    assert.equal(ping.received, 4 * PINGS)
    assert.equal(ping.dropped, 0)
    assert.equal(ping.deliveryRatio, 1)
    assert.equal(ping.duplicates, 0)
    assert.ok(ping.latencyMs.max >= ping.latencyMs.p50)
    assert.equal(report.nodes.node1.sent >= PINGS, true)
    assert.equal(report.nodes.node2.received >= PINGS, true)
  })

  test('analyze prints tables by default and CSV on request; bad usage exits 2, a missing run 1', async () => {
    const table = await runCli(['analyze', '--runs-dir', runsDir])
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /PROTOCOL\s+SENT\s+RECEIVED/)
    assert.match(table.stdout, /^ping\s+60\s+60\s+0/m)
    const csv = await runCli(['analyze', runId, '--format', 'csv', '--runs-dir', runsDir])
    assert.equal(csv.code, 0)
    assert.match(
      csv.stdout.split('\n')[0]!,
      /^scope,name,sent,received,dropped,bytes,deliveryRatio,duplicates/,
    )
    assert.match(csv.stdout, /^protocol,ping,60,60,0,/m)
    const bad = await runCli(['analyze', runId, '--format', 'xml', '--runs-dir', runsDir])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--format must be table, json or csv/)
    const missing = await runCli(['analyze', 'no-such-run', '--runs-dir', runsDir])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /no run no-such-run/)
  })

  test('the pcap export opens in tshark with one packet per message, and decodes back to the same counts', async () => {
    const out = join(dir, 'run.pcap')
    const r = await runCli(['analyze', runId, '--json', '--pcap', out, '--runs-dir', runsDir])
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout) as { protocols: Record<string, { sent: number }> }
    const messages = Object.values(report.protocols).reduce((s, p) => s + p.sent, 0)
    const t = tshark(['-r', out, '-T', 'fields', '-e', 'frame.number'])
    assert.equal(t.status, 0, t.stderr)
    const packets = t.stdout.trim().split('\n').filter(Boolean).length
    assert.equal(packets, messages)
    // Both transports made it: UDP datagrams and TCP segments.
    const udp = tshark(['-r', out, '-Y', 'udp.port == 7000']).stdout.trim().split('\n').filter(Boolean).length
    const tcp = tshark(['-r', out, '-Y', 'tcp.port == 7000']).stdout.trim().split('\n').filter(Boolean).length
    assert.ok(udp > 0 && tcp > 0, `udp ${udp}, tcp ${tcp}`)
    assert.equal(udp + tcp, messages)

    const back = await runCli(['analyze', out, '--json'])
    assert.equal(back.code, 0, back.stderr)
    const fromPcap = JSON.parse(back.stdout) as { protocols: Record<string, { sent: number }> }
    for (const [proto, p] of Object.entries(report.protocols))
      assert.equal(fromPcap.protocols[proto]?.sent, p.sent, proto)
  })

  test("contrib/distlab.lua makes Wireshark's tshark dissect every exported frame", () => {
    const out = join(dir, 'run.pcap')
    assert.ok(existsSync(out))
    const lua = join(repoRoot, 'contrib', 'distlab.lua')
    const t = tshark([
      '-X',
      `lua_script:${lua}`,
      '-r',
      out,
      '-Y',
      'distlab.proto == "ping"',
      '-T',
      'fields',
      '-e',
      'distlab.type',
      '-e',
      'distlab.src',
      '-e',
      'distlab.dst',
    ])
    assert.equal(t.status, 0, t.stderr)
    const rows = t.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'))
    assert.equal(rows.length, 4 * PINGS)
    assert.equal(rows.filter((r) => r[0] === 'ping' && r[1] === 'node1' && r[2] === 'node2').length, PINGS)
    assert.equal(rows.filter((r) => r[0] === 'pong' && r[1] === 'node4' && r[2] === 'node3').length, PINGS)
  })

  test('plot writes PNG and SVG charts without a browser', async () => {
    const out = join(dir, 'plots')
    const r = await runCli(['plot', runId, '--out', out, '--json', '--runs-dir', runsDir], {
      timeoutMs: 120_000,
    })
    assert.equal(r.code, 0, r.stderr)
    for (const name of ['throughput', 'latency-cdf', 'messages']) {
      const png = readFileSync(join(out, `${name}.png`))
      assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')], `${name}.png is a PNG`)
      const svg = readFileSync(join(out, `${name}.svg`), 'utf8')
      assert.match(svg, /<svg/)
      assert.match(svg, /ping/, `${name}.svg names the ping protocol`)
    }
  })
})
