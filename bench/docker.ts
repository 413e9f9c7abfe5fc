// Containers: how long from `up` until every node answers GET /health, for 5 and 50 containers
// (master + 4 and master + 49 nodes), beside the same cluster as local processes measured in the
// same run; the image's size; and each container's memory. Needs a Docker engine (started here
// when it is not running) and builds its own image tag, removed at the end.
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import {
  DockerCluster,
  PACKAGE_ROOT,
  buildImage,
  buildLocalBaseImage,
  docker,
  runCommand,
} from '../src/cluster/docker.js'
import { LocalCluster } from '../src/cluster/local.js'
import { writeResult } from './lib.js'

const TAG = `distlab-bench:${process.pid}`
const PROJECT = 'distlabbench'
/** This bench's loopback block for the local clusters it measures beside the containers. */
const LOCAL_BLOCK = 80

interface Mem {
  median: number
  max: number
  total: number
}

function parseBytes(text: string): number {
  const m = /^([\d.]+)\s*([KMG]?i?B)$/i.exec(text.trim())
  if (!m) return NaN
  const unit = m[2]!.toUpperCase()
  const f = unit.startsWith('K')
    ? 1024
    : unit.startsWith('M')
      ? 1024 ** 2
      : unit.startsWith('G')
        ? 1024 ** 3
        : 1
  return Number(m[1]) * f
}

async function memoryOf(project: string): Promise<Mem> {
  const ids = (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`])).stdout
    .split('\n')
    .filter(Boolean)
  const r = await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', ...ids], {
    timeoutMs: 120_000,
  })
  const used = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => parseBytes(l.split('/')[0]!))
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b)
  return {
    median: used[Math.floor(used.length / 2)] ?? NaN,
    max: used.at(-1) ?? NaN,
    total: used.reduce((a, b) => a + b, 0),
  }
}

async function dockerRun(nodes: number): Promise<{ healthyMs: number; mem: Mem; downMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'distlab-bench-docker-'))
  const cluster = new DockerCluster({
    nodes,
    stateDir: dir,
    image: TAG,
    project: PROJECT,
    // The master's run files go with the scratch folder, not into ./runs.
    runsDir: join(dir, 'runs'),
    startTimeoutMs: 170_000,
  })
  const t0 = performance.now()
  try {
    await cluster.start()
    const healthyMs = performance.now() - t0
    await new Promise((r) => setTimeout(r, 3000)) // settle before reading memory
    const mem = await memoryOf(PROJECT)
    const t1 = performance.now()
    await cluster.stop()
    return { healthyMs, mem, downMs: performance.now() - t1 }
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function localRun(nodes: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'distlab-bench-local-'))
  const cluster = new LocalCluster({
    nodes,
    mode: 'process',
    stateDir: dir,
    block: LOCAL_BLOCK,
    dashboardPort: 0,
  })
  const t0 = performance.now()
  try {
    await cluster.start()
    return performance.now() - t0
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const mb = (b: number) => (b / 1024 ** 2).toFixed(1)
const s = (ms: number) => (ms / 1000).toFixed(1)

async function main(): Promise<void> {
  await runCommand('bash', [join(PACKAGE_ROOT, 'scripts', 'docker-start.sh')], { timeoutMs: 90_000 })
  const b0 = performance.now()
  const base = await buildLocalBaseImage()
  const baseMs = performance.now() - b0
  const i0 = performance.now()
  const image = await buildImage({ tag: TAG, baseImage: base.tag })
  const imageMs = performance.now() - i0
  const baseSize = Number(
    (await docker(['image', 'inspect', '--format', '{{.Size}}', base.tag])).stdout.trim(),
  )
  const rows: Array<Array<string | number>> = []
  const memRows: Array<Array<string | number>> = []
  const data: Record<string, unknown> = { imageBytes: image.sizeBytes, baseBytes: baseSize }
  try {
    for (const containers of [5, 50]) {
      const nodes = containers - 1
      const d = await dockerRun(nodes)
      const local = await localRun(nodes)
      rows.push([containers, s(d.healthyMs), s(local), (d.healthyMs / local).toFixed(2), s(d.downMs)])
      memRows.push([containers, mb(d.mem.median), mb(d.mem.max), mb(d.mem.total)])
      data[`n${containers}`] = {
        dockerHealthyMs: d.healthyMs,
        localHealthyMs: local,
        downMs: d.downMs,
        mem: d.mem,
      }
    }
  } finally {
    await docker(['rmi', '-f', TAG], { allowFailure: true })
    await docker(['image', 'prune', '-f', '--filter', 'label=dev.distlab.image'], { allowFailure: true })
  }
  writeResult('docker', {
    title: 'Containers: start-up, image size, memory',
    description:
      'Time from `up` (compose file written, `compose up -d`) until every container answers GET /health from the host, ' +
      'beside the same cluster as local processes (`distlab up`) started in the same run; then `compose down`. ' +
      'Memory is `docker stats` after 3 s of idling (the membership protocol and heartbeats running).',
    sections: [
      {
        heading: 'Start-up until every node is healthy',
        columns: ['containers', 'docker (s)', 'local processes (s)', 'docker / local', 'compose down (s)'],
        rows,
      },
      {
        heading: 'Image',
        columns: ['image', 'size (MB)', 'build (s)'],
        rows: [
          [
            `${base.tag} (docker import of the host's node + libraries)`,
            mb(baseSize),
            base.built ? s(baseMs) : 'cached',
          ],
          ['distlab (multi-stage, dist/ + production node_modules)', mb(image.sizeBytes), s(imageMs)],
        ],
        notes: [`build context: ${mb(image.context.bytes)} MB in ${image.context.files} files`],
      },
      {
        heading: 'Memory per container',
        columns: ['containers', 'median (MB)', 'max (MB)', 'all containers (MB)'],
        rows: memRows,
      },
    ],
    data,
  })
}

await main()
