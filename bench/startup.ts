// Time until every node answers /health, and resident memory per node, for 5, 50 and 200 nodes,
// as child processes and in one process. Both modes run back to back in the same invocation.
import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { LocalCluster } from '../src/cluster/local.js'
import { writeResult } from './lib.js'

const SIZES = (process.env.BENCH_STARTUP_SIZES ?? '5,50,200').split(',').map(Number)

function rssOfPid(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

async function measure(
  mode: 'process' | 'inproc',
  nodes: number,
): Promise<{ ms: number; rssPerNodeMiB: number }> {
  global.gc?.()
  const before = process.memoryUsage().rss
  const cluster = new LocalCluster({
    nodes,
    mode,
    stateDir: mkdtempSync(join(tmpdir(), 'distlab-bench-')),
    block: 90,
    dashboardPort: 0,
  })
  const t0 = performance.now()
  await cluster.start() // resolves once every node has answered GET /health
  const ms = performance.now() - t0
  await new Promise((r) => setTimeout(r, 1000))
  let rss: number
  if (mode === 'process') rss = cluster.list().reduce((sum, n) => sum + rssOfPid(n.pid!), 0) / (nodes + 1)
  else rss = (process.memoryUsage().rss - before) / (nodes + 1)
  await cluster.stop()
  return { ms, rssPerNodeMiB: rss / 2 ** 20 }
}

/**
 * One `distlab node` process alone (no master): ms from spawn until GET /health answers, polled every
 * 5 ms. The node's own address is in 127.26.1.x (issue 17's block).
 */
async function nodeReadyMs(i: number): Promise<number> {
  const host = `127.26.1.${10 + i}`
  const stateDir = mkdtempSync(join(tmpdir(), 'distlab-bench-node-'))
  const t0 = performance.now()
  const child = spawn(
    process.execPath,
    [
      'bin/distlab.js',
      '--state-dir',
      stateDir,
      'node',
      '--name',
      `n${i}`,
      '--host',
      host,
      '--port',
      '5000',
      '--frame-port',
      '7000',
    ],
    { stdio: 'ignore' },
  )
  try {
    for (;;) {
      const ok = await fetch(`http://${host}:5000/health`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.ok)
        .catch(() => false)
      if (ok) return performance.now() - t0
      if (performance.now() - t0 > 60_000) throw new Error(`node ${host} not healthy within 60 s`)
      await new Promise((r) => setTimeout(r, 5))
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
  }
}

const ready: number[] = []
for (let i = 0; i < 5; i++) ready.push(await nodeReadyMs(i))
ready.sort((a, b) => a - b)
process.stderr.write(`one node process: ready in ${ready.map((x) => x.toFixed(0)).join(', ')} ms\n`)

const rows: Array<Array<string | number>> = []
const data: Record<string, unknown> = {}
for (const n of SIZES) {
  const p = await measure('process', n)
  const i = await measure('inproc', n)
  process.stderr.write(
    `${n} nodes: process ${p.ms.toFixed(0)} ms ${p.rssPerNodeMiB.toFixed(1)} MiB/node; inproc ${i.ms.toFixed(0)} ms ${i.rssPerNodeMiB.toFixed(2)} MiB/node\n`,
  )
  rows.push([
    n,
    Math.round(p.ms),
    Math.round(i.ms),
    +(p.ms / i.ms).toFixed(1),
    +p.rssPerNodeMiB.toFixed(1),
    +i.rssPerNodeMiB.toFixed(2),
    +(p.rssPerNodeMiB / i.rssPerNodeMiB).toFixed(1),
  ])
  data[n] = { process: p, inproc: i }
}

writeResult('startup', {
  title: 'Cluster start-up: time to healthy and memory per node',
  description:
    'Master + N nodes on their own loopback addresses. Time runs from `LocalCluster.start()` until every node has answered `GET /health`; memory is the resident set of each node process (process mode) or the growth of the one process divided by the nodes (in-process mode).',
  sections: [
    {
      heading: 'One node process: spawn to /health',
      text: `\`distlab node\` alone (no master), spawned five times one after another; time from spawn until GET /health answers. Median ${Math.round(ready[2]!)} ms (min ${Math.round(ready[0]!)}, max ${Math.round(ready[4]!)}). Issue 17 target: 250 ms. A node process loads only the role commands, Fastify, zod and pino; the run store (SQLite), the dashboard and the charts load only in the master or the commands that use them.`,
    },
    {
      columns: [
        'nodes',
        'process: ms to healthy',
        'inproc: ms to healthy',
        'process/inproc time',
        'process: MiB per node',
        'inproc: MiB per node',
        'process/inproc memory',
      ],
      rows,
      notes: [
        'Process mode starts nodes in waves of 16 so that the master is not flooded; in-process mode in waves of 50.',
        'Each node process carries its own Node.js runtime (V8 heap, Fastify, zod), which is what the memory ratio shows.',
      ],
    },
  ],
  data: { ...data, nodeReadyMs: ready },
})
