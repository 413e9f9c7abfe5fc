// Collector and store throughput, and what telemetry costs a protocol.
//  1. Events/s the master takes in and writes to SQLite without loss: in process (the collector's
//     own cost plus the store's) and over HTTP (POST /telemetry batches, as nodes send them).
//  2. Broadcast throughput of an in-process cluster with telemetry on and off, rounds interleaved
//     in the same run; the overhead is the ratio.
import { rmSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeResult, type BenchSection } from './lib.js'
import { Collector } from '../src/monitor/collector.js'
import { RunStore } from '../src/monitor/store.js'
import { MasterExtras } from '../src/monitor/master-extras.js'
import { createNode } from '../src/cluster/node-assembly.js'
import { LocalCluster } from '../src/cluster/local.js'
import type { TelemetryEvent } from '../src/core/telemetry.js'

const dir = mkdtempSync(join(tmpdir(), 'distlab-bench-collector-'))
const BATCH = 2000

function events(n: number, offset: number, node: string): TelemetryEvent[] {
  const out: TelemetryEvent[] = new Array(n)
  const now = Date.now()
  for (let i = 0; i < n; i++)
    out[i] = {
      ts: now,
      node,
      proto: i % 3 ? 'broadcast' : 'unicast',
      kind: i % 2 ? 'recv' : 'send',
      msgId: `${node}-${offset + i}`,
      src: node,
      dst: 'node2',
      bytes: 120 + (i % 50),
      transport: 'udp',
      type: 'data',
    }
  return out
}

async function inProcess(total: number): Promise<{ eventsPerSecond: number; written: number; lost: number }> {
  const collector = new Collector()
  const store = new RunStore({ dir: join(dir, 'runs'), runId: `inproc-${total}` })
  store.attach(collector)
  await store.start()
  const batches = Array.from({ length: total / BATCH }, (_, b) =>
    events(BATCH, b * BATCH, `node${(b % 8) + 1}`),
  )
  const t0 = performance.now()
  let seq = 0
  for (const evs of batches) {
    collector.ingest({ node: evs[0]!.node, seq: ++seq, lost: 0, events: evs })
    // Let the store's timer run as it would between network batches.
    if (seq % 10 === 0) await new Promise((r) => setImmediate(r))
  }
  await store.stop() // flushes everything
  const s = (performance.now() - t0) / 1000
  const st = store.stats()
  return { eventsPerSecond: Math.round(total / s), written: st.written, lost: st.dropped }
}

async function overHttp(total: number): Promise<{ eventsPerSecond: number; written: number; lost: number }> {
  const master = createNode({ name: 'master', host: '127.70.6.1', httpPort: 0, framePort: 0 })
  await master.start()
  const extras = new MasterExtras(master, { runsDir: join(dir, 'runs'), dashboardPort: 0 })
  await extras.start()
  try {
    const bodies = Array.from({ length: total / BATCH }, (_, b) =>
      JSON.stringify({
        node: `node${(b % 8) + 1}`,
        seq: Math.floor(b / 8) + 1,
        lost: 0,
        events: events(BATCH, b * BATCH, `node${(b % 8) + 1}`),
      }),
    )
    const t0 = performance.now()
    let next = 0
    const worker = async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!
        const res = await fetch(`${master.httpUrl}/telemetry`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        })
        await res.arrayBuffer()
        if (!res.ok) throw new Error(`collector answered ${res.status}`)
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    extras.store.flush()
    const s = (performance.now() - t0) / 1000
    const st = extras.store.stats()
    return {
      eventsPerSecond: Math.round(total / s),
      written: st.written,
      lost: st.dropped + master.collector!.stats().lostEvents,
    }
  } finally {
    await extras.stop()
    await master.stop()
  }
}

interface BroadcastProto {
  broadcast(value: unknown): Promise<unknown>
  stats(): { delivered: number }
}

async function broadcastOverhead(): Promise<BenchSection> {
  const runsBefore = process.env.DISTLAB_RUNS_DIR
  process.env.DISTLAB_RUNS_DIR = join(dir, 'runs')
  const cluster = new LocalCluster({
    nodes: 6,
    mode: 'inproc',
    stateDir: join(dir, 'state'),
    block: 70,
    dashboardPort: 0,
  })
  await cluster.start()
  const nodes = cluster.nodeObjects()
  const protos = nodes.map((n) => n.protocol('broadcast') as unknown as BroadcastProto | undefined)
  if (protos.some((p) => !p)) {
    await cluster.stop()
    return { heading: 'Telemetry overhead', text: 'skipped: the nodes run no broadcast protocol' }
  }
  const delivered = () => protos.reduce((s, p) => s + p!.stats().delivered, 0)
  const settle = async (target: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (delivered() < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2))
    return delivered() >= target
  }
  // Deliveries per broadcast in this cluster (every node, the origin included or not).
  await new Promise((r) => setTimeout(r, 2500)) // membership settles
  const before = delivered()
  await protos[1]!.broadcast({ calibrate: true })
  await new Promise((r) => setTimeout(r, 1500))
  const perBroadcast = delivered() - before

  const setTelemetry = (on: boolean) => {
    for (const n of nodes) {
      const t = n.telemetry as unknown as { record: (e: TelemetryEvent) => void }
      if (on) delete (t as { record?: unknown }).record
      else t.record = () => {}
    }
  }
  const B = 300
  const round = async (on: boolean) => {
    setTelemetry(on)
    const start = delivered()
    const t0 = performance.now()
    const sends: Array<Promise<unknown>> = []
    for (let i = 0; i < B; i++) {
      sends.push(protos[1 + (i % (protos.length - 1))]!.broadcast({ i, on }))
      if (i % 20 === 19) await Promise.all(sends.splice(0))
    }
    await Promise.all(sends)
    const ok = await settle(start + B * perBroadcast, 60_000)
    const s = (performance.now() - t0) / 1000
    setTelemetry(true)
    await new Promise((r) => setTimeout(r, 500))
    return { perSecond: B / s, ok }
  }
  const rows: Array<Array<string | number>> = []
  const on: number[] = []
  const off: number[] = []
  for (let r = 0; r < 5; r++) {
    for (const mode of r % 2 ? [true, false] : [false, true]) {
      const res = await round(mode)
      ;(mode ? on : off).push(res.perSecond)
      rows.push([r + 1, mode ? 'on' : 'off', Math.round(res.perSecond), res.ok ? 'yes' : 'NO'])
    }
  }
  await cluster.stop()
  if (runsBefore === undefined) delete process.env.DISTLAB_RUNS_DIR
  else process.env.DISTLAB_RUNS_DIR = runsBefore
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const overhead = 1 - median(on) / median(off)
  return {
    heading: 'Telemetry overhead on broadcast throughput',
    text:
      `In-process cluster of master + 6 nodes (one process: the collector, the SQLite store and the dashboard share the CPU with the protocol), ` +
      `${B} broadcasts per round from rotating origins, default strategy, until every node delivered each (${perBroadcast} deliveries per broadcast). ` +
      `Telemetry off = the nodes' record() replaced by a no-op. Rounds interleaved. ` +
      `Median with telemetry ${Math.round(median(on))}/s, without ${Math.round(median(off))}/s: overhead ${(overhead * 100).toFixed(1)}% (target <= 10%).`,
    columns: ['round', 'telemetry', 'broadcasts/s', 'all delivered'],
    rows,
    notes: [
      `overhead ${(overhead * 100).toFixed(1)}% ${overhead <= 0.1 ? 'meets' : 'misses'} the 10% target`,
    ],
  }
}

async function main(): Promise<void> {
  const sections: BenchSection[] = []
  const inproc = await inProcess(400_000)
  const http = await overHttp(200_000)
  sections.push({
    heading: 'Collector + SQLite store',
    text: `Events per second taken in and written to the run file, batches of ${BATCH} events (a node's batch size). Target: >= 50,000 events/s with no loss.`,
    columns: ['path', 'events', 'events/s', 'written', 'lost', 'target met'],
    rows: [
      [
        'in process (collector.ingest → store)',
        400_000,
        inproc.eventsPerSecond,
        inproc.written,
        inproc.lost,
        inproc.eventsPerSecond >= 50_000 && inproc.lost === 0 ? 'yes' : 'no',
      ],
      [
        'HTTP POST /telemetry → collector → store',
        200_000,
        http.eventsPerSecond,
        http.written,
        http.lost,
        http.eventsPerSecond >= 50_000 && http.lost === 0 ? 'yes' : 'no',
      ],
    ],
  })
  sections.push(await broadcastOverhead())
  writeResult('collector', {
    title: 'Telemetry: collector and store throughput, overhead on broadcast',
    description:
      'bench/collector.ts. The dashboard subscribes to the same collector in the HTTP and overhead runs.',
    sections,
  })
}

main()
  .catch((err) => {
    process.stderr.write(`bench collector failed: ${(err as Error).stack}\n`)
    process.exitCode = 1
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }))
