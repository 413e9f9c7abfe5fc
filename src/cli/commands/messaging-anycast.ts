// `distlab anycast serve|client` (issue 3, seed 001): one replica of a TCP service, and a client
// that sends requests to the replicas (from --targets, the replicas started here, or the running
// cluster's nodes) and fails over when one dies; it prints the spread over the replicas.
import { runConcurrently } from '../../protocols/workload.js'
import type { Command } from 'commander'
import { clusterFileExists, nodeUrl, requireCluster } from '../../cluster/state.js'
import { ClusterError } from '../../core/errors.js'
import { callNode, stateDirOf, intFlag } from '../context.js'
import {
  AnycastClient,
  AnycastServer,
  DEFAULT_SERVE_PORT,
  POLICIES,
  parseTargets,
  type AnycastAnswer,
  type AnycastInfo,
  type AnycastPolicy,
  type AnycastTarget,
} from '../../protocols/anycast/index.js'
import { quantiles } from '../../protocols/workload.js'
import { printJson, printTable } from '../output.js'
import {
  REPLICA_NET,
  nameTargets,
  recordReplica,
  forgetReplica,
  recordedReplicas,
  serveOnOwnAddress,
} from './anycast-replicas.js'
import { policyOption } from './messaging-options.js'

async function anycastServe(
  cmd: Command,
  o: { host?: string; port: number; name?: string; json?: boolean },
): Promise<void> {
  const init = {
    port: o.port,
    name: o.name,
    onConnection: (r: { host: string; port: number }) => {
      if (!o.json) process.stdout.write(`[server] connection from ('${r.host}', ${r.port})\n`)
    },
  }
  // No --host: a loopback address of its own, so that several replicas share the port (seed 001).
  let server: AnycastServer
  if (o.host === undefined) server = await serveOnOwnAddress(init)
  else {
    server = new AnycastServer({ ...init, host: o.host })
    await server.start()
  }
  const a = server.address()
  const dir = stateDirOf(cmd)
  recordReplica(dir, { name: o.name ?? `${a.host}:${a.port}`, host: a.host, port: a.port, pid: process.pid })
  if (!o.json) {
    // One write: a reader that sees the first line has the second too.
    process.stdout.write(
      `[server] listening on ${a.host}:${a.port}\n` +
        (o.host === undefined
          ? `[server] ${o.name ?? 'this replica'} has its own loopback address ${a.host} ` +
            '(--host 0.0.0.0: every interface, one replica per port)\n'
          : ''),
    )
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  await server.stop()
  forgetReplica(dir, a.host, a.port)
  if (o.json) printJson({ host: a.host, port: a.port, name: o.name ?? null, served: server.counts.served })
}

/** The anycast replicas of the running cluster: each node's GET /anycast. */
async function clusterReplicas(cmd: Command): Promise<AnycastTarget[]> {
  const rec = requireCluster(stateDirOf(cmd))
  const infos = await Promise.all(
    rec.nodes.map((n) =>
      callNode<AnycastInfo>(nodeUrl(n), 'GET', '/anycast', undefined, 2000).catch(() => undefined),
    ),
  )
  const targets = infos.flatMap((i) =>
    i && i.port > 0 ? [{ host: i.host, port: i.port, name: i.name }] : [],
  )
  if (targets.length === 0) throw new ClusterError('no node of the cluster runs an anycast replica')
  return targets
}

interface AnycastClientOptions {
  targets?: string
  requests: number
  policy: AnycastPolicy
  concurrency: number
  interval: number
  json?: boolean
}

async function anycastClient(cmd: Command, o: AnycastClientOptions): Promise<void> {
  // --targets, else the running cluster's replicas, else those `anycast serve` started here.
  const dir = stateDirOf(cmd)
  const records = recordedReplicas(dir)
  let targets: AnycastTarget[]
  if (o.targets) targets = nameTargets(parseTargets(o.targets), records)
  else if (records.length > 0 && !clusterFileExists(dir))
    targets = records.map((r) => ({ host: r.host, port: r.port, name: r.name }))
  else targets = await clusterReplicas(cmd)
  const client = new AnycastClient({ targets, policy: o.policy })
  const answers: AnycastAnswer[] = []
  await runConcurrently(o.requests, o.concurrency, async (n) => {
    if (n > 0 && o.interval > 0) await new Promise((r) => setTimeout(r, o.interval))
    try {
      const a = await client.request()
      answers.push(a)
      if (!o.json) process.stdout.write(`Received: ${a.greeting}\n`)
    } catch (err) {
      if (!o.json) process.stderr.write(`request ${n + 1} lost: ${(err as Error).message}\n`)
    }
  })
  const byReplica = new Map<string, { replica: string; target: string; answered: number }>()
  for (const a of answers) {
    const e = byReplica.get(a.target) ?? { replica: a.replica, target: a.target, answered: 0 }
    e.answered++
    byReplica.set(a.target, e)
  }
  const spread = client.spread().map((s) => ({
    replica: byReplica.get(s.target)?.replica ?? s.name ?? s.target,
    target: s.target,
    answered: byReplica.get(s.target)?.answered ?? 0,
    failures: s.failures,
    latencyMs: s.latencyMs ?? null,
  }))
  const summary = {
    policy: o.policy,
    requests: o.requests,
    answered: answers.length,
    lost: o.requests - answers.length,
    failovers: client.counts.failovers,
    latencyMs: quantiles(answers.map((a) => a.latencyMs)),
    replicas: spread,
  }
  if (o.json) printJson(summary)
  else {
    process.stdout.write(
      `\n${summary.answered}/${summary.requests} answered, ${summary.lost} lost, ${summary.failovers} failovers ` +
        `(policy ${summary.policy}); latency p50 ${summary.latencyMs.p50} ms, max ${summary.latencyMs.max} ms\n`,
    )
    printTable(
      ['replica', 'target', 'answered', 'share', 'failures'],
      spread.map((s) => [
        s.replica,
        s.target,
        s.answered,
        `${summary.answered ? Math.round((100 * s.answered) / summary.answered) : 0}%`,
        s.failures,
      ]),
    )
  }
  if (summary.lost > 0) process.exitCode = 1
}

/** `anycast serve` and `anycast client`. */
export function registerAnycastCommands(program: Command): void {
  const any = program
    .command('anycast')
    .description('anycast as in seed 001: several replicas of a TCP service, a client that reaches one')
  any
    .command('serve')
    .description(
      'run one replica: answer each TCP connection with `Hello from server` (and --name on a second line)',
    )
    .option(
      '--host <addr>',
      `address to listen on (default: a loopback address of its own, ${REPLICA_NET}.N with N from --name rN, else the first free)`,
    )
    .addOption(intFlag('--port <port>', 'TCP port', [0, 65535], DEFAULT_SERVE_PORT))
    .option('--name <replica>', "this replica's name, sent on the line after the greeting")
    .option('--json', 'print {host, port, name, served} when stopped instead of the log lines')
    .action((o, cmd: Command) => anycastServe(cmd, o))
  any
    .command('client')
    .description(
      'send requests to the replicas (from --targets or the running cluster), failing over when one dies',
    )
    .option(
      '--targets <list>',
      'replicas as host:port,host:port,... (default: the replicas `anycast serve` started from this folder, else every node of the running cluster)',
    )
    .addOption(intFlag('--requests <n>', 'number of requests', [1, 10_000_000], 3))
    .option('--policy <name>', `one of ${POLICIES.join(', ')}`, policyOption, 'random')
    .addOption(intFlag('--concurrency <n>', 'requests in flight at once', [1, 1000], 1))
    .addOption(intFlag('--interval <ms>', 'pause between requests of one worker', [0, 3_600_000], 0))
    .option('--json', 'print {policy, requests, answered, lost, failovers, latencyMs, replicas}')
    .action((o: AnycastClientOptions, cmd: Command) => anycastClient(cmd, o))
}
