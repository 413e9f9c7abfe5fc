// Maelstrom on distlab: broadcast at the Gossip Glomers 3d/3e settings (25 nodes, 100 ms latency,
// rate 100, 20 s) with the project's batching demo node (test/maelstrom/nodes/broadcast_batched.mjs):
// msgs-per-op and latency quantiles; and the lin-kv checker's speed on generated linearizable
// and failing histories of 10k and 100k operations (time, memory).
import { join } from 'node:path'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { runMaelstromTest } from '../src/maelstrom/run.js'
import { checkLinKv } from '../src/maelstrom/checkers/index.js'
import { corruptRead, synthLinKv } from '../src/maelstrom/checkers/synth.js'
import type { History } from '../src/maelstrom/history.js'
import { benchDir, writeResult, type BenchSection } from './lib.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const dir = benchDir('distlab-bench-maelstrom-')
const sections: BenchSection[] = []

const load = os.loadavg()[0] ?? 0
const r = await runMaelstromTest({
  workload: 'broadcast',
  bin: `${process.execPath} ${join(root, 'test/maelstrom/nodes/broadcast_batched.mjs')}`,
  nodeCount: 25,
  latencyMs: 100,
  rate: 100,
  timeLimitS: Number(process.env.BENCH_MAELSTROM_SECONDS ?? 20),
  recoveryMs: 5000,
  block: 22,
  stateDir: join(dir, 'state'),
  runsDir: join(dir, 'runs'),
})
const lat = (f: string, q: string) => r.latencies[f]?.[q] ?? null
const stable = r.workloadResult.stats?.['stable-latencies'] as Record<string, number | null> | undefined
sections.push({
  heading: 'broadcast, Glomers 3d/3e settings (25 nodes, grid, --latency 100, --rate 100, 20 s)',
  columns: [
    'verdict',
    'ops',
    'msgs-per-op (all)',
    'msgs-per-op (servers)',
    'read p50 ms',
    'read p99 ms',
    'broadcast p50 ms',
    'broadcast p99 ms',
    'broadcast max ms',
    'stable latency p50 ms',
    'stable latency max ms',
  ],
  rows: [
    [
      String(r.valid),
      r.stats.count,
      r.net.all['msgs-per-op'] ?? '-',
      r.net.servers['msgs-per-op'] ?? '-',
      lat('read', '0.5') ?? '-',
      lat('read', '0.99') ?? '-',
      lat('broadcast', '0.5') ?? '-',
      lat('broadcast', '0.99') ?? '-',
      lat('broadcast', '1') ?? '-',
      stable?.['0.5'] ?? '-',
      stable?.['1'] ?? '-',
    ],
  ],
  notes: [
    'The demo node (test/maelstrom/nodes/broadcast_batched.mjs) batches new values for 90 ms and sends them through a hub (the first node id), at most two hops; unacknowledged values are resent after 1 s. Glomers targets: 3d msgs-per-op < 30, median stable latency < 400 ms, max < 600 ms; 3e < 20, < 1 s, < 2 s.',
    'Latencies are of client operations (a broadcast is acknowledged at once); stable latencies per value are in the checker output of results.json.',
    `Telemetry events lost: ${r.net['lost-events']}. Load average when the run began: ${load.toFixed(1)} on ${os.cpus().length} cores (25 node processes plus the cluster share them).`,
  ],
})

const rows: Array<Array<string | number>> = []
for (const ops of [10_000, 100_000]) {
  const valid = synthLinKv({ ops, keys: 10, concurrency: 10 })
  const stale = corruptRead(valid, 'stale', 5)
  const cases: Array<[string, History | undefined]> = [
    ['linearizable', valid],
    ['one stale read', stale?.history],
  ]
  for (const [label, h] of cases) {
    if (h === undefined) continue
    ;(globalThis as { gc?: () => void }).gc?.()
    const before = process.memoryUsage()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    // The default budget (10 s), as `distlab maelstrom test` runs it.
    const res = checkLinKv(h)
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const after = process.memoryUsage()
    const w = res.anomalies['nonlinearizable']?.[0] as { ops: unknown[]; minimal: boolean } | undefined
    rows.push([
      ops,
      label,
      String(res.valid),
      Math.round(ms),
      Math.round((cpu.user + cpu.system) / 1000),
      Number(res.stats?.['configurations'] ?? 0),
      w === undefined ? '-' : `${w.ops.length}${w.minimal ? ' (minimal)' : ''}`,
      Math.round((after.heapUsed - before.heapUsed) / 2 ** 20),
      Math.round(after.rss / 2 ** 20),
    ])
  }
}
sections.push({
  heading: 'lin-kv checker on generated histories (10 keys, 10 clients, 2% indefinite), default 10 s budget',
  columns: [
    'operations',
    'history',
    'verdict',
    'time ms',
    'cpu ms',
    'configurations',
    'witness ops',
    'heap growth MiB',
    'rss MiB',
  ],
  rows,
  notes: [
    'A failing history is proved wrong by exploring every configuration up to the bad read; the reductions in src/maelstrom/checkers/lin-kv-model.ts keep that near the count a linearizable history needs.',
  ],
})

writeResult('maelstrom', {
  title: 'Maelstrom workloads on distlab',
  description:
    'A Maelstrom test on a distlab cluster (in-process nodes, each wrapping a Node.js node program; real TCP frames through the link emulator) and the lin-kv checker alone.',
  sections,
})
