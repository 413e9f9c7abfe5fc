// Commands for unicast, broadcast, multicast and anycast (issue 3): `send`, `multicast`, `group`,
// `anycast` and `bench`. Each calls a node's HTTP API (found through the cluster record) or runs
// the library directly; only this file prints.
import type { Command } from 'commander'
import {
  clusterFileExists,
  findNode,
  nodeUrl,
  requireCluster,
  type ClusterRecord,
} from '../../cluster/state.js'
import { ClusterError, InvalidArgumentError } from '../../core/errors.js'
import { callNode, intOption, numberOption, stateDirOf } from '../context.js'
import {
  IpMulticastReceiver,
  IpMulticastSender,
  binaryBlob,
  type MulticastDatagram,
} from '../../protocols/multicast/ip.js'
import {
  DEFAULT_GROUP,
  DEFAULT_PORT,
  DEFAULT_TTL,
  LOOPBACK_INTERFACE,
  SEED_JSON_PAYLOAD,
} from '../../protocols/multicast/constants.js'
import { checkGroupName, type GroupSendResult } from '../../protocols/multicast/groups.js'
import { defaultInterface } from '../../protocols/multicast/default-interface.js'
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
import { formatDuration, printJson, Progress, table } from '../output.js'
import { followBroadcastCost } from './broadcast-cost.js'
import {
  REPLICA_NET,
  nameTargets,
  recordReplica,
  forgetReplica,
  recordedReplicas,
  serveOnOwnAddress,
} from './anycast-replicas.js'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalCluster } from '../../cluster/local.js'
import { Keyring } from '../../core/auth.js'
import type { LinkRuleInit } from '../../link/emulator.js'
import { runUnicastWorkload } from '../../protocols/unicast/workload.js'
import { quantiles, type WorkloadNode } from '../../protocols/workload.js'
import { runMulticastWorkload, type MulticastFigures } from '../../protocols/multicast/workload.js'
import { parseDuration } from '../../core/options.js'
import { runBroadcastWorkload, type BroadcastWorkloadReport } from '../../protocols/broadcast/workload.js'
import type { UnicastSendResult } from '../../protocols/unicast/index.js'
import {
  STRATEGIES,
  type BroadcastDelivery,
  type BroadcastResult,
  type BroadcastStrategy,
  type BroadcastTuning,
} from '../../protocols/broadcast/index.js'

function nodeUrlOf(cmd: Command, name: string): string {
  return nodeUrl(findNode(requireCluster(stateDirOf(cmd)), name))
}

function transportOption(v: string): 'udp' | 'tcp' {
  if (v !== 'udp' && v !== 'tcp') throw new InvalidArgumentError(`--transport must be udp or tcp, got ${v}`)
  return v
}

interface SendUnicastOptions {
  from: string
  to: string
  transport: 'udp' | 'tcp'
  timeout: number
  json?: boolean
}

async function sendUnicast(cmd: Command, message: string, o: SendUnicastOptions): Promise<void> {
  if (o.from === o.to) throw new InvalidArgumentError('--from and --to must be different nodes')
  const rec = requireCluster(stateDirOf(cmd))
  findNode(rec, o.to)
  const url = nodeUrl(findNode(rec, o.from))
  const r = await callNode<UnicastSendResult>(
    url,
    'POST',
    '/unicast',
    { to: o.to, msg: message, transport: o.transport, timeoutMs: o.timeout },
    o.timeout + 5000,
  )
  if (o.json) return printJson(r)
  process.stdout.write(
    `delivered to ${r.to} from ${r.from}: rtt ${r.rttMs.toFixed(2)} ms, seq ${r.seq}, ` +
      `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}, ${r.transport}\n`,
  )
}

interface SendBroadcastOptions {
  from: string
  strategy: BroadcastStrategy
  durable?: boolean
  wait: number
  json?: boolean
}

/** Longest `send broadcast` follows the frames one broadcast causes after its deliveries, in ms. */
const COST_SETTLE_MAX_MS = 3000

function strategyOption(v: string): BroadcastStrategy {
  if (!(STRATEGIES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`--strategy must be one of ${STRATEGIES.join(', ')}, got ${v}`)
  return v as BroadcastStrategy
}

async function sendBroadcast(cmd: Command, message: string, o: SendBroadcastOptions): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  const r = await callNode<BroadcastResult>(
    nodeUrl(findNode(rec, o.from)),
    'POST',
    '/broadcast',
    { msg: message, strategy: o.strategy, durable: !!o.durable },
    15_000,
  )
  // Follow the message to every node of the cluster record, up to --wait.
  const deadline = Date.now() + o.wait
  const seen = new Map<string, BroadcastDelivery>()
  const unreachable = new Set<string>()
  for (;;) {
    await Promise.all(
      rec.nodes
        .filter((n) => !seen.has(n.name))
        .map(async (n) => {
          try {
            const d = await callNode<{ messages: BroadcastDelivery[] }>(
              nodeUrl(n),
              'GET',
              `/broadcast/delivered?id=${encodeURIComponent(r.id)}`,
              undefined,
              2000,
            )
            unreachable.delete(n.name)
            if (d.messages[0]) seen.set(n.name, d.messages[0])
          } catch {
            unreachable.add(n.name)
          }
        }),
    )
    if (seen.size + unreachable.size >= rec.nodes.length || Date.now() > deadline) break
    await new Promise((res) => setTimeout(res, 50))
  }
  const missing = rec.nodes.map((n) => n.name).filter((n) => !seen.has(n) && !unreachable.has(n))
  // Then what it cost: frames for it on every node, once its lazy announcements have gone out.
  const cost = await followBroadcastCost(rec, r.from, r.id, seen.size, COST_SETTLE_MAX_MS)
  const framesOf = (name: string) => cost.perNode.get(name) ?? { payload: 0, control: 0 }
  const deliveredTo = rec.nodes.flatMap((n) => {
    const d = seen.get(n.name)
    if (!d) return []
    const f = framesOf(n.name)
    return [
      {
        node: n.name,
        hops: d.hops,
        latencyMs: Math.max(0, d.deliveredAt - d.sentAt),
        framesSent: { payload: f.payload, control: f.control },
      },
    ]
  })
  const frames = {
    payload: cost.payload,
    control: cost.control,
    total: cost.total,
    byType: Object.fromEntries(cost.byType),
  }
  if (o.json)
    printJson({
      ...r,
      deliveredTo,
      missing,
      unreachable: [...unreachable],
      frames,
      redundancy: cost.redundancy,
    })
  else {
    process.stdout.write(`broadcast ${r.id} from ${r.from} (${r.strategy}) acknowledged\n`)
    process.stdout.write(
      table(
        ['node', 'hops', 'latency', 'payload sent', 'control sent'],
        deliveredTo.map((d) => [
          d.node,
          d.hops,
          `${d.latencyMs} ms`,
          d.framesSent.payload,
          d.framesSent.control,
        ]),
      ),
    )
    const types = [...cost.byType].map(([t, n]) => `${t} ${n}`).join(', ')
    process.stdout.write(
      `took ${cost.total} frames: ${cost.payload} payload + ${cost.control} control` +
        (types ? ` (${types})` : '') +
        `; redundancy ${cost.redundancy.toFixed(2)} extra payload copies per node reached\n`,
    )
    process.stdout.write(
      `delivered on ${deliveredTo.length}/${rec.nodes.length - unreachable.size} live nodes` +
        (missing.length ? `; missing on ${missing.join(', ')}` : '') +
        (unreachable.size ? `; not answering: ${[...unreachable].join(', ')}` : '') +
        '\n',
    )
  }
  if (missing.length) process.exitCode = 1
}

/** Waits until every node of the cluster that answers sees `group` with exactly `expected` as members. */
async function waitGroupView(
  rec: ClusterRecord,
  group: string,
  member: string,
  joined: boolean,
  waitMs: number,
): Promise<{ seenBy: number; answering: number }> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const views = await Promise.all(
      rec.nodes.map((n) =>
        callNode<{ groups: Record<string, string[]> }>(nodeUrl(n), 'GET', '/groups', undefined, 2000).catch(
          () => undefined,
        ),
      ),
    )
    const answering = views.filter(Boolean).length
    const seenBy = views.filter((v) => v && (v.groups[group] ?? []).includes(member) === joined).length
    if (seenBy >= answering || Date.now() > deadline) return { seenBy, answering }
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function groupChange(
  cmd: Command,
  action: 'join' | 'leave',
  node: string,
  group: string,
  o: { wait: number; json?: boolean },
): Promise<void> {
  checkGroupName('group', group)
  const rec = requireCluster(stateDirOf(cmd))
  const r = await callNode<{ node: string; groups: string[] }>(
    nodeUrl(findNode(rec, node)),
    'POST',
    `/groups/${action}`,
    { group },
  )
  const view = await waitGroupView(rec, group, node, action === 'join', o.wait)
  if (o.json) return printJson({ ...r, group, action, ...view })
  process.stdout.write(
    `${node} ${action === 'join' ? 'joined' : 'left'} ${group} (seen by ${view.seenBy}/${view.answering} nodes); ` +
      `${node} is in: ${r.groups.length ? r.groups.join(', ') : 'no group'}\n`,
  )
}

async function groupList(cmd: Command, o: { from: string; json?: boolean }): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  const r = await callNode<{ groups: Record<string, string[]> }>(
    nodeUrl(findNode(rec, o.from)),
    'GET',
    '/groups',
  )
  if (o.json) return printJson(r)
  const rows = Object.entries(r.groups).map(([g, members]) => [g, members.join(', ') || '-'])
  process.stdout.write(rows.length ? table(['group', 'members'], rows) : 'no groups\n')
}

async function sendMulticast(
  cmd: Command,
  message: string,
  o: { from: string; group: string; timeout: number; json?: boolean },
): Promise<void> {
  checkGroupName('--group', o.group)
  const r = await callNode<GroupSendResult>(
    nodeUrlOf(cmd, o.from),
    'POST',
    '/multicast',
    { group: o.group, msg: message, timeoutMs: o.timeout },
    o.timeout + 5000,
  )
  if (o.json) printJson(r)
  else if (r.members.length === 0) process.stdout.write(`group ${r.group} has no members; nothing sent\n`)
  else
    process.stdout.write(
      `multicast to ${r.group} from ${r.from}: delivered to ${r.delivered.join(', ') || 'nobody'} ` +
        `(${r.delivered.length}/${r.members.length}) in ${r.elapsedMs.toFixed(2)} ms` +
        (r.failed.length ? `; failed: ${r.failed.map((f) => f.node).join(', ')}` : '') +
        '\n',
    )
  if (r.failed.length) process.exitCode = 1
}

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
    process.stdout.write(`[server] listening on ${a.host}:${a.port}\n`)
    if (o.host === undefined)
      process.stdout.write(
        `[server] ${o.name ?? 'this replica'} has its own loopback address ${a.host} ` +
          '(--host 0.0.0.0: every interface, one replica per port)\n',
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
  let next = 0
  const worker = async () => {
    while (next < o.requests) {
      const n = next++
      if (n > 0 && o.interval > 0) await new Promise((r) => setTimeout(r, o.interval))
      try {
        const a = await client.request()
        answers.push(a)
        if (!o.json) process.stdout.write(`Received: ${a.greeting}\n`)
      } catch (err) {
        if (!o.json) process.stderr.write(`request ${n + 1} lost: ${(err as Error).message}\n`)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.requests) }, worker))
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
    process.stdout.write(
      table(
        ['replica', 'target', 'answered', 'share', 'failures'],
        spread.map((s) => [
          s.replica,
          s.target,
          s.answered,
          `${summary.answered ? Math.round((100 * s.answered) / summary.answered) : 0}%`,
          s.failures,
        ]),
      ),
    )
  }
  if (summary.lost > 0) process.exitCode = 1
}

function policyOption(v: string): AnycastPolicy {
  if (!(POLICIES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`--policy must be one of ${POLICIES.join(', ')}, got ${v}`)
  return v as AnycastPolicy
}

// ---- benches ----

export interface BenchClusterInit {
  nodes: number
  mode: 'inproc' | 'process'
  block: number
  /** Cluster key: frames authenticated, and every workload call carries its bearer token. */
  key?: string
  /** With no `key`: a fresh random key for this cluster. */
  keyed?: boolean
}

/**
 * Runs `fn` on a fresh local cluster of its own (its own state dir and address block), then stops
 * it. The cluster's telemetry runs are kept in the state dir, not in ./runs.
 */
export async function withBenchCluster<T>(
  init: BenchClusterInit,
  fn: (nodes: WorkloadNode[], kill: (name: string) => Promise<void>, cluster: LocalCluster) => Promise<T>,
): Promise<T> {
  const stateDir = mkdtempSync(join(tmpdir(), 'distlab-bench-'))
  process.env.DISTLAB_RUNS_DIR ??= join(stateDir, 'runs')
  const key = init.key ?? (init.keyed ? randomBytes(24).toString('base64url') : undefined)
  const cluster = new LocalCluster({
    nodes: init.nodes,
    mode: init.mode,
    stateDir,
    block: init.block,
    dashboardPort: 0,
    key,
  })
  await cluster.start()
  try {
    const authorization = key === undefined ? undefined : new Keyring(key).bearer()
    const nodes: WorkloadNode[] = cluster
      .list()
      .map((n) => ({ name: n.name, url: nodeUrl(n), ...(authorization ? { authorization } : {}) }))
    // Every node must know every other before the run.
    await waitMembers(nodes)
    return await fn(nodes, (name) => cluster.kill(name, 'SIGKILL'), cluster)
  } finally {
    await cluster.stop()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

async function waitMembers(nodes: WorkloadNode[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all(
      nodes.map((n) =>
        callNode<{ members: number }>(n.url, 'GET', '/health', undefined, 30_000)
          .then((h) => h.members)
          .catch(() => 0),
      ),
    )
    if (counts.every((c) => c >= nodes.length) || Date.now() > deadline) return
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** `20%` of `of`, or a plain count. */
export function parseKill(text: string, of: number): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim())
  if (!m) throw new InvalidArgumentError(`--kill must be a count or a percentage such as 20%, got ${text}`)
  const n = m[2] ? Math.round((Number(m[1]) / 100) * of) : Number(m[1])
  if (!Number.isInteger(n) || n < 0 || n >= of)
    throw new InvalidArgumentError(`--kill must leave at least one node alive, got ${text} of ${of}`)
  return n
}

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

function modeOption(v: string): 'inproc' | 'process' {
  if (v !== 'inproc' && v !== 'process')
    throw new InvalidArgumentError(`--mode must be inproc or process, got ${v}`)
  return v
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
  process.stdout.write(
    table(
      ['figure', 'value'],
      [
        ['ops (broadcast / read)', `${r.ops} (${r.broadcasts} / ${r.reads})`],
        ['acknowledged', r.acknowledged],
        ['msgsPerOp', r.msgsPerOp],
        ['msgsPerBroadcast', r.msgsPerBroadcast],
        ['bytesPerOp', r.bytesPerOp],
        ['lost', r.lost],
        ['duplicates', r.duplicates],
        ['deliveryRatio', r.deliveryRatio],
        ['latency p50 / p95 / p99 / max', `${q.p50} / ${q.p95} / ${q.p99} / ${q.max} ms`],
        ['redundancy', r.redundancy],
        ['recovery', `${r.recoveryMs} ms`],
      ],
    ),
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

interface BenchCommonOptions {
  nodes: number
  mode: 'inproc' | 'process'
  block: number
  keyed?: boolean
  json?: boolean
}

function linkRule(o: { loss: number; duplicate: number; reorder: number; latency: string }): LinkRuleInit {
  const delayMs = parseDuration('--latency', o.latency)
  return { loss: o.loss, duplicate: o.duplicate, reorder: o.reorder, delayMs, jitterMs: delayMs / 5 }
}

function figuresTable(rows: Array<[string, string | number]>): string {
  return table(['figure', 'value'], rows)
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
    process.stdout.write(
      figuresTable([
        ['messages (acknowledged)', `${r.messages} (${r.acknowledged})`],
        ['msgsPerOp', r.msgsPerOp],
        ['bytesPerOp', r.bytesPerOp],
        ['retransmissionsPerOp', r.retransmissionsPerOp],
        ['lost', r.lost],
        ['duplicates', r.duplicates],
        ['outOfOrder', r.outOfOrder],
        ['deliveryRatio', r.deliveryRatio],
        ['rtt p50 / p95 / p99 / max', q(r.latencyMs)],
      ]),
    )
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
    process.stdout.write(
      table(
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
      ),
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
    let next = 0
    let attempts = 0
    const worker = async () => {
      while (next < o.requests) {
        const i = next++
        if (victims.length && i === Math.floor(o.requests / 2)) for (const v of victims) await kill(v)
        try {
          const a = await client.request()
          attempts += a.attempts
          answers.push(a)
        } catch {
          // lost: counted by the client
        }
      }
    }
    const started = Date.now()
    await Promise.all(Array.from({ length: o.concurrency }, worker))
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
    process.stdout.write(
      figuresTable([
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
      ]),
    )
  }
  if (r.lost > 0) process.exitCode = 1
}

function benchCluster(cmd: Command, nodes: number): Command {
  return cmd
    .option('--nodes <n>', 'nodes besides the master', intOption('--nodes', 2, 1000), nodes)
    .option('--mode <mode>', 'inproc (one process) or process (kill -9 for real)', modeOption, 'inproc')
    .option(
      '--block <n>',
      'address block of the bench cluster (127.<n>.x.y)',
      intOption('--block', 0, 255),
      200,
    )
    .option(
      '--keyed',
      'start the bench cluster with a fresh random key (frames authenticated, calls with its token)',
    )
    .option('--json', 'print the report as JSON')
}

function faultOptions(cmd: Command, loss: number): Command {
  return cmd
    .option('--loss <p>', 'loss probability on every link', numberOption('--loss', 0, 0.95), loss)
    .option('--duplicate <p>', 'duplication probability', numberOption('--duplicate', 0, 1), loss ? 0.1 : 0)
    .option('--reorder <p>', 'reordering probability', numberOption('--reorder', 0, 1), loss ? 0.1 : 0)
    .option('--latency <d>', 'one-way link delay (jitter: a fifth of it)', '10ms')
}

interface MulticastCommonOptions {
  group: string
  port: number
  interface: string
  json?: boolean
}

async function multicastSend(o: MulticastCommonOptions & { ttl: number; count: number; interval: number }) {
  const sender = new IpMulticastSender({ group: o.group, port: o.port, ttl: o.ttl, interface: o.interface })
  await sender.start()
  let datagrams = 0
  let bytes = 0
  try {
    for (let i = 0; i < o.count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, o.interval))
      bytes += await sender.send(SEED_JSON_PAYLOAD)
      if (!o.json) process.stdout.write(`Sent JSON: ${SEED_JSON_PAYLOAD}\n`)
      bytes += await sender.send(binaryBlob())
      if (!o.json) process.stdout.write('Sent binary blob\n')
      datagrams += 2
    }
  } finally {
    await sender.stop()
  }
  if (o.json) printJson({ group: o.group, port: o.port, ttl: o.ttl, datagrams, bytes })
}

async function multicastRecv(o: MulticastCommonOptions & { duration: number; count: number }, cmd: Command) {
  // No --interface: loopback and the default route's interface, where a sender that does not set
  // IP_MULTICAST_IF sends (seed 001's programs as students write them). Receiving only.
  const byDefault = cmd.getOptionValueSource('interface') === 'default'
  const dflt = byDefault ? defaultInterface() : undefined
  const receiver = new IpMulticastReceiver({
    group: o.group,
    port: o.port,
    interface: o.interface,
    alsoJoin: dflt ? [dflt.address] : [],
  })
  await receiver.start()
  const received: MulticastDatagram[] = []
  // With --json the human lines go to stderr, so that a script still sees when the group is joined.
  const say = (line: string) => (o.json ? process.stderr : process.stdout).write(line + '\n')
  say(`Joined multicast group ${o.group}:${o.port}`)
  const label = (a: string) => (a === dflt?.address ? `${a} (${dflt.name}, the default route)` : a)
  say(`on interfaces: ${receiver.joined.map(label).join(', ')}`)
  await new Promise<void>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = () => {
      if (timer) clearTimeout(timer)
      process.off('SIGINT', finish)
      process.off('SIGTERM', finish)
      resolve()
    }
    receiver.onDatagram((d) => {
      received.push(d)
      if (!o.json)
        process.stdout.write(
          d.kind === 'json'
            ? `Received from ('${d.from}', ${d.port}): ${d.text}\n`
            : `Received binary from ('${d.from}', ${d.port}): ${d.bytes} bytes\n`,
        )
      if (o.count > 0 && received.length >= o.count) finish()
    })
    if (o.duration > 0) timer = setTimeout(finish, o.duration * 1000)
    process.once('SIGINT', finish)
    process.once('SIGTERM', finish)
  })
  await receiver.stop()
  if (o.json)
    printJson({
      group: o.group,
      port: o.port,
      json: receiver.counts.json,
      binary: receiver.counts.binary,
      bytes: receiver.counts.bytes,
      received: received.map(({ from, port, kind, bytes, json }) => ({ from, port, kind, bytes, json })),
    })
  say('Leaving multicast group')
}

function multicastOptions(cmd: Command): Command {
  return cmd
    .option('--group <addr>', 'multicast group (224.0.0.0-239.255.255.255)', DEFAULT_GROUP)
    .option('--port <port>', 'UDP port', intOption('--port', 1, 65535), DEFAULT_PORT)
    .option('--interface <addr>', 'address of the interface to use', LOOPBACK_INTERFACE)
}

export function registerMessagingCommands(program: Command): void {
  const send = program
    .command('send')
    .description('send a message through a running cluster: unicast, broadcast or multicast')
  send
    .command('unicast <message>')
    .description('reliable one-to-one delivery (acknowledged, retransmitted, in order); prints the RTT')
    .requiredOption('--from <node>', 'sending node')
    .requiredOption('--to <node>', 'receiving node')
    .option('--transport <kind>', 'udp or tcp', transportOption, 'udp')
    .option('--timeout <ms>', 'give up after this many ms', intOption('--timeout', 1, 600_000), 30_000)
    .option('--json', 'print {delivered, from, to, seq, rttMs, attempts, transport}')
    .action((message: string, o: SendUnicastOptions, cmd: Command) => sendUnicast(cmd, message, o))
  send
    .command('broadcast <message>')
    .description(
      'deliver a message to every node once (flood, gossip, tree or ip); shows who got it and the frames it took',
    )
    .addHelpText(
      'after',
      '\nFrames are counted per node once the broadcast has settled (up to 3 s\n' +
        'after the last delivery):\n' +
        '  payload  frames that carried the message (eager pushes, repair copies,\n' +
        '           the ip datagram)\n' +
        '  control  frames that only named it (ihave, graft, got receipts, prune)\n' +
        'redundancy = max(0, payload / (nodes reached - 1) - 1): extra copies per\n' +
        'node, as bench broadcast counts it.\n',
    )
    .requiredOption('--from <node>', 'node that broadcasts')
    .option('--strategy <name>', `one of ${STRATEGIES.join(', ')}`, strategyOption, 'tree')
    .option('--durable', 'acknowledge only once a second node holds the message')
    .option(
      '--wait <ms>',
      'how long to follow the message to every node',
      intOption('--wait', 0, 600_000),
      5000,
    )
    .option(
      '--json',
      'print {acknowledged, id, from, strategy, deliveredTo: [{node, hops, latencyMs, framesSent}], missing, unreachable, frames: {payload, control, total, byType}, redundancy}',
    )
    .action((message: string, o: SendBroadcastOptions, cmd: Command) => sendBroadcast(cmd, message, o))

  send
    .command('multicast <message>')
    .description('deliver a message once to every current member of a named group (overlay, no IP multicast)')
    .requiredOption('--from <node>', 'sending node')
    .requiredOption('--group <name>', 'group name')
    .option(
      '--timeout <ms>',
      'give up on a member after this many ms',
      intOption('--timeout', 1, 600_000),
      10_000,
    )
    .option('--json', 'print {group, from, members, delivered, failed, elapsedMs}')
    .action((message: string, o, cmd: Command) => sendMulticast(cmd, message, o))

  const group = program.command('group').description('named groups of overlay multicast')
  for (const action of ['join', 'leave'] as const)
    group
      .command(`${action} <node> <group>`)
      .description(
        `${action === 'join' ? 'add a node to' : 'remove a node from'} a group; waits until every node sees it`,
      )
      .option(
        '--wait <ms>',
        'how long to wait for every node to see the change',
        intOption('--wait', 0),
        5000,
      )
      .option('--json', 'print {node, groups, group, action, seenBy, answering}')
      .action((node: string, name: string, o, cmd: Command) => groupChange(cmd, action, node, name, o))
  group
    .command('list')
    .description('groups and their members, as one node sees them')
    .option('--from <node>', 'node to ask', 'master')
    .option('--json', 'print {node, mine, groups}')
    .action((o, cmd: Command) => groupList(cmd, o))

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
    .option('--port <port>', 'TCP port', intOption('--port', 0, 65535), DEFAULT_SERVE_PORT)
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
    .option('--requests <n>', 'number of requests', intOption('--requests', 1, 10_000_000), 3)
    .option('--policy <name>', `one of ${POLICIES.join(', ')}`, policyOption, 'random')
    .option('--concurrency <n>', 'requests in flight at once', intOption('--concurrency', 1, 1000), 1)
    .option(
      '--interval <ms>',
      'pause between requests of one worker',
      intOption('--interval', 0, 3_600_000),
      0,
    )
    .option('--json', 'print {policy, requests, answered, lost, failovers, latencyMs, replicas}')
    .action((o: AnycastClientOptions, cmd: Command) => anycastClient(cmd, o))

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
    .option('--rate <n>', 'operations per second', numberOption('--rate', 0.1, 10_000), 100)
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
    .option('--messages <n>', 'messages to send', intOption('--messages', 1, 1000), 300)
    .option('--concurrency <n>', 'messages in flight', intOption('--concurrency', 1, 1000), 20)
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
    .option('--members <n>', 'group size', intOption('--members', 1, 1000), 4)
    .option('--messages <n>', 'messages to send', intOption('--messages', 1, 1000), 200)
    .option('--concurrency <n>', 'messages in flight', intOption('--concurrency', 1, 1000), 10)
    .option('--ip-group <addr>', 'IP multicast group of the bench', '239.255.30.1')
    .option('--ip-port <port>', 'IP multicast port of the bench', intOption('--ip-port', 1, 65535), 15009)
    .action((o) => benchMulticast(o))
  benchCluster(
    bench
      .command('anycast')
      .description(
        "requests to every node's anycast replica; kills replicas half way; reports lost and failovers",
      ),
    4,
  )
    .option('--requests <n>', 'requests to send', intOption('--requests', 1, 1_000_000), 400)
    .option('--concurrency <n>', 'requests in flight', intOption('--concurrency', 1, 1000), 4)
    .option('--policy <name>', `one of ${POLICIES.join(', ')}`, policyOption, 'random')
    .option('--kill <n>', 'replicas to kill half way', intOption('--kill', 0, 1000), 1)
    .action((o) => benchAnycast(o))

  const multicast = program
    .command('multicast')
    .description('IP multicast as in seed 001: plain JSON and binary datagrams to a group')
  multicastOptions(
    multicast
      .command('send')
      .description(`send ${SEED_JSON_PAYLOAD} and a binary blob to the group, --count times`),
  )
    .option('--ttl <n>', 'multicast TTL (hops)', intOption('--ttl', 0, 255), DEFAULT_TTL)
    .option('--count <n>', 'rounds of JSON + binary', intOption('--count', 1, 1_000_000), 1)
    .option('--interval <ms>', 'pause between rounds', intOption('--interval', 0, 3_600_000), 1000)
    .option('--json', 'print {group, port, ttl, datagrams, bytes} instead of the seed lines')
    .action((o) => multicastSend(o))
  multicastOptions(
    multicast
      .command('recv')
      .description('join the group and print every datagram (JSON or binary) until --duration ends or Ctrl-C')
      .addHelpText(
        'after',
        "\nWithout --interface, recv joins on loopback and on the default route's\n" +
          'interface (receiving only), so a sender that does not set IP_MULTICAST_IF\n' +
          'is heard; it prints the interfaces it joined on.\n',
      ),
  )
    .option('--duration <s>', 'seconds to listen (0: until interrupted)', numberOption('--duration', 0), 0)
    .option('--count <n>', 'stop after n datagrams (0: no limit)', intOption('--count', 0), 0)
    .option('--json', 'print {group, port, json, binary, bytes, received} at the end')
    .action((o, cmd: Command) => multicastRecv(o, cmd))
}
