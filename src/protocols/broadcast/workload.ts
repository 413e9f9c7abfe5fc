// A broadcast workload modelled on Maelstrom's broadcast workload (Fly.io's Gossip Glomers 3a-3e):
// clients send operations at a fixed rate to random live nodes, half of them broadcasting a new
// integer and half reading a node's set; faults (partitions, kills) run beside them; then a
// recovery pause and a final read on every live node. It speaks only the nodes' HTTP API, so it
// works on any cluster: in-process, child processes or containers.
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger, checkNumber } from '../../core/options.js'
import { shuffle } from '../../core/random.js'
import type { BroadcastDelivery, BroadcastStats, BroadcastStrategy, BroadcastTuning } from './options.js'
import type { HttpMethod } from '../../client/node-client.js'
import { callApi, quantiles, sleep, type Quantiles, type WorkloadNode } from '../workload.js'

export type { Quantiles, WorkloadNode }

/** Calls during a broadcast run give up sooner than the default: a partitioned node must not stall it. */
const call = <T>(
  node: WorkloadNode,
  method: HttpMethod,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<T> => callApi<T>(node, method, path, body, timeoutMs)

export interface BroadcastWorkloadInit {
  /** Every node that takes part in broadcast (the master included). */
  nodes: WorkloadNode[]
  /** Nodes clients send operations to. @default every node but the master */
  clients?: string[]
  strategy: BroadcastStrategy
  /** Operations per second, broadcasts and reads together. */
  rate: number
  durationMs: number
  /** One-way delay set on every link before the run, in ms. */
  latencyMs: number
  /** Partition the nodes into two random halves every this many ms; healed at the end. 0: none. */
  partitionEveryMs?: number
  /** Nodes to kill during the run, one after another. */
  kill?: { count: number; kill: (name: string) => Promise<void> }
  /** Acknowledge broadcasts only once a second node holds them. @default true when killing */
  durable?: boolean
  /** Tuning applied to every node before the run (batching, ...). */
  tuning?: BroadcastTuning
  /** Longest pause after the run for the nodes to converge, in ms. @default 30000 */
  maxRecoveryMs?: number
  /** Progress, for a bar. */
  onProgress?: (doneMs: number, totalMs: number) => void
}

export interface BroadcastWorkloadReport {
  strategy: BroadcastStrategy
  nodes: number
  rate: number
  durationMs: number
  /** The one-way link delay of the run, in ms. */
  linkLatencyMs: number
  partition: boolean
  killed: string[]
  durable: boolean
  tuning: BroadcastTuning
  ops: number
  broadcasts: number
  reads: number
  acknowledged: number
  failedOps: number
  /** Node-to-node broadcast frames over operations. */
  msgsPerOp: number
  /** Every node-to-node frame of every protocol (membership too) over operations: Maelstrom's servers-only msgs-per-op. */
  allMsgsPerOp: number
  msgsPerBroadcast: number
  bytesPerOp: number
  /** Acknowledged broadcasts missing from at least one live node's final read. */
  lost: number
  /** Second deliveries of one message on one node. */
  duplicates: number
  /** (acknowledged broadcast, live node) pairs delivered, over all such pairs. */
  deliveryRatio: number
  /** From a broadcast's acknowledgement to its arrival at the last live node. */
  latencyMs: Quantiles
  /** Payload messages / (N-1) - 1, per broadcast. */
  redundancy: number
  /** Time after the run until every live node held every acknowledged broadcast. */
  recoveryMs: number
  framesByType: Record<string, number>
}

/** What the phases of one run share: the nodes, who is dead, and the counters read before and after. */
interface BroadcastRun {
  init: BroadcastWorkloadInit
  rate: number
  durationMs: number
  killCount: number
  durable: boolean
  byName: Map<string, WorkloadNode>
  clients: string[]
  dead: Set<string>
  baseline: Map<string, BroadcastStats>
  lastStats: Map<string, BroadcastStats>
  started: number
}

/** The client operations of a run and what came of them. */
interface OpTally {
  acked: Array<{ value: number; id: string; ackAt: number }>
  broadcasts: number
  reads: number
  failedOps: number
}

const live = (run: BroadcastRun): WorkloadNode[] => run.init.nodes.filter((n) => !run.dead.has(n.name))
const statsOf = (n: WorkloadNode) => call<BroadcastStats>(n, 'GET', '/broadcast/stats')
const r3 = (v: number) => Math.round(v * 1000) / 1000

export async function runBroadcastWorkload(init: BroadcastWorkloadInit): Promise<BroadcastWorkloadReport> {
  const run = await prepareRun(init)
  const faults = startFaults(run)
  const tally = await driveOps(run)
  faults.stop.value = true
  await Promise.all(faults.running)
  const ackedIds = new Set(tally.acked.map((a) => a.id))
  const { finalReads, recoveryMs } = await recover(run, ackedIds)
  // Let in-flight traffic settle for the message counts, then read every live node's counters.
  await sleep(Math.min(2000, init.latencyMs * 5 + 200))
  for (const n of live(run)) run.lastStats.set(n.name, await statsOf(n))
  return report(run, tally, finalReads, recoveryMs)
}

/** Checks the options, then sets links and tuning on every node and reads their counters. */
async function prepareRun(init: BroadcastWorkloadInit): Promise<BroadcastRun> {
  if (init.nodes.length < 2) throw new InvalidArgumentError('the workload needs at least two nodes', 'nodes')
  const rate = checkNumber('rate', init.rate, 0.1, 100_000)
  const durationMs = checkNumber('durationMs', init.durationMs, 1)
  checkNumber('latencyMs', init.latencyMs, 0, 60_000)
  const killCount = checkInteger('kill.count', init.kill?.count ?? 0, 0, init.nodes.length - 1)
  const durable = init.durable ?? killCount > 0
  const byName = new Map(init.nodes.map((n) => [n.name, n]))
  const clients = (init.clients ?? init.nodes.filter((n) => n.name !== 'master').map((n) => n.name)).filter(
    (n) => byName.has(n),
  )
  if (clients.length === 0) throw new InvalidArgumentError('no client node', 'clients')
  // Links, tuning, and a clean slate of rules.
  await Promise.all(
    init.nodes.map(async (n) => {
      await call(n, 'POST', '/heal')
      if (init.latencyMs > 0) await call(n, 'PUT', '/link', { peer: '*', delayMs: init.latencyMs })
      await call(n, 'PUT', '/broadcast/config', { ...init.tuning })
    }),
  )
  const baseline = new Map(
    await Promise.all(init.nodes.map(async (n) => [n.name, await statsOf(n)] as const)),
  )
  const lastStats = new Map(baseline)
  const dead = new Set<string>()
  return {
    init,
    rate,
    durationMs,
    killCount,
    durable,
    byName,
    clients,
    dead,
    baseline,
    lastStats,
    started: Date.now(),
  }
}

/** Partitions and kills beside the workload, until `stop.value` is set. */
function startFaults(run: BroadcastRun): { stop: { value: boolean }; running: Array<Promise<void>> } {
  const stop = { value: false }
  const running: Array<Promise<void>> = []
  const every = run.init.partitionEveryMs
  if (every && every > 0) running.push(partitionLoop(run, every, stop))
  if (run.killCount > 0 && run.init.kill) running.push(killLoop(run, run.init.kill.kill))
  return { stop, running }
}

/** Splits the live nodes into two random halves every `every` ms. */
async function partitionLoop(run: BroadcastRun, every: number, stop: { value: boolean }): Promise<void> {
  for (let t = every; t < run.durationMs && !stop.value; t += every) {
    await sleep(Math.max(0, run.started + t - Date.now()))
    if (stop.value) break
    const names = shuffle(live(run).map((n) => n.name))
    const half = Math.ceil(names.length / 2)
    const groups = [names.slice(0, half), names.slice(half)]
    await Promise.all(live(run).map((n) => call(n, 'POST', '/partition', { groups }).catch(() => {})))
  }
}

/** Kills spread over the middle of the run, one at a time. */
async function killLoop(run: BroadcastRun, kill: (name: string) => Promise<void>): Promise<void> {
  const victims = shuffle(
    live(run)
      .map((n) => n.name)
      .filter((n) => n !== 'master'),
  ).slice(0, run.killCount)
  for (const [i, name] of victims.entries()) {
    await sleep(Math.max(0, run.started + (run.durationMs * (i + 1)) / (run.killCount + 2) - Date.now()))
    const n = run.byName.get(name)!
    const s = await statsOf(n).catch(() => undefined)
    if (s) run.lastStats.set(name, s)
    run.dead.add(name)
    await kill(name).catch(() => {})
  }
}

/** Sends the operations at the fixed rate to random live clients, alternating broadcast and read. */
async function driveOps(run: BroadcastRun): Promise<OpTally> {
  const tally: OpTally = { acked: [], broadcasts: 0, reads: 0, failedOps: 0 }
  const inFlight = new Set<Promise<void>>()
  const interval = 1000 / run.rate
  const totalOps = Math.floor((run.durationMs / 1000) * run.rate)
  let nextValue = 0
  for (let i = 0; i < totalOps; i++) {
    await sleep(Math.max(0, run.started + i * interval - Date.now()))
    run.init.onProgress?.(Date.now() - run.started, run.durationMs)
    const candidates = run.clients.filter((c) => !run.dead.has(c))
    if (candidates.length === 0) break
    const target = run.byName.get(candidates[Math.floor(Math.random() * candidates.length)]!)!
    const op = i % 2 === 0 ? broadcastOp(run, target, nextValue++, tally) : readOp(target, tally)
    inFlight.add(op)
    void op.finally(() => inFlight.delete(op))
  }
  await Promise.all(inFlight)
  return tally
}

async function broadcastOp(
  run: BroadcastRun,
  target: WorkloadNode,
  value: number,
  tally: OpTally,
): Promise<void> {
  tally.broadcasts++
  try {
    const r = await call<{ id: string }>(target, 'POST', '/broadcast', {
      msg: value,
      strategy: run.init.strategy,
      durable: run.durable,
    })
    tally.acked.push({ value, id: r.id, ackAt: Date.now() })
  } catch {
    tally.failedOps++
  }
}

async function readOp(target: WorkloadNode, tally: OpTally): Promise<void> {
  tally.reads++
  try {
    await call(target, 'GET', '/broadcast/read')
  } catch {
    tally.failedOps++
  }
}

/** Heals, then reads every live node until each holds every acknowledged broadcast (or gives up). */
async function recover(
  run: BroadcastRun,
  ackedIds: Set<string>,
): Promise<{ finalReads: Map<string, BroadcastDelivery[]>; recoveryMs: number }> {
  const { latencyMs } = run.init
  await Promise.all(live(run).map((n) => call(n, 'POST', '/heal').catch(() => {})))
  if (latencyMs > 0)
    await Promise.all(
      live(run).map((n) => call(n, 'PUT', '/link', { peer: '*', delayMs: latencyMs }).catch(() => {})),
    )
  const runEnd = Date.now()
  const finalReads = new Map<string, BroadcastDelivery[]>()
  const maxRecovery = run.init.maxRecoveryMs ?? 30_000
  let recoveryMs: number
  for (;;) {
    await Promise.all(
      live(run).map(async (n) => {
        const r = await call<{ messages: BroadcastDelivery[] }>(
          n,
          'GET',
          '/broadcast/delivered',
          undefined,
          30_000,
        )
        finalReads.set(n.name, r.messages)
      }),
    )
    const complete = live(run).every((n) => {
      const have = new Set(finalReads.get(n.name)!.map((m) => m.id))
      for (const id of ackedIds) if (!have.has(id)) return false
      return true
    })
    recoveryMs = Date.now() - runEnd
    if (complete || recoveryMs > maxRecovery) break
    await sleep(250)
  }
  return { finalReads, recoveryMs }
}

/** Frames and bytes every node sent during the run, from the counters read before and after. */
function frameCounts(run: BroadcastRun) {
  let frames = 0
  let allFrames = 0
  let bytes = 0
  let payload = 0
  const framesByType: Record<string, number> = {}
  for (const n of run.init.nodes) {
    const a = run.baseline.get(n.name)!
    const b = run.lastStats.get(n.name)!
    frames += b.messagesSent - a.messagesSent
    allFrames += (b.nodeFramesSent ?? 0) - (a.nodeFramesSent ?? 0)
    bytes += b.bytesSent - a.bytesSent
    payload += b.payloadSent - a.payloadSent
    for (const [t, v] of Object.entries(b.framesSent))
      framesByType[t] = (framesByType[t] ?? 0) + v - (a.framesSent[t] ?? 0)
  }
  // The frames of the node's other protocols (membership probes and gossip, unicast acks, ...).
  framesByType['other protocols'] = Math.max(0, allFrames - frames)
  return { frames, allFrames, bytes, payload, framesByType }
}

/** Losses, duplicates, delivered pairs and latencies, from the live nodes' final reads. */
function deliveryCounts(run: BroadcastRun, tally: OpTally, finalReads: Map<string, BroadcastDelivery[]>) {
  const ackedIds = new Set(tally.acked.map((a) => a.id))
  let lost = 0
  let duplicates = 0
  let deliveredPairs = 0
  const lastArrival = new Map<string, number>()
  for (const n of live(run)) {
    const msgs = finalReads.get(n.name) ?? []
    const seen = new Set<string>()
    for (const m of msgs) {
      if (seen.has(m.id)) duplicates++
      seen.add(m.id)
      if (ackedIds.has(m.id)) lastArrival.set(m.id, Math.max(lastArrival.get(m.id) ?? 0, m.deliveredAt))
    }
    for (const id of ackedIds) if (seen.has(id)) deliveredPairs++
  }
  for (const a of tally.acked)
    if (!live(run).every((n) => (finalReads.get(n.name) ?? []).some((m) => m.id === a.id))) lost++
  const latencies = tally.acked.flatMap((a) => {
    const t = lastArrival.get(a.id)
    return t === undefined ? [] : [Math.max(0, t - a.ackAt)]
  })
  return { lost, duplicates, deliveredPairs, latencies }
}

function report(
  run: BroadcastRun,
  tally: OpTally,
  finalReads: Map<string, BroadcastDelivery[]>,
  recoveryMs: number,
): BroadcastWorkloadReport {
  const { init } = run
  const { frames, allFrames, bytes, payload, framesByType } = frameCounts(run)
  const { lost, duplicates, deliveredPairs, latencies } = deliveryCounts(run, tally, finalReads)
  const { broadcasts, reads } = tally
  const ops = broadcasts + reads
  const n = init.nodes.length
  return {
    strategy: init.strategy,
    nodes: n,
    rate: run.rate,
    durationMs: run.durationMs,
    linkLatencyMs: init.latencyMs,
    partition: !!init.partitionEveryMs,
    killed: [...run.dead],
    durable: run.durable,
    tuning: init.tuning ?? {},
    ops,
    broadcasts,
    reads,
    acknowledged: tally.acked.length,
    failedOps: tally.failedOps,
    msgsPerOp: r3(frames / Math.max(1, ops)),
    allMsgsPerOp: r3(allFrames / Math.max(1, ops)),
    msgsPerBroadcast: r3(frames / Math.max(1, broadcasts)),
    bytesPerOp: Math.round(bytes / Math.max(1, ops)),
    lost,
    duplicates,
    deliveryRatio: r3(deliveredPairs / Math.max(1, tally.acked.length * live(run).length)),
    latencyMs: quantiles(latencies),
    redundancy: r3(payload / Math.max(1, broadcasts) / (n - 1) - 1),
    recoveryMs,
    framesByType,
  }
}
