// Time until every node answers /health, and resident memory per node, for 5, 50, 100 and 200 nodes,
// as child processes and in one process. Both modes run back to back in the same invocation.
import { spawn } from 'node:child_process'
import { LocalCluster, NODE_START_CONCURRENCY } from '../src/cluster/local.js'
import { LAUNCHED_V8_FLAGS, ROLE_ENTRY_PATH, roleProcessEnv } from '../src/cluster/role-process.js'
import { benchDir, cpuMs, rssBytes, writeResult } from './lib.js'

const SIZES = (process.env.BENCH_STARTUP_SIZES ?? '5,50,100,200')
  .split(',')
  .filter((x) => x.trim() !== '')
  .map(Number)
/** Spawns of one node process per entry (cached, bundled, unbundled), alternating. */
const SPAWNS = Number(process.env.BENCH_STARTUP_SPAWNS ?? 7)
/** In-process growth below this in all, in MiB, is shown as unmeasured: it is within the process's variation. */
const MIN_INPROC_GROWTH_MIB = 8
/**
 * The code cache of every node process this bench starts (bin/code-cache.cjs), warm after the first
 * start: a cluster of the same build and flags finds it there, as on a user's machine.
 */
const CACHE_DIR = benchDir('distlab-bench-cache-')
process.env.DISTLAB_COMPILE_CACHE = CACHE_DIR

async function measure(
  mode: 'process' | 'inproc',
  nodes: number,
  startConcurrency?: number,
): Promise<{ ms: number; lastHealthyMs: number; rssPerNodeMiB: number; nodeCpuS: number }> {
  global.gc?.()
  const before = process.memoryUsage().rss
  const cluster = new LocalCluster({
    nodes,
    mode,
    stateDir: benchDir('distlab-bench-'),
    block: 90,
    dashboardPort: 0,
    startConcurrency,
  })
  const t0 = performance.now()
  // Process mode says when each node first answered /health; start() then asks every node to copy
  // the master's member list (src/cluster/views.ts) and resolves, as `up` returns.
  let lastHealthyMs = Number.NaN
  cluster.on('healthy', () => (lastHealthyMs = performance.now() - t0))
  await cluster.start()
  const ms = performance.now() - t0
  await new Promise((r) => setTimeout(r, 1000))
  // The node processes' CPU a second after start() returned.
  const nodeCpuS =
    mode === 'process'
      ? cluster
          .list()
          .filter((n) => n.name !== 'master')
          .reduce((sum, n) => sum + cpuMs(n.pid!), 0) / 1000
      : Number.NaN
  let rss: number
  if (mode === 'process') rss = cluster.list().reduce((sum, n) => sum + rssBytes(n.pid!), 0) / (nodes + 1)
  else rss = (process.memoryUsage().rss - before) / (nodes + 1)
  await cluster.stop()
  return { ms, lastHealthyMs, rssPerNodeMiB: rss / 2 ** 20, nodeCpuS }
}

/**
 * How a node process starts: as a launcher spawns it (bin/distlab-role.cjs, the bundle from the code
 * cache), as a user types `distlab node` (bin/distlab.js, the same), the bundle compiled, the modules
 * one by one.
 */
type Entry = 'launcher' | 'cached' | 'bundled' | 'unbundled' | 'floor' | 'shellFloor'
const ENTRY_ENV: Record<Entry, Record<string, string>> = {
  floor: {},
  shellFloor: {},
  launcher: { DISTLAB_UNBUNDLED: '0', DISTLAB_COMPILE_CACHE: CACHE_DIR },
  cached: { DISTLAB_UNBUNDLED: '0', DISTLAB_COMPILE_CACHE: CACHE_DIR },
  bundled: { DISTLAB_UNBUNDLED: '0', DISTLAB_COMPILE_CACHE: '0' },
  unbundled: { DISTLAB_UNBUNDLED: '1' },
}

/**
 * The floor of any Node.js program that answers /health: the runtime's own start, `http` and one
 * listening socket. The machine's speed moves it as much as ours (a bare `node -e 0` took 80 ms on
 * this machine in one session and 110-170 ms in later ones), so it is measured beside the entries.
 */
const FLOOR = "require('node:http').createServer((q, s) => s.end('ok')).listen(5000, process.argv[1])"

/**
 * One `distlab node` process alone (no master): ms from spawn until GET /health answers, polled every
 * 5 ms, and the CPU time the process used by then. `cached` starts from the bundle and its code cache
 * (bin/code-cache.cjs), `bundled` from the bundle without a cache, `unbundled` runs the modules one by
 * one (DISTLAB_UNBUNDLED=1), as before scripts/bundle-roles.mjs. The node's own address is in
 * 127.26.1.x (issue 17's block).
 */
async function nodeReady(i: number, entry: Entry): Promise<{ ms: number; cpuMs: number }> {
  const host = `127.26.1.${10 + i}`
  const stateDir = benchDir('distlab-bench-node-')
  const t0 = performance.now()
  // The launcher's entry and its floor get what a launcher gives a node (src/cluster/role-process.ts:
  // its V8 flags, and its environment less NODE_EXTRA_CA_CERTS); the others the shell's environment.
  const asLauncher = entry === 'launcher' || entry === 'floor'
  const env = { ...process.env, ...ENTRY_ENV[entry] }
  const child = spawn(
    process.execPath,
    entry === 'floor' || entry === 'shellFloor'
      ? ['-e', FLOOR, host]
      : [
          ...(entry === 'launcher' ? [...LAUNCHED_V8_FLAGS, ROLE_ENTRY_PATH] : ['bin/distlab.js']),
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
    {
      // As src/cluster/local.ts spawns a node: its output piped and an IPC channel (which the node
      // sets up on its start: loading child_process is part of what the launcher's node pays).
      stdio: entry === 'launcher' ? ['ignore', 'pipe', 'pipe', 'ipc'] : 'ignore',
      env: asLauncher ? roleProcessEnv(env) : env,
    },
  )
  child.stdout?.resume()
  child.stderr?.resume()
  try {
    for (;;) {
      const ok = await fetch(`http://${host}:5000/health`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.ok)
        .catch(() => false)
      if (ok) return { ms: performance.now() - t0, cpuMs: cpuMs(child.pid!) }
      if (performance.now() - t0 > 60_000) throw new Error(`node ${host} not healthy within 60 s`)
      await new Promise((r) => setTimeout(r, 5))
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
  }
}

/**
 * One command start to exit: `distlab status` with no cluster (it loads every command, answers
 * "no cluster is running" and exits 1), run under a shell that prints the CPU time its child used
 * (cutime + cstime of the shell, from /proc) once the command has ended.
 */
async function commandRun(entry: Entry): Promise<{ ms: number; cpuMs: number }> {
  const stateDir = benchDir('distlab-bench-cmd-')
  const shell = '"$@" >/dev/null 2>&1; read -r l < /proc/$$/stat; set -- ${l##*) }; echo $((${14} + ${15}))'
  const t0 = performance.now()
  const child = spawn(
    'sh',
    ['-c', shell, 'sh', process.execPath, 'bin/distlab.js', '--state-dir', stateDir, 'status'],
    { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...ENTRY_ENV[entry] } },
  )
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await new Promise((r) => child.once('close', r))
  const ms = performance.now() - t0
  return { ms, cpuMs: (Number(out.trim()) * 1000) / 100 }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ENTRIES: Entry[] = ['launcher', 'cached', 'bundled', 'unbundled', 'floor', 'shellFloor']
const spawns = {} as Record<Entry, Array<{ ms: number; cpuMs: number }>>
for (const entry of ENTRIES) spawns[entry] = []
await nodeReady(0, 'launcher') // writes the code cache; not counted
for (let i = 0; i < SPAWNS; i++) {
  // Alternate the order, so a burst of load elsewhere falls on every entry.
  for (const entry of i % 2 === 0 ? ENTRIES : [...ENTRIES].reverse())
    spawns[entry].push(await nodeReady(i % 40, entry))
}
type Summary = Record<Entry, { ms: number; minMs: number; cpuMs: number }>
/** Median and least time, median CPU, per entry measured; printed as one line. */
function summarize(
  what: string,
  samples: Partial<Record<Entry, Array<{ ms: number; cpuMs: number }>>>,
): Summary {
  const s = {} as Summary
  for (const [k, xs] of Object.entries(samples) as Array<[Entry, Array<{ ms: number; cpuMs: number }>]>)
    s[k] = {
      ms: Math.round(median(xs.map((x) => x.ms))),
      minMs: Math.round(Math.min(...xs.map((x) => x.ms))),
      cpuMs: Math.round(median(xs.map((x) => x.cpuMs))),
    }
  const line = Object.entries(s).map(([e, v]) => `${e} ${v.ms} ms (${v.cpuMs} ms CPU)`)
  process.stderr.write(`${what} (median of ${SPAWNS}): ${line.join(', ')}\n`)
  return s
}
const LABELS: Record<Entry, string> = {
  floor:
    "Node.js alone: an HTTP server that answers /health, nothing else, in a launched node's environment (the floor)",
  shellFloor: "the same in the shell's environment (with NODE_EXTRA_CA_CERTS, where it is set)",
  launcher: 'as a launcher spawns it: bin/distlab-role.cjs, bundled, from the code cache',
  cached: 'bin/distlab.js, bundled, from the code cache',
  bundled: 'bin/distlab.js, bundled, no code cache',
  unbundled: 'bin/distlab.js, modules one by one',
}
/** The rows of an entry table. */
const entryRows = (s: Summary) =>
  (Object.keys(LABELS) as Entry[])
    .filter((k) => s[k])
    .map((k) => [LABELS[k], s[k].ms, s[k].minMs, s[k].cpuMs])
const ready = summarize('one node process, spawn to /health', spawns)

const COMMAND_ENTRIES: Entry[] = ['cached', 'bundled', 'unbundled']
const commands: Partial<Record<Entry, Array<{ ms: number; cpuMs: number }>>> = {
  cached: [],
  bundled: [],
  unbundled: [],
}
await commandRun('cached') // writes the commands' code cache; not counted
for (let i = 0; i < SPAWNS; i++)
  for (const entry of i % 2 === 0 ? COMMAND_ENTRIES : [...COMMAND_ENTRIES].reverse())
    commands[entry]!.push(await commandRun(entry))
const command = summarize('one command, start to exit', commands)

const rows: Array<Array<string | number>> = []
const data: Record<string, unknown> = {}
for (const n of SIZES) {
  const p = await measure('process', n)
  const i = await measure('inproc', n)
  process.stderr.write(
    `${n} nodes: process ${p.ms.toFixed(0)} ms ${p.rssPerNodeMiB.toFixed(1)} MiB/node; inproc ${i.ms.toFixed(0)} ms ${i.rssPerNodeMiB.toFixed(2)} MiB/node\n`,
  )
  // In-process growth is the one process's RSS after minus before: at a few nodes it is within the
  // process's own variation, and may come out negative, which no ratio can be taken of.
  const inprocMiB = i.rssPerNodeMiB * (n + 1) >= MIN_INPROC_GROWTH_MIB ? i.rssPerNodeMiB : undefined
  rows.push([
    n,
    Math.round(p.lastHealthyMs),
    Math.round(p.ms),
    Math.round(i.ms),
    +(p.ms / i.ms).toFixed(1),
    +p.rssPerNodeMiB.toFixed(1),
    inprocMiB === undefined ? '–' : +inprocMiB.toFixed(2),
    inprocMiB === undefined ? '–' : +(p.rssPerNodeMiB / inprocMiB).toFixed(1),
  ])
  data[n] = { process: p, inproc: i }
}

// How many node processes start at once: the default beside the 100 it was before (all at once), at
// 100 nodes, alternating, so that the machine's load falls on both.
const CONCURRENCY_NODES = Number(process.env.BENCH_STARTUP_CONCURRENCY_NODES ?? 100)
const CONCURRENCY_PAIRS = Number(process.env.BENCH_STARTUP_CONCURRENCY_PAIRS ?? 2)
const OLD_CONCURRENCY = 100
const concurrency: Record<'old' | 'today', Array<Awaited<ReturnType<typeof measure>>>> = {
  old: [],
  today: [],
}
for (let i = 0; i < CONCURRENCY_PAIRS; i++) {
  for (const side of i % 2 === 0 ? (['old', 'today'] as const) : (['today', 'old'] as const)) {
    const r = await measure(
      'process',
      CONCURRENCY_NODES,
      side === 'old' ? OLD_CONCURRENCY : NODE_START_CONCURRENCY,
    )
    process.stderr.write(
      `${CONCURRENCY_NODES} nodes, ${side === 'old' ? OLD_CONCURRENCY : NODE_START_CONCURRENCY} at once: returned ${r.ms.toFixed(0)} ms, last /health ${r.lastHealthyMs.toFixed(0)} ms, nodes ${r.nodeCpuS.toFixed(1)} CPU-s\n`,
    )
    concurrency[side].push(r)
  }
}
const concurrencyRows = concurrency.old.map((o, i) => {
  const t = concurrency.today[i]!
  return [
    i + 1,
    Math.round(o.ms),
    Math.round(t.ms),
    +(t.ms / o.ms).toFixed(2),
    +o.nodeCpuS.toFixed(1),
    +t.nodeCpuS.toFixed(1),
    +(t.nodeCpuS / o.nodeCpuS).toFixed(2),
  ]
})

writeResult('startup', {
  title: 'Cluster start-up: time to healthy and memory per node',
  description:
    'Master + N nodes on their own loopback addresses. Time runs from `LocalCluster.start()` until it returns, as `up` does: every node has answered `GET /health` and knows every other; memory is the resident set of each node process (process mode) or the growth of the one process divided by the nodes (in-process mode).',
  sections: [
    {
      heading: 'One node process: spawn to /health',
      text: `\`distlab node\` alone (no master), spawned ${SPAWNS} times each as a launcher spawns it (bin/distlab-role.cjs: CommonJS, so no ES module loader, and no check that the bundle is fresh, which the launcher makes; with the launcher's V8 flags and environment, which leaves out NODE_EXTRA_CA_CERTS: src/cluster/role-process.ts), as a user types it (bin/distlab.js) from the bundled entry with its code cache (scripts/bundle-roles.mjs: the role commands and every dependency in one CommonJS file, run by bin/code-cache.cjs from the V8 code cache the first start wrote), from the same bundle without a cache (\`DISTLAB_COMPILE_CACHE=0\`, as on a machine where the cache cannot be written), from the modules one by one (\`DISTLAB_UNBUNDLED=1\`, as before the bundle), and Node.js alone with an HTTP server that answers /health and nothing else (the floor of any Node.js program, which moves with the machine's speed), in a launched node's environment and in the shell's (where the shell sets NODE_EXTRA_CA_CERTS, the difference is what reading that file costs every Node.js start), alternating; time from spawn until GET /health answers, and the CPU time the process used by then (less sensitive to other load on the machine than the wall time). Issue 17 target: 250 ms. The run store (SQLite), the dashboard's charts and the Docker clients load only in the master or the commands that use them; Fastify loads no JSON-schema compilers (src/node/http-limits.ts).`,
      columns: ['entry', 'median ms to healthy', 'min ms', 'median CPU ms'],
      rows: entryRows(ready),
      notes: [
        `launcher/floor: ${(ready.launcher.ms / ready.floor.ms).toFixed(2)} of the wall time (${Math.round(ready.launcher.ms - ready.floor.ms)} ms above the floor), ${(ready.launcher.cpuMs / ready.floor.cpuMs).toFixed(2)} of the CPU time.`,
        process.env.NODE_EXTRA_CA_CERTS
          ? `The shell sets NODE_EXTRA_CA_CERTS: Node.js alone starts ${Math.round(ready.shellFloor.ms - ready.floor.ms)} ms slower with it (${Math.round(ready.shellFloor.cpuMs - ready.floor.cpuMs)} CPU-ms), which a launched node no longer pays.`
          : 'The shell does not set NODE_EXTRA_CA_CERTS: both floors start in the same environment.',
        `launcher/cached: ${(ready.launcher.ms / ready.cached.ms).toFixed(2)} of the wall time, ${(ready.launcher.cpuMs / ready.cached.cpuMs).toFixed(2)} of the CPU time.`,
        `cached/bundled: ${(ready.cached.ms / ready.bundled.ms).toFixed(2)} of the wall time, ${(ready.cached.cpuMs / ready.bundled.cpuMs).toFixed(2)} of the CPU time.`,
        `bundled/unbundled: ${(ready.bundled.ms / ready.unbundled.ms).toFixed(2)} of the wall time, ${(ready.bundled.cpuMs / ready.unbundled.cpuMs).toFixed(2)} of the CPU time.`,
      ],
    },
    {
      heading: 'One command: start to exit',
      text: `\`distlab status\` with no cluster running (it loads the module of the cluster commands and what that imports, not every command's: src/cli/main.ts; it says that no cluster is running and exits), ${SPAWNS} times from each entry, alternating: the commands' bundle (main.bundle.cjs) from its code cache, the same bundle without a cache, and the modules one by one. Time from spawn until the process has ended, and the CPU time it used.`,
      columns: ['entry', 'median ms to exit', 'min ms', 'median CPU ms'],
      rows: entryRows(command),
      notes: [
        `cached/bundled: ${(command.cached.ms / command.bundled.ms).toFixed(2)} of the wall time, ${(command.cached.cpuMs / command.bundled.cpuMs).toFixed(2)} of the CPU time.`,
      ],
    },
    {
      heading: 'Master and N nodes: time to healthy, memory per node',
      columns: [
        'nodes',
        'process: ms to the last /health',
        'process: ms until start returned',
        'inproc: ms until start returned',
        'process/inproc time',
        'process: MiB per node',
        'inproc: MiB per node',
        'process/inproc memory',
      ],
      rows,
      notes: [
        `Process mode starts nodes continuously, at most ${NODE_START_CONCURRENCY} started and not yet answering /health at a time (LocalClusterInit.startConcurrency); in-process mode in waves of 50.`,
        "Between the last /health and the return, every node is asked to copy the master's member list until each knows all members, for at most 10 s (src/cluster/views.ts), and then every process is told to start its protocols, which it held until then (src/cluster/hold.ts).",
        'Each node process carries its own Node.js runtime (V8 heap, Fastify, zod), which is what the memory ratio shows.',
        `–: the one process grew by less than ${MIN_INPROC_GROWTH_MIB} MiB in all, within its own variation.`,
      ],
    },
    {
      heading: `Node processes started at once: ${NODE_START_CONCURRENCY} beside ${OLD_CONCURRENCY}`,
      text: `${CONCURRENCY_NODES} node processes started with at most ${OLD_CONCURRENCY} (the default before) and at most ${NODE_START_CONCURRENCY} (today's default) started and not yet answering /health, in alternating order; time until start() returned, and the CPU time the node processes had used a second after.`,
      columns: [
        'pair',
        `${OLD_CONCURRENCY} at once: ms`,
        `${NODE_START_CONCURRENCY} at once: ms`,
        'time ratio',
        `${OLD_CONCURRENCY} at once: node CPU s`,
        `${NODE_START_CONCURRENCY} at once: node CPU s`,
        'CPU ratio',
      ],
      rows: concurrencyRows,
    },
  ],
  data: { ...data, nodeReady: ready, spawns, command, commands, concurrency },
})
