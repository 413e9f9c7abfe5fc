// A unicast workload over the nodes' HTTP API: messages between random pairs of nodes through
// lossy, duplicating, reordering links, then a check that every acknowledged message was delivered
// exactly once and in order per sender.
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger } from '../../core/options.js'
import type { LinkRuleInit } from '../../link/emulator.js'
import type { UnicastDelivery, UnicastSendResult, UnicastStats } from './unicast.js'
import {
  callApi as call,
  quantiles,
  runConcurrently,
  type WorkloadNode,
  type Quantiles,
} from '../workload.js'

export type { Quantiles }

export interface UnicastWorkloadInit {
  /** With their bearer token on a keyed cluster (WorkloadNode.authorization). */
  nodes: WorkloadNode[]
  messages: number
  concurrency: number
  transport: 'udp' | 'tcp'
  /** Applied to every link of every node for the run. */
  link: LinkRuleInit
}

export interface UnicastWorkloadReport {
  nodes: number
  transport: 'udp' | 'tcp'
  link: LinkRuleInit
  messages: number
  acknowledged: number
  /** Data and acknowledgement frames over messages. */
  msgsPerOp: number
  bytesPerOp: number
  retransmissionsPerOp: number
  /** Acknowledged messages missing at their destination. */
  lost: number
  /** Messages delivered more than once. */
  duplicates: number
  /** Deliveries out of send order for their sender. */
  outOfOrder: number
  deliveryRatio: number
  /** Round-trip from send to acknowledgement, retransmissions included. */
  latencyMs: Quantiles
  durationMs: number
}

type SentMessage = { from: string; to: string; k: number; result?: UnicastSendResult }

const r3 = (v: number) => Math.round(v * 1000) / 1000

export async function runUnicastWorkload(init: UnicastWorkloadInit): Promise<UnicastWorkloadReport> {
  const nodes = init.nodes.filter((n) => n.name !== 'master')
  if (nodes.length < 2)
    throw new InvalidArgumentError('the unicast workload needs at least two nodes', 'nodes')
  const messages = checkInteger('messages', init.messages, 1, 1000)
  const concurrency = checkInteger('concurrency', init.concurrency, 1, 1000)
  const statsOf = () => Promise.all(nodes.map((n) => call<UnicastStats>(n, 'GET', '/unicast/stats')))
  const since = await Promise.all(
    nodes.map(async (n) => (await call<{ total: number }>(n, 'GET', '/unicast/delivered')).total),
  )
  await Promise.all(nodes.map((n) => call(n, 'PUT', '/link', { peer: '*', ...init.link })))
  const before = await statsOf()
  const started = Date.now()
  const sent = await sendMessages(nodes, messages, concurrency, init.transport)
  const durationMs = Date.now() - started
  await Promise.all(nodes.map((n) => call(n, 'POST', '/heal')))
  await new Promise((r) => setTimeout(r, 500))
  const after = await statsOf()
  const received = new Map<string, UnicastDelivery[]>()
  await Promise.all(
    nodes.map(async (n, i) => {
      const r = await call<{ messages: UnicastDelivery[] }>(n, 'GET', `/unicast/delivered?since=${since[i]}`)
      received.set(n.name, r.messages)
    }),
  )
  const { duplicates, outOfOrder, lost, deliveredAcked, acked } = deliveryCounts(received, sent)
  const sum = (f: (s: UnicastStats) => number) => after.reduce((t, s, i) => t + f(s) - f(before[i]!), 0)
  const frames = sum((s) => s.sent + s.acksSent)
  return {
    nodes: nodes.length,
    transport: init.transport,
    link: init.link,
    messages,
    acknowledged: acked.length,
    msgsPerOp: r3(frames / messages),
    bytesPerOp: Math.round(sum((s) => s.bytesSent) / messages),
    retransmissionsPerOp: r3(sum((s) => s.retransmissions) / messages),
    lost,
    duplicates,
    outOfOrder,
    deliveryRatio: r3(deliveredAcked / Math.max(1, messages)),
    latencyMs: quantiles(acked.map((s) => s.result!.rttMs)),
    durationMs,
  }
}

/** `concurrency` workers send `messages` messages between random pairs of nodes. */
async function sendMessages(
  nodes: WorkloadNode[],
  messages: number,
  concurrency: number,
  transport: 'udp' | 'tcp',
): Promise<SentMessage[]> {
  const sent: SentMessage[] = []
  await runConcurrently(messages, concurrency, async (k) => {
    const from = nodes[Math.floor(Math.random() * nodes.length)]!
    const others = nodes.filter((n) => n !== from)
    const to = others[Math.floor(Math.random() * others.length)]!
    const entry: SentMessage = { from: from.name, to: to.name, k }
    sent.push(entry)
    try {
      entry.result = await call<UnicastSendResult>(from, 'POST', '/unicast', {
        to: to.name,
        msg: { k },
        transport,
      })
    } catch {
      // counted as not acknowledged
    }
  })
  return sent
}

/** Duplicates, reorderings and losses, from what each node received against what was acknowledged. */
function deliveryCounts(received: Map<string, UnicastDelivery[]>, sent: SentMessage[]) {
  let duplicates = 0
  let outOfOrder = 0
  let lost = 0
  let deliveredAcked = 0
  const count = new Map<string, number>()
  for (const [to, list] of received) {
    const lastSeq = new Map<string, number>()
    for (const d of list) {
      const k = (d.msg as { k?: number } | null)?.k
      const key = `${d.from}>${to}:${k}`
      count.set(key, (count.get(key) ?? 0) + 1)
      if ((lastSeq.get(d.from) ?? -1) >= d.seq) outOfOrder++
      lastSeq.set(d.from, d.seq)
    }
  }
  for (const c of count.values()) if (c > 1) duplicates += c - 1
  const acked = sent.filter((s) => s.result?.delivered)
  for (const s of acked) {
    if (count.has(`${s.from}>${s.to}:${s.k}`)) deliveredAcked++
    else lost++
  }
  return { duplicates, outOfOrder, lost, deliveredAcked, acked }
}
