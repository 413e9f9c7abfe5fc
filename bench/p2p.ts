// The peer-to-peer overlay at scale (issue 4): N peers in one process (N = 50 … 2000) and 100 peers
// as separate processes, with memberlist's default timings. For each N: convergence after a mass
// join (from the last peer's start until every peer knows every other), one late join spreading by
// gossip (the case Serf's convergence model describes), failure detection after a kill, with the
// false removals counted, and membership bytes per node per second at rest.
// Run: npx tsc -p tsconfig.build.json && node dist/bench/p2p.js   (BENCH_P2P_SIZES=50,100 to pick)
import { loadavg } from 'node:os'
import type { Node } from '../src/node/node.js'
import { createNode } from '../src/cluster/node-assembly.js'
import { LocalCluster } from '../src/cluster/local.js'
import { nodeUrl } from '../src/cluster/state.js'
import { membership, RegistryDirectory, type Membership } from '../src/protocols/membership/index.js'
import { PROBE_INTERVAL_MS, SUSPICION_MULT } from '../src/protocols/membership/constants.js'
import { benchDir, writeResult } from './lib.js'
import { concatCharts, lineChart, writeChart } from '../src/monitor/plot.js'
import { buildMemberlistHarness, runMemberlist, type MemberlistRow } from './peers/memberlist.js'

const SIZES = (process.env.BENCH_P2P_SIZES ?? '50,100,200,500,1000,2000').split(',').map(Number)
/**
 * Largest N memberlist runs at (BENCH_P2P_MEMBERLIST_MAX): its harness did not get through 500 peers
 * on these machines, so a larger N would only add minutes of waiting for the caps.
 */
const MEMBERLIST_MAX_PEERS = Number(process.env.BENCH_P2P_MEMBERLIST_MAX ?? 1000)
const PROCESS_PEERS = Number(process.env.BENCH_P2P_PROCESSES ?? 100)
/** BENCH_P2P_MEMBERLIST=0 leaves memberlist out. */
const WITH_MEMBERLIST = process.env.BENCH_P2P_MEMBERLIST !== '0'
const CONVERGE_CAP_MS = 120_000
const DETECT_CAP_MS = 45_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const mem = (n: Node) => n.protocol<Membership>('membership')!
const host = (i: number) => `127.40.${20 + Math.floor((i - 1) / 250)}.${1 + ((i - 1) % 250)}`

/** memberlist's suspicion timeout: SuspicionMult × log10(max(n, 10)) × ProbeInterval. */
const memberlistSuspicionMs = (n: number) => SUSPICION_MULT * Math.max(1, Math.log10(n)) * PROBE_INTERVAL_MS

/**
 * Fraction of the (observer, member) pairs that are known, and whether all are. View sizes first
 * (cheap): only when they say every view is complete are the views compared member by member.
 */
function coverage(observers: Node[], members: Set<string>): { frac: number; all: boolean } {
  let known = 0
  let total = 0
  for (const o of observers) {
    const want = members.size - (members.has(o.httpUrl) ? 1 : 0)
    total += want
    known += Math.min(mem(o).viewSize(), want)
  }
  if (known < total) return { frac: total ? known / total : 1, all: false }
  known = 0
  for (const o of observers) {
    const m = mem(o)
    for (const u of members) if (u !== o.httpUrl && m.knows(u)) known++
  }
  return { frac: total ? known / total : 1, all: known === total }
}

/**
 * Polls until every observer sees exactly the live set; returns [ms to 99.9%, ms to 100%]. Each
 * poll waits at least ten times as long as the last one took, so that watching a thousand peers
 * does not take the CPU they need.
 */
async function waitConverged(
  observers: Node[],
  members: Set<string>,
  since: number,
  capMs: number,
  exactViews = true,
  trace?: Array<{ x: number; y: number }>,
): Promise<{ p999: number | null; full: number | null; frac: number }> {
  let p999: number | null = null
  for (;;) {
    const t = Date.now()
    const c = coverage(observers, members)
    const frac = c.frac
    trace?.push({ x: (t - since) / 1000, y: 100 * frac })
    const exact =
      !exactViews ||
      observers.every((o) => mem(o).viewSize() === members.size - (members.has(o.httpUrl) ? 1 : 0))
    if (p999 === null && c.frac >= 0.999) p999 = t - since
    if (c.all && exact) return { p999, full: t - since, frac }
    if (Date.now() - since > capMs) return { p999, full: null, frac }
    await sleep(Math.max(50, 10 * (Date.now() - t)))
  }
}

function membershipBytes(nodes: Node[]): number {
  return nodes.reduce((s, n) => s + n.metrics.total('distlab_bytes_sent_total', { proto: 'membership' }), 0)
}

const fmt = (ms: number | null) => (ms === null ? 'not within cap' : `${(ms / 1000).toFixed(2)} s`)

interface InprocRow {
  n: number
  startMs: number
  joinP999: number | null
  joinFull: number | null
  oneJoinP999: number | null
  oneJoinFull: number | null
  detectMs: number | null
  falseRemovals: number
  /** (survivor, live peer) pairs missing from views that never held them. */
  missing: number
  bytesPerNodePerSec: number
  /** CPU seconds of this process from the first start to convergence, and for the whole size. */
  cpuJoinSeconds: number
  cpuTotalSeconds: number
  /** Share of (peer, peer) pairs known during the mass join, in %, by seconds since the last start. */
  trace: Array<{ x: number; y: number }>
}

async function inproc(n: number): Promise<InprocRow> {
  // As `distlab p2p --mode inproc` runs them: peers of one process register with the registry of
  // that process by a call (local-registry.ts), not over loopback HTTP.
  const directory = new RegistryDirectory()
  const bootstrap = createNode({
    name: 'master',
    host: '127.40.19.1',
    httpPort: 0,
    framePort: 0,
    protocols: [membership({ registry: true, directory })],
  })
  await bootstrap.start()
  const nodes: Node[] = []
  for (let i = 1; i <= n; i++)
    nodes.push(
      createNode({
        name: `node${i}`,
        host: host(i),
        httpPort: 0,
        framePort: 0,
        protocols: [membership({ bootstrapUrl: bootstrap.httpUrl, directory })],
      }),
    )
  let late: Node | undefined
  try {
    return await measureInproc(n, bootstrap, nodes, (x) => (late = x))
  } finally {
    // Also after a failure (EMFILE at 2000 peers on a machine whose limit is 20,000 open files):
    // the next size and the process row need the sockets back.
    for (const x of [...nodes, ...(late ? [late] : [])]) await x.stop().catch(() => {})
    await bootstrap.stop()
  }
}

async function measureInproc(
  n: number,
  bootstrap: Node,
  nodes: Node[],
  onLate: (late: Node) => void,
): Promise<InprocRow> {
  const t0 = Date.now()
  const cpu0 = process.cpuUsage()
  const cpuSince = () => {
    const d = process.cpuUsage(cpu0)
    return (d.user + d.system) / 1e6
  }
  for (let i = 0; i < n; i += 50) await Promise.all(nodes.slice(i, i + 50).map((x) => x.start()))
  const lastStart = Date.now()
  const live = new Set(nodes.map((x) => x.httpUrl))
  const trace: Array<{ x: number; y: number }> = []
  const join = await waitConverged(nodes, live, lastStart, CONVERGE_CAP_MS, true, trace)
  const cpuJoinSeconds = cpuSince()
  process.stderr.write(`  ${n} in process: mass join ${fmt(join.full)} (99.9% ${fmt(join.p999)})\n`)

  // Traffic at rest: every peer probing once a second, nothing to gossip.
  await sleep(2000)
  const b0 = membershipBytes(nodes)
  const w0 = Date.now()
  await sleep(5000)
  const bytesPerNodePerSec = (membershipBytes(nodes) - b0) / n / ((Date.now() - w0) / 1000)

  // One late peer joining through a seed: a single alive update spreading by gossip.
  const late = createNode({
    name: `node${n + 1}`,
    host: host(n + 1),
    httpPort: 0,
    framePort: 0,
    protocols: [membership({ seedUrl: nodes[0]!.httpUrl })],
  })
  onLate(late)
  await late.start()
  const t1 = Date.now()
  const everyone = [...nodes, late]
  const oneJoin = await waitConverged(nodes, new Set([late.httpUrl]), t1, CONVERGE_CAP_MS, false)
  process.stderr.write(`  ${n} in process: one join ${fmt(oneJoin.full)}\n`)

  // Failure detection: one peer stops without a word (kill -9 for an in-process peer).
  const victim = nodes[Math.floor(n / 2)]!
  const viewsBefore = new Map(everyone.map((x) => [x, new Set(mem(x).peers())]))
  await victim.stop()
  const t2 = Date.now()
  const survivors = everyone.filter((x) => x !== victim)
  let detectMs: number | null = null
  for (;;) {
    if (survivors.every((x) => !mem(x).knows(victim.httpUrl))) {
      detectMs = Date.now() - t2
      break
    }
    if (Date.now() - t2 > DETECT_CAP_MS) break
    await sleep(50)
  }
  await sleep(1000)
  const liveUrls = new Set(survivors.map((x) => x.httpUrl))
  // A false removal: a live peer that was in a survivor's view before the kill and is not now.
  // A live peer missing from a view it never entered (a join still spreading) is counted apart.
  let falseRemovals = 0
  let missing = 0
  for (const x of survivors) {
    const now = new Set(mem(x).peers())
    for (const u of liveUrls)
      if (u !== x.httpUrl && !now.has(u)) {
        if (viewsBefore.get(x)!.has(u)) falseRemovals++
        else missing++
      }
  }
  process.stderr.write(
    `  ${n} in process: detection ${fmt(detectMs)}, ${falseRemovals} false removals, ${missing} never learned\n`,
  )

  const cpuTotalSeconds = cpuSince()
  return {
    cpuJoinSeconds,
    cpuTotalSeconds,
    n,
    startMs: lastStart - t0,
    joinP999: join.p999,
    joinFull: join.full,
    trace,
    oneJoinP999: oneJoin.p999,
    oneJoinFull: oneJoin.full,
    detectMs,
    falseRemovals,
    missing,
    bytesPerNodePerSec,
  }
}

interface ProcessRow {
  n: number
  startMs: number
  joinFull: number | null
  detectMs: number | null
  falseRemovals: number
  missing: number
  bytesPerNodePerSec: number
}

async function processes(n: number): Promise<ProcessRow> {
  const cluster = new LocalCluster({
    nodes: n,
    mode: 'process',
    block: 40,
    stateDir: benchDir('distlab-bench-p2p-'),
    dashboardPort: 0,
    startTimeoutMs: 120_000 + 1000 * n,
  })
  const t0 = Date.now()
  await cluster.start()
  const lastStart = Date.now()
  const peers = cluster
    .list()
    .slice(1)
    .map((x) => ({ name: x.name, url: nodeUrl(x) }))
  const views = async (list: typeof peers) =>
    Promise.all(
      list.map((p) =>
        fetch(`${p.url}/peers`, { signal: AbortSignal.timeout(5000) })
          .then((r) => r.json() as Promise<{ peers: string[] }>)
          .then((b) => b.peers)
          .catch(() => [] as string[]),
      ),
    )
  const exact = (vs: string[][], list: typeof peers) => {
    const urls = new Set(list.map((p) => p.url))
    return vs.every((v, i) => v.length === urls.size - 1 && v.every((u) => urls.has(u) && u !== list[i]!.url))
  }
  let joinFull: number | null = null
  while (Date.now() - lastStart < CONVERGE_CAP_MS) {
    if (exact(await views(peers), peers)) {
      joinFull = Date.now() - lastStart
      break
    }
    await sleep(200)
  }
  process.stderr.write(`  ${n} processes: started in ${fmt(lastStart - t0)}, converged ${fmt(joinFull)}\n`)
  const bytes = async () => {
    let sum = 0
    for (const p of peers) {
      const text = await fetch(`${p.url}/metrics`)
        .then((r) => r.text())
        .catch(() => '')
      for (const line of text.split('\n'))
        if (line.startsWith('distlab_bytes_sent_total{') && line.includes('proto="membership"'))
          sum += Number(line.split(' ').at(-1))
    }
    return sum
  }
  await sleep(2000)
  const b0 = await bytes()
  const w0 = Date.now()
  await sleep(5000)
  const bytesPerNodePerSec = ((await bytes()) - b0) / n / ((Date.now() - w0) / 1000)

  const victim = peers[Math.floor(n / 2)]!
  const viewsBefore = await views(peers)
  await cluster.kill(victim.name, 'SIGKILL')
  const t2 = Date.now()
  const survivors = peers.filter((p) => p !== victim)
  let detectMs: number | null = null
  while (Date.now() - t2 < DETECT_CAP_MS) {
    const vs = await views(survivors)
    if (vs.every((v) => !v.includes(victim.url))) {
      detectMs = Date.now() - t2
      break
    }
    await sleep(200)
  }
  const vs = await views(survivors)
  const urls = new Set(survivors.map((p) => p.url))
  let falseRemovals = 0
  let missing = 0
  vs.forEach((v, i) => {
    const before = new Set(viewsBefore[peers.indexOf(survivors[i]!)] ?? [])
    for (const u of urls)
      if (u !== survivors[i]!.url && !v.includes(u)) {
        if (before.has(u)) falseRemovals++
        else missing++
      }
  })
  process.stderr.write(`  ${n} processes: detection ${fmt(detectMs)}, ${falseRemovals} false removals\n`)
  await cluster.stop()
  return { n, startMs: lastStart - t0, joinFull, detectMs, falseRemovals, missing, bytesPerNodePerSec }
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(', ')

async function main(): Promise<void> {
  const t0 = Date.now()
  const loadAtStart = load()
  const rows: InprocRow[] = []
  const ml: MemberlistRow[] = []
  const harness = WITH_MEMBERLIST ? buildMemberlistHarness() : undefined
  // Side by side: each size runs distlab, then memberlist, so both see the same machine.
  // A memberlist harness that fails (at 200 peers on a loaded machine it hung past its limit and was
  // killed) costs its size and the larger ones their memberlist columns, not the whole run's rows.
  let mlFailedAt: string | undefined
  let inprocFailedAt: string | undefined
  for (const n of SIZES) {
    try {
      rows.push(await inproc(n))
    } catch (err) {
      inprocFailedAt = `${n} peers in one process failed (${(err as Error).message}); larger sizes left out`
      process.stderr.write(`  ${inprocFailedAt}\n`)
      break
    }
    if (!harness || mlFailedAt !== undefined || n > MEMBERLIST_MAX_PEERS) continue
    try {
      ml.push(await runMemberlist(harness, n, { convergeCapMs: CONVERGE_CAP_MS, detectCapMs: DETECT_CAP_MS }))
    } catch (err) {
      mlFailedAt = `${n} peers (${(err as Error).message})`
      process.stderr.write(`  memberlist ${n}: ${(err as Error).message}; left out from here on\n`)
    }
  }
  const proc = PROCESS_PEERS > 0 ? await processes(PROCESS_PEERS) : undefined
  const serf = (n: number) => (n <= 50 ? '≈1.5 s' : n >= 1000 ? '≈1.8 s' : '1.5–1.8 s')
  // The mass join as a curve: small overlays converge in seconds, large ones in a minute, so each
  // group gets its own time axis.
  const panel = (title: string, list: InprocRow[]) =>
    lineChart({
      title,
      series: list.map((r) => ({ name: `${r.n} peers`, points: r.trace })),
      xTitle: "seconds since the last peer's start",
      yTitle: '(peer, peer) pairs known, %',
    })
  const small = rows.filter((r) => r.n <= 200)
  const large = rows.filter((r) => r.n > 200)
  const plot = await writeChart(
    concatCharts(
      [
        ...(small.length ? [panel('Mass join, up to 200 peers', small)] : []),
        ...(large.length ? [panel('Mass join, more than 200 peers', large)] : []),
      ],
      'h',
    ),
    'bench/results/p2p.png',
  )
  // Cost against size, both systems: convergence time and CPU seconds against N.
  const scalePlot = ml.length
    ? await writeChart(
        concatCharts(
          [
            lineChart({
              title: 'Mass join: time to full views',
              series: [
                {
                  name: 'distlab',
                  points: rows.flatMap((r) =>
                    r.joinFull === null ? [] : [{ x: r.n, y: r.joinFull / 1000 }],
                  ),
                },
                {
                  name: 'memberlist',
                  points: ml.flatMap((r) =>
                    r.joinFullMs === null ? [] : [{ x: r.n, y: r.joinFullMs / 1000 }],
                  ),
                },
              ],
              xTitle: 'peers',
              yTitle: 'seconds (log)',
              logY: true,
              pointMarkers: true,
            }),
            lineChart({
              title: 'Mass join: CPU seconds until converged (or the cap)',
              series: [
                { name: 'distlab', points: rows.map((r) => ({ x: r.n, y: r.cpuJoinSeconds })) },
                { name: 'memberlist', points: ml.map((r) => ({ x: r.n, y: r.cpuJoinSeconds })) },
              ],
              xTitle: 'peers',
              yTitle: 'CPU seconds (log)',
              logY: true,
              pointMarkers: true,
            }),
          ],
          'h',
        ),
        'bench/results/p2p-scale.png',
      )
    : undefined
  const byN = new Map(ml.map((r) => [r.n, r]))
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null
      ? b === null && a !== null
        ? `memberlist did not converge within ${CONVERGE_CAP_MS / 1000} s`
        : '–'
      : `${(b / a).toFixed(1)}x`
  const sideBySide = ml.length
    ? [
        {
          heading: 'Side by side with memberlist (same run, same machine)',
          text:
            `HashiCorp memberlist ${'0.2.2'} (Debian's golang-github-hashicorp-memberlist-dev, DefaultLANConfig), N instances in one Go ` +
            `process (GOMAXPROCS ${ml[0]!.gomaxprocs}) on their own loopback addresses, built by bench/peers/memberlist.ts from ` +
            `bench/peers/memberlist/main.go. Mass join: every instance joins one seed at once; the time runs from the last Join call ` +
            `until every instance counts every other alive. One join, detection and false removals as for distlab. distlab's peers run in ` +
            `one Node.js process (one core for the protocol); memberlist's Go process may use every core. CPU seconds are each process's ` +
            `own (user + system), from the first start to convergence or the cap.` +
            (scalePlot
              ? `\n\n![convergence time and CPU seconds against N, both systems](${scalePlot.pngPath})`
              : ''),
          columns: [
            'peers',
            'mass join: distlab',
            'mass join: memberlist',
            'memberlist / distlab',
            'one join: distlab / memberlist',
            'detection: distlab / memberlist',
            'false removals: distlab / memberlist',
            'memberlist suspicions',
            'CPU s to converge: distlab / memberlist',
          ],
          rows: rows.map((r) => {
            const m = byN.get(r.n)
            return [
              r.n,
              fmt(r.joinFull),
              m ? fmt(m.joinFullMs) : '–',
              m ? ratio(r.joinFull, m.joinFullMs) : '–',
              `${fmt(r.oneJoinFull)} / ${m ? fmt(m.oneJoinMs) : '–'}`,
              `${fmt(r.detectMs)} / ${m ? fmt(m.detectMs) : '–'}`,
              `${r.falseRemovals} / ${m ? m.falseRemovals : '–'}`,
              m ? m.suspects : '–',
              `${r.cpuJoinSeconds.toFixed(1)} / ${m ? m.cpuJoinSeconds.toFixed(1) : '–'}`,
            ]
          }),
          notes: [
            "memberlist's false removals are leave events (declared dead) for instances that were running, summed over observers, during the whole size's run; distlab's are (survivor, live peer) pairs lost at the end of detection. Both are 0 when nothing live is ever removed.",
            'Where memberlist is better, the table says so: a ratio below 1x means memberlist converged sooner.',
            ...(SIZES.some((n) => n > MEMBERLIST_MAX_PEERS)
              ? [
                  `memberlist runs up to ${MEMBERLIST_MAX_PEERS} peers at most: larger sizes are distlab's alone (–).`,
                ]
              : []),
            ...(mlFailedAt === undefined
              ? []
              : [
                  `memberlist's harness failed at ${mlFailedAt}: memberlist is left out at that size and above (–).`,
                ]),
          ],
        },
      ]
    : []
  writeResult('p2p', {
    title: 'P2P overlay: convergence, failure detection and traffic (issue 4)',
    description:
      `Peers with memberlist's LAN defaults (probe 1 s, probe timeout 500 ms, 3 indirect probes, suspicion ` +
      `multiplier 4, gossip every 200 ms to 3 peers, retransmit multiplier 4; push-pull every 5 s (a digest first), scaled ` +
      `beyond 32 members) on loopback, all in one process on a 2-core machine, then ` +
      `${PROCESS_PEERS} peers as separate processes. Mass join: every peer registers with the bootstrap at ` +
      `once (waves of 50); the time runs from the last peer's start until every peer knows every other. ` +
      `One join: a peer joins through a seed peer once the overlay has converged; this is what Serf's ` +
      `convergence model describes (one update spreading by gossip). Detection: one peer stops without a ` +
      `word; the time runs until no live peer lists it. Plot of the mass joins: ${plot.pngPath} (and .svg). ` +
      `Total run ${((Date.now() - t0) / 1000).toFixed(0)} s; ` +
      `load average (1, 5, 15 min) ${loadAtStart} at the start and ${load()} at the end, on 2 cores ` +
      `(the load at the end includes the ${PROCESS_PEERS} peer processes; a 1-minute load well above 2 at the start ` +
      `means other work ran alongside and wall times are noisy).` +
      (loadavg()[0] > 4 && Number(loadAtStart.split(',')[0]) > 4
        ? ` This run's machine was loaded by other work throughout: the figures compare the two systems under the same load; they are not either system's speed on a quiet machine.`
        : ''),
    sections: [
      ...sideBySide,
      {
        heading: 'Convergence (peers in one process)',
        columns: [
          'peers',
          'start (all)',
          'mass join: 99.9%',
          'mass join: 100%',
          'one join: 99.9%',
          'one join: 100%',
          "Serf's model (99.9%, one update)",
        ],
        rows: rows.map((r) => [
          r.n,
          fmt(r.startMs),
          fmt(r.joinP999),
          fmt(r.joinFull),
          fmt(r.oneJoinP999),
          fmt(r.oneJoinFull),
          serf(r.n),
        ]),
        notes: [
          "Serf's published model: about 1.5 s to reach 99.9% of 50 nodes and 1.8 s for 1000, fanout 3, gossip every 200 ms.",
          'A mass join moves N alive updates to N peers at once: its time grows with N and with the CPU the one process gets. ' +
            'Peers of one process register with the registry of that process by a call, as `distlab p2p --mode inproc` does (local-registry.ts); the registry admits them as its HTTP route does and answers with one shared member list.',
          `Members learned from a whole view (a registration's answer, a push-pull) are relayed only while a peer's gossip queue holds less than a frame; in a backlog an update heard again 4 times stops being sent, and a drained backlog swaps views once. The convergence wait stops at ${CONVERGE_CAP_MS / 1000} s.`,
          ...(inprocFailedAt ? [`This run: ${inprocFailedAt}.`] : []),
        ],
      },
      {
        heading: 'Failure detection after a kill, and traffic at rest',
        columns: [
          'peers',
          'detection',
          "memberlist's suspicion timeout",
          'live peers falsely removed',
          'live peers never learned',
          'membership bytes/node/s',
        ],
        rows: [
          ...rows.map((r) => [
            `${r.n} (one process)`,
            fmt(r.detectMs),
            fmt(memberlistSuspicionMs(r.n)),
            r.falseRemovals,
            r.missing,
            Math.round(r.bytesPerNodePerSec),
          ]),
          ...(proc
            ? [
                [
                  `${proc.n} (processes; converged ${fmt(proc.joinFull)} after ${fmt(proc.startMs)} of starting)`,
                  fmt(proc.detectMs),
                  fmt(memberlistSuspicionMs(proc.n)),
                  proc.falseRemovals,
                  proc.missing,
                  Math.round(proc.bytesPerNodePerSec),
                ],
              ]
            : []),
        ],
        notes: [
          "Falsely removed: (survivor, live peer) pairs in the survivor's view before the kill and gone after detection. Never learned: pairs missing from views that never held them (a mass join that had not converged).",
          "memberlist's defaults detect a failure in about 7 s at 50 nodes and 12 s at 1000 (suspicion multiplier 4 × log10 n × 1 s probe interval), plus the probe that finds it and the gossip that spreads the death.",
          'Bytes at rest are probes, acks and push-pulls, counted on the wire (frame headers included). A push-pull sends a digest of the view first and whole views only when the digests differ (memberlist sends whole views every time).',
        ],
      },
    ],
    data: { rows, processes: proc, memberlist: ml },
  })
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench p2p failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
