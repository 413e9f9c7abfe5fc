// `distlab bench broadcast|unicast|multicast|anycast` (issue 3): each runs its protocol's workload
// on a fresh cluster of its own (bench-cluster.ts) and prints its figures as a table, or as JSON.
import { runConcurrently } from '../../protocols/workload.js'
import type { Command } from 'commander'
import { callNode, intFlag, numberFlag } from '../context.js'
import {
  AnycastClient,
  POLICIES,
  type AnycastAnswer,
  type AnycastInfo,
  type AnycastPolicy,
} from '../../protocols/anycast/index.js'
import { formatDuration, printJson, Progress, printTable } from '../output.js'
import { runUnicastWorkload } from '../../protocols/unicast/workload.js'
import { quantiles } from '../../protocols/workload.js'
import { runMulticastWorkload, type MulticastFigures } from '../../protocols/multicast/workload.js'
import { parseDuration } from '../../core/options.js'
import { runBroadcastWorkload, type BroadcastWorkloadReport } from '../../protocols/broadcast/workload.js'
import { STRATEGIES, type BroadcastStrategy, type BroadcastTuning } from '../../protocols/broadcast/index.js'
import {
  benchCluster,
  faultOptions,
  linkRule,
  parseKill,
  withBenchCluster,
  type BenchCommonOptions,
} from './bench-cluster.js'
import { policyOption, strategyOption, transportOption } from './messaging-options.js'

interface BenchBroadcastOptions {
  nodes: number
  latency: string
  rate: number
  duration: string
  strategy: BroadcastStrategy
  partition?: boolean
  partitionEvery: string
  kill?: string
  batch?: string
  coalesce?: string
  durable?: boolean
  recovery: string
  mode: 'inproc' | 'process'
  block: number
  keyed?: boolean
  json?: boolean
}

export function printBroadcastReport(r: BroadcastWorkloadReport): void {
  const q = r.latencyMs
  process.stdout.write(
    `broadcast bench: ${r.strategy}, ${r.nodes} nodes (master included), ${r.linkLatencyMs} ms links, ` +
      `${r.rate} ops/s for ${formatDuration(r.durationMs)}` +
      (r.partition ? ', partitions' : '') +
      (r.killed.length ? `, killed ${r.killed.join(', ')}` : '') +
      (r.tuning.batchMs ? `, batched ${r.tuning.batchMs} ms` : '') +
      '\n',
  )
  printTable(
    ['figure', 'value'],
    [
      ['ops (broadcast / read)', `${r.ops} (${r.broadcasts} / ${r.reads})`],
      ['acknowledged', r.acknowledged],
      ['msgsPerOp', r.msgsPerOp],
      ['msgsPerOp, every protocol', r.allMsgsPerOp],
      ['msgsPerBroadcast', r.msgsPerBroadcast],
      [
        'frames by type',
        Object.entries(r.framesByType)
          .map(([t, n]) => `${t} ${n}`)
          .join(', '),
      ],
      ['bytesPerOp', r.bytesPerOp],
      ['lost', r.lost],
      ['duplicates', r.duplicates],
      ['deliveryRatio', r.deliveryRatio],
      ['latency p50 / p95 / p99 / max', `${q.p50} / ${q.p95} / ${q.p99} / ${q.max} ms`],
      ['redundancy', r.redundancy],
      ['recovery', `${r.recoveryMs} ms`],
    ],
  )
}

async function benchBroadcast(o: BenchBroadcastOptions): Promise<void> {
  const durationMs = parseDuration('--duration', o.duration)
  const latencyMs = parseDuration('--latency', o.latency)
  const killCount = o.kill ? parseKill(o.kill, o.nodes) : 0
  const tuning: BroadcastTuning = {}
  if (o.batch !== undefined) {
    tuning.batchMs = parseDuration('--batch', o.batch)
    // Batching trades latency for messages everywhere: announcements and repairs wait longer too.
    tuning.lazyPushIntervalMs = Math.max(2000, tuning.batchMs * 4)
    tuning.lazyPushFanout = 1
    tuning.graftTimeoutMs = Math.max(3000, tuning.batchMs * 8)
    tuning.antiEntropyIntervalMs = 5000
  }
  if (o.coalesce !== undefined) tuning.coalesceMs = parseDuration('--coalesce', o.coalesce)
  const progress = new Progress('broadcast', Math.round(durationMs), { enabled: !o.json })
  const report = await withBenchCluster(o, (nodes, kill) =>
    runBroadcastWorkload({
      nodes,
      strategy: o.strategy,
      rate: o.rate,
      durationMs,
      latencyMs,
      partitionEveryMs: o.partition ? parseDuration('--partition-every', o.partitionEvery) : 0,
      kill: killCount ? { count: killCount, kill } : undefined,
      durable: o.durable ? true : undefined,
      tuning,
      maxRecoveryMs: parseDuration('--recovery', o.recovery),
      onProgress: (done) => progress.update(Math.min(done, durationMs)),
    }),
  )
  progress.done()
  if (o.json) printJson(report)
  else printBroadcastReport(report)
  if (report.lost > 0 || report.duplicates > 0) process.exitCode = 1
}
function printFigures(rows: Array<[string, string | number]>): void {
  printTable(['figure', 'value'], rows)
}

const q = (x: { p50: number; p95: number; p99: number; max: number }) =>
  `${x.p50} / ${x.p95} / ${x.p99} / ${x.max} ms`

async function benchUnicast(
  o: BenchCommonOptions & {
    messages: number
    concurrency: number
    transport: 'udp' | 'tcp'
    loss: number
    duplicate: number
    reorder: number
    latency: string
  },
): Promise<void> {
  const r = await withBenchCluster(o, (nodes) =>
    runUnicastWorkload({
      nodes,
      messages: o.messages,
      concurrency: o.concurrency,
      transport: o.transport,
      link: linkRule(o),
    }),
  )
  if (o.json) printJson(r)
  else {
    process.stdout.write(
      `unicast bench: ${r.nodes} nodes, ${r.transport}, loss ${o.loss}, duplicate ${o.duplicate}, ` +
        `reorder ${o.reorder}, ${o.latency} links\n`,
    )
    printFigures([
      ['messages (acknowledged)', `${r.messages} (${r.acknowledged})`],
      ['msgsPerOp', r.msgsPerOp],
      ['bytesPerOp', r.bytesPerOp],
      ['retransmissionsPerOp', r.retransmissionsPerOp],
      ['lost', r.lost],
      ['duplicates', r.duplicates],
      ['outOfOrder', r.outOfOrder],
      ['deliveryRatio', r.deliveryRatio],
      ['rtt p50 / p95 / p99 / max', q(r.latencyMs)],
    ])
  }
  if (r.lost || r.duplicates || r.outOfOrder || r.acknowledged < r.messages) process.exitCode = 1
}

async function benchMulticast(
  o: BenchCommonOptions & {
    members: number
    messages: number
    concurrency: number
    loss: number
    duplicate: number
    reorder: number
    latency: string
    ipGroup: string
    ipPort: number
  },
): Promise<void> {
  const r = await withBenchCluster(o, (nodes) =>
    runMulticastWorkload({
      nodes,
      members: o.members,
      messages: o.messages,
      concurrency: o.concurrency,
      link: linkRule(o),
      ipGroup: o.ipGroup,
      ipPort: o.ipPort,
    }),
  )
  if (o.json) printJson(r)
  else {
    process.stdout.write(
      `multicast bench: ${r.nodes} nodes, a group of ${r.members}, ${o.messages} messages; overlay links: ` +
        `loss ${o.loss}, ${o.latency}\n`,
    )
    const cols = (f: MulticastFigures) => [
      f.msgsPerOp,
      f.bytesPerOp,
      f.lost,
      f.duplicates,
      f.strays,
      f.deliveryRatio,
      q(f.latencyMs),
    ]
    printTable(
      [
        'kind',
        'msgsPerOp',
        'bytesPerOp',
        'lost',
        'duplicates',
        'strays',
        'deliveryRatio',
        'latency p50/p95/p99/max',
      ],
      [
        ['overlay', ...cols(r.overlay)],
        ['ip', ...cols(r.ip)],
      ],
    )
  }
  if (r.overlay.lost || r.overlay.duplicates || r.overlay.strays) process.exitCode = 1
}

async function benchAnycast(
  o: BenchCommonOptions & { requests: number; concurrency: number; policy: AnycastPolicy; kill: number },
): Promise<void> {
  const r = await withBenchCluster(o, async (nodes, kill) => {
    const infos = await Promise.all(
      nodes.map((n) =>
        callNode<AnycastInfo>(n.url, 'GET', '/anycast', undefined, 5000, {
          ...(n.authorization ? { authorization: n.authorization } : {}),
        }),
      ),
    )
    const client = new AnycastClient({
      targets: infos.map((i) => ({ host: i.host, port: i.port, name: i.name })),
      policy: o.policy,
    })
    const victims = nodes
      .map((n) => n.name)
      .filter((n) => n !== 'master')
      .slice(0, o.kill)
    const answers: AnycastAnswer[] = []
    let attempts = 0
    const started = Date.now()
    await runConcurrently(o.requests, o.concurrency, async (i) => {
      if (victims.length && i === Math.floor(o.requests / 2)) for (const v of victims) await kill(v)
      try {
        const a = await client.request()
        attempts += a.attempts
        answers.push(a)
      } catch {
        // lost: counted by the client
      }
    })
    const spread: Record<string, number> = {}
    for (const a of answers) spread[a.replica] = (spread[a.replica] ?? 0) + 1
    return {
      replicas: infos.length,
      policy: o.policy,
      killed: victims,
      requests: o.requests,
      answered: answers.length,
      lost: client.counts.lost,
      failovers: client.counts.failovers,
      msgsPerOp: Math.round((attempts / Math.max(1, answers.length)) * 1000) / 1000,
      deliveryRatio: Math.round((answers.length / o.requests) * 1000) / 1000,
      latencyMs: quantiles(answers.map((a) => a.latencyMs)),
      spread,
      durationMs: Date.now() - started,
    }
  })
  if (o.json) printJson(r)
  else {
    process.stdout.write(
      `anycast bench: ${r.replicas} replicas, policy ${r.policy}` +
        (r.killed.length ? `, killed ${r.killed.join(', ')} half way` : '') +
        '\n',
    )
    printFigures([
      ['requests (answered)', `${r.requests} (${r.answered})`],
      ['lost', r.lost],
      ['failovers', r.failovers],
      ['connections per request', r.msgsPerOp],
      ['deliveryRatio', r.deliveryRatio],
      ['latency p50 / p95 / p99 / max', q(r.latencyMs)],
      [
        'spread',
        Object.entries(r.spread)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      ],
    ])
  }
  if (r.lost > 0) process.exitCode = 1
}

/** `bench broadcast`, `bench unicast`, `bench multicast` and `bench anycast`, under `bench`. */
export function registerMessagingBenches(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench')
  if (!bench.description()) bench.description('measure a protocol on a fresh cluster of its own')
  benchCluster(
    bench
      .command('broadcast')
      .description(
        'Maelstrom-style broadcast workload (half broadcasts, half reads) on a fresh cluster; reports msgsPerOp, lost, latency, redundancy',
      ),
    25,
  )
    .option('--latency <d>', 'one-way delay of every link', '100ms')
    .addOption(numberFlag('--rate <n>', 'operations per second', [0.1, 10_000], 100))
    .option('--duration <d>', 'length of the run', '20s')
    .option('--strategy <name>', `one of ${STRATEGIES.join(', ')}`, strategyOption, 'tree')
    .option(
      '--partition',
      'split the nodes into two random halves every --partition-every; healed at the end',
    )
    .option('--partition-every <d>', 'time between partitions', '10s')
    .option('--kill <n|p%>', 'kill this many nodes (or percent) during the run, one after another')
    .option('--batch <d>', 'batch eager pushes for this long (fewer messages, more latency)')
    .option(
      '--coalesce <d>',
      'pushes to a peer sent a frame less than this ago share the next frame (default 50ms; 0: one frame per push)',
    )
    .option('--durable', 'acknowledge a broadcast only once a second node holds it (default with --kill)')
    .option('--recovery <d>', 'longest pause after the run for the nodes to converge', '30s')
    .action((o: BenchBroadcastOptions) => benchBroadcast(o))

  faultOptions(
    benchCluster(
      bench
        .command('unicast')
        .description(
          'reliable unicast between random pairs through lossy links; checks exactly-once, in-order',
        ),
      4,
    ),
    0.3,
  )
    .addOption(intFlag('--messages <n>', 'messages to send', [1, 1000], 300))
    .addOption(intFlag('--concurrency <n>', 'messages in flight', [1, 1000], 20))
    .option('--transport <kind>', 'udp or tcp', transportOption, 'udp')
    .action((o) => benchUnicast(o))
  faultOptions(
    benchCluster(
      bench
        .command('multicast')
        .description('overlay group multicast (exactly once, members only) beside IP multicast datagrams'),
      8,
    ),
    0,
  )
    .addOption(intFlag('--members <n>', 'group size', [1, 1000], 4))
    .addOption(intFlag('--messages <n>', 'messages to send', [1, 1000], 200))
    .addOption(intFlag('--concurrency <n>', 'messages in flight', [1, 1000], 10))
    .option('--ip-group <addr>', 'IP multicast group of the bench', '239.255.30.1')
    .addOption(intFlag('--ip-port <port>', 'IP multicast port of the bench', [1, 65535], 15009))
    .action((o) => benchMulticast(o))
  benchCluster(
    bench
      .command('anycast')
      .description(
        "requests to every node's anycast replica; kills replicas half way; reports lost and failovers",
      ),
    4,
  )
    .addOption(intFlag('--requests <n>', 'requests to send', [1, 1_000_000], 400))
    .addOption(intFlag('--concurrency <n>', 'requests in flight', [1, 1000], 4))
    .option('--policy <name>', `one of ${POLICIES.join(', ')}`, policyOption, 'random')
    .addOption(intFlag('--kill <n>', 'replicas to kill half way', [0, 1000], 1))
    .action((o) => benchAnycast(o))
}
