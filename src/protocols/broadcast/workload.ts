// A broadcast workload modelled on Maelstrom's broadcast workload (Fly.io's Gossip Glomers 3a-3e):
// clients send operations at a fixed rate to random live nodes, half of them broadcasting a new
// integer and half reading a node's set; faults (partitions, kills) run beside them; then a
// recovery pause and a final read on every live node. It speaks only the nodes' HTTP API, so it
// works on any cluster: in-process, child processes or containers.
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger, checkNumber } from '../../core/options.js'
import type { BroadcastDelivery, BroadcastStats, BroadcastStrategy, BroadcastTuning } from './broadcast.js'
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

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

export async function runBroadcastWorkload(init: BroadcastWorkloadInit): Promise<BroadcastWorkloadReport> {
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
  const dead = new Set<string>()
  const live = () => init.nodes.filter((n) => !dead.has(n.name))

  // Links, tuning, and a clean slate of rules.
  await Promise.all(
    init.nodes.map(async (n) => {
      await call(n, 'POST', '/heal')
      if (init.latencyMs > 0) await call(n, 'PUT', '/link', { peer: '*', delayMs: init.latencyMs })
      await call(n, 'PUT', '/broadcast/config', { ...init.tuning })
    }),
  )
  const statsOf = (n: WorkloadNode) => call<BroadcastStats>(n, 'GET', '/broadcast/stats')
  const baseline = new Map(
    await Promise.all(init.nodes.map(async (n) => [n.name, await statsOf(n)] as const)),
  )
  const lastStats = new Map(baseline)

  const acked: Array<{ value: number; id: string; ackAt: number }> = []
  let broadcasts = 0
  let reads = 0
  let failedOps = 0
  let nextValue = 0
  const inFlight = new Set<Promise<void>>()
  const started = Date.now()
  const interval = 1000 / rate
  const totalOps = Math.floor((durationMs / 1000) * rate)

  // Faults beside the workload.
  const faults: Array<Promise<void>> = []
  let stopFaults = false
  if (init.partitionEveryMs && init.partitionEveryMs > 0) {
    const every = init.partitionEveryMs
    faults.push(
      (async () => {
        for (let t = every; t < durationMs && !stopFaults; t += every) {
          await sleep(Math.max(0, started + t - Date.now()))
          if (stopFaults) break
          const names = shuffle(live().map((n) => n.name))
          const half = Math.ceil(names.length / 2)
          const groups = [names.slice(0, half), names.slice(half)]
          await Promise.all(live().map((n) => call(n, 'POST', '/partition', { groups }).catch(() => {})))
        }
      })(),
    )
  }
  if (killCount > 0 && init.kill) {
    const kill = init.kill.kill
    faults.push(
      (async () => {
        // Kills spread over the middle of the run, one at a time.
        const victims = shuffle(
          live()
            .map((n) => n.name)
            .filter((n) => n !== 'master'),
        ).slice(0, killCount)
        for (const [i, name] of victims.entries()) {
          await sleep(Math.max(0, started + (durationMs * (i + 1)) / (killCount + 2) - Date.now()))
          const n = byName.get(name)!
          const s = await statsOf(n).catch(() => undefined)
          if (s) lastStats.set(name, s)
          dead.add(name)
          await kill(name).catch(() => {})
        }
      })(),
    )
  }

  for (let i = 0; i < totalOps; i++) {
    await sleep(Math.max(0, started + i * interval - Date.now()))
    init.onProgress?.(Date.now() - started, durationMs)
    const candidates = clients.filter((c) => !dead.has(c))
    if (candidates.length === 0) break
    const target = byName.get(candidates[Math.floor(Math.random() * candidates.length)]!)!
    const isBroadcast = i % 2 === 0
    const op = (async () => {
      try {
        if (isBroadcast) {
          broadcasts++
          const value = nextValue++
          const r = await call<{ id: string }>(target, 'POST', '/broadcast', {
            msg: value,
            strategy: init.strategy,
            durable,
          })
          acked.push({ value, id: r.id, ackAt: Date.now() })
        } else {
          reads++
          await call(target, 'GET', '/broadcast/read')
        }
      } catch {
        failedOps++
      }
    })()
    inFlight.add(op)
    void op.finally(() => inFlight.delete(op))
  }
  await Promise.all(inFlight)
  stopFaults = true
  await Promise.all(faults)
  // Heal, then wait until every live node holds every acknowledged broadcast (or give up).
  await Promise.all(live().map((n) => call(n, 'POST', '/heal').catch(() => {})))
  if (init.latencyMs > 0)
    await Promise.all(
      live().map((n) => call(n, 'PUT', '/link', { peer: '*', delayMs: init.latencyMs }).catch(() => {})),
    )
  const runEnd = Date.now()
  const ackedIds = new Set(acked.map((a) => a.id))
  const finalReads = new Map<string, BroadcastDelivery[]>()
  const maxRecovery = init.maxRecoveryMs ?? 30_000
  let recoveryMs: number
  for (;;) {
    await Promise.all(
      live().map(async (n) => {
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
    const complete = live().every((n) => {
      const have = new Set(finalReads.get(n.name)!.map((m) => m.id))
      for (const id of ackedIds) if (!have.has(id)) return false
      return true
    })
    recoveryMs = Date.now() - runEnd
    if (complete || recoveryMs > maxRecovery) break
    await sleep(250)
  }
  // Let in-flight traffic settle for the message counts, then read every live node's counters.
  await sleep(Math.min(2000, init.latencyMs * 5 + 200))
  for (const n of live()) lastStats.set(n.name, await statsOf(n))

  let frames = 0
  let allFrames = 0
  let bytes = 0
  let payload = 0
  const framesByType: Record<string, number> = {}
  for (const n of init.nodes) {
    const a = baseline.get(n.name)!
    const b = lastStats.get(n.name)!
    frames += b.messagesSent - a.messagesSent
    allFrames += (b.nodeFramesSent ?? 0) - (a.nodeFramesSent ?? 0)
    bytes += b.bytesSent - a.bytesSent
    payload += b.payloadSent - a.payloadSent
    for (const [t, v] of Object.entries(b.framesSent))
      framesByType[t] = (framesByType[t] ?? 0) + v - (a.framesSent[t] ?? 0)
  }
  // The frames of the node's other protocols (membership probes and gossip, unicast acks, ...).
  framesByType['other protocols'] = Math.max(0, allFrames - frames)

  let lost = 0
  let duplicates = 0
  let deliveredPairs = 0
  const lastArrival = new Map<string, number>()
  for (const n of live()) {
    const msgs = finalReads.get(n.name) ?? []
    const seen = new Set<string>()
    for (const m of msgs) {
      if (seen.has(m.id)) duplicates++
      seen.add(m.id)
      if (ackedIds.has(m.id)) lastArrival.set(m.id, Math.max(lastArrival.get(m.id) ?? 0, m.deliveredAt))
    }
    for (const id of ackedIds) if (seen.has(id)) deliveredPairs++
  }
  for (const a of acked)
    if (!live().every((n) => (finalReads.get(n.name) ?? []).some((m) => m.id === a.id))) lost++
  const latencies = acked.flatMap((a) => {
    const t = lastArrival.get(a.id)
    return t === undefined ? [] : [Math.max(0, t - a.ackAt)]
  })
  const ops = broadcasts + reads
  const n = init.nodes.length
  const r3 = (v: number) => Math.round(v * 1000) / 1000
  return {
    strategy: init.strategy,
    nodes: n,
    rate,
    durationMs,
    linkLatencyMs: init.latencyMs,
    partition: !!init.partitionEveryMs,
    killed: [...dead],
    durable,
    tuning: init.tuning ?? {},
    ops,
    broadcasts,
    reads,
    acknowledged: acked.length,
    failedOps,
    msgsPerOp: r3(frames / Math.max(1, ops)),
    allMsgsPerOp: r3(allFrames / Math.max(1, ops)),
    msgsPerBroadcast: r3(frames / Math.max(1, broadcasts)),
    bytesPerOp: Math.round(bytes / Math.max(1, ops)),
    lost,
    duplicates,
    deliveryRatio: r3(deliveredPairs / Math.max(1, acked.length * live().length)),
    latencyMs: quantiles(latencies),
    redundancy: r3(payload / Math.max(1, broadcasts) / (n - 1) - 1),
    recoveryMs,
    framesByType,
  }
}
