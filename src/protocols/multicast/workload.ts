// Multicast measured two ways side by side: overlay group multicast through the nodes' HTTP API
// (messages to a named group from random nodes, checked for exactly-once delivery to members
// only) and IP multicast datagrams to in-process receivers joined on loopback.
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger } from '../../core/options.js'
import type { LinkRuleInit } from '../../link/emulator.js'
import type { UnicastStats } from '../unicast/unicast.js'
import type { GroupDelivery, GroupSendResult } from './groups.js'
import { IpMulticastReceiver, IpMulticastSender } from './ip.js'
import {
  callApi as call,
  quantiles,
  runConcurrently,
  type WorkloadNode,
  sleep,
  type Quantiles,
} from '../workload.js'

export interface MulticastWorkloadInit {
  /** With their bearer token on a keyed cluster (WorkloadNode.authorization). */
  nodes: WorkloadNode[]
  members: number
  messages: number
  concurrency: number
  link: LinkRuleInit
  /** IP multicast side: group and port (not the seed's, so a running demo is undisturbed). */
  ipGroup: string
  ipPort: number
}

export interface MulticastFigures {
  messages: number
  /** Frames (or datagrams) over messages. */
  msgsPerOp: number
  bytesPerOp: number
  lost: number
  duplicates: number
  /** Deliveries to nodes outside the group. */
  strays: number
  deliveryRatio: number
  latencyMs: Quantiles
}

export interface MulticastWorkloadReport {
  nodes: number
  members: number
  link: LinkRuleInit
  overlay: MulticastFigures
  ip: MulticastFigures
}

const r3 = (v: number) => Math.round(v * 1000) / 1000

export async function runMulticastWorkload(init: MulticastWorkloadInit): Promise<MulticastWorkloadReport> {
  const nodes = init.nodes.filter((n) => n.name !== 'master')
  const k = checkInteger('members', init.members, 1, nodes.length)
  const messages = checkInteger('messages', init.messages, 1, 1000)
  if (nodes.length < 2)
    throw new InvalidArgumentError('the multicast workload needs at least two nodes', 'nodes')
  const group = `bench-${Date.now().toString(36)}`
  const members = nodes.slice(0, k)
  await joinGroup(nodes, members, group)
  const overlay = await overlayFigures(init, nodes, members, group, messages)
  for (const m of members) await call(m, 'POST', '/groups/leave', { group })
  const ip = await ipFigures(init, k, messages)
  return { nodes: nodes.length, members: k, link: init.link, overlay, ip }
}

/** Joins `members` to the group and waits (up to a minute) until every node sees them all. */
async function joinGroup(nodes: WorkloadNode[], members: WorkloadNode[], group: string): Promise<void> {
  for (const m of members) await call(m, 'POST', '/groups/join', { group })
  const want = members
    .map((m) => m.name)
    .sort()
    .join()
  for (let t = 0; t < 600; t++) {
    const views = await Promise.all(
      nodes.map((n) => call<{ groups: Record<string, string[]> }>(n, 'GET', '/groups')),
    )
    if (views.every((v) => (v.groups[group] ?? []).join() === want)) break
    await sleep(100)
  }
}

/** Overlay group multicast through the nodes' API: messages from random nodes, over the lossy links. */
async function overlayFigures(
  init: MulticastWorkloadInit,
  nodes: WorkloadNode[],
  members: WorkloadNode[],
  group: string,
  messages: number,
): Promise<MulticastFigures> {
  const k = members.length
  const statsOf = () =>
    Promise.all(nodes.map((n) => call<{ channel: UnicastStats }>(n, 'GET', '/multicast/stats')))
  await Promise.all(nodes.map((n) => call(n, 'PUT', '/link', { peer: '*', ...init.link })))
  const before = await statsOf()
  const results: GroupSendResult[] = []
  await runConcurrently(messages, init.concurrency, async (i) => {
    const from = nodes[Math.floor(Math.random() * nodes.length)]!
    try {
      results.push(await call<GroupSendResult>(from, 'POST', '/multicast', { group, msg: { i } }))
    } catch {
      // counted as lost below
    }
  })
  await Promise.all(nodes.map((n) => call(n, 'POST', '/heal')))
  await sleep(300)
  const after = await statsOf()
  const { duplicates, strays, delivered } = await overlayDeliveries(nodes, members, group)
  const sum = (f: (s: UnicastStats) => number) =>
    after.reduce((t, s, i) => t + f(s.channel) - f(before[i]!.channel), 0)
  return {
    messages,
    msgsPerOp: r3(sum((s) => s.sent + s.acksSent) / messages),
    bytesPerOp: Math.round(sum((s) => s.bytesSent) / messages),
    lost: messages * k - delivered,
    duplicates,
    strays,
    deliveryRatio: r3(delivered / (messages * k)),
    latencyMs: quantiles(results.map((r) => r.elapsedMs)),
  }
}

/** Reads every node's deliveries for the group: duplicates on members, strays on the others. */
async function overlayDeliveries(nodes: WorkloadNode[], members: WorkloadNode[], group: string) {
  let duplicates = 0
  let strays = 0
  let delivered = 0
  for (const n of nodes) {
    const got = (await call<{ messages: GroupDelivery[] }>(n, 'GET', `/multicast/delivered?group=${group}`))
      .messages
    if (!members.includes(n)) {
      strays += got.length
      continue
    }
    const seen = new Set<number>()
    for (const d of got) {
      const i = (d.msg as { i: number }).i
      if (seen.has(i)) duplicates++
      seen.add(i)
    }
    delivered += seen.size
  }
  return { duplicates, strays, delivered }
}

/** IP multicast beside it: one datagram per message, k receivers. */
async function ipFigures(
  init: MulticastWorkloadInit,
  k: number,
  messages: number,
): Promise<MulticastFigures> {
  const receivers = Array.from(
    { length: k },
    () => new IpMulticastReceiver({ group: init.ipGroup, port: init.ipPort }),
  )
  const sender = new IpMulticastSender({ group: init.ipGroup, port: init.ipPort })
  const arrivals = receivers.map(() => new Map<number, number>())
  const latencies: number[] = []
  const sentAt = new Map<number, number>()
  let ipBytes = 0
  try {
    for (const [j, r] of receivers.entries()) {
      await r.start()
      r.onDatagram((d) => {
        const i = (d.json as { i?: number } | undefined)?.i
        if (typeof i !== 'number') return
        arrivals[j]!.set(i, (arrivals[j]!.get(i) ?? 0) + 1)
        if (arrivals.every((a) => a.has(i))) latencies.push(performance.now() - sentAt.get(i)!)
      })
    }
    await sender.start()
    for (let i = 0; i < messages; i++) {
      sentAt.set(i, performance.now())
      ipBytes += await sender.send(JSON.stringify({ i }))
      if (i % 50 === 49) await sleep(5)
    }
    await sleep(500)
  } finally {
    await sender.stop()
    for (const r of receivers) await r.stop()
  }
  let ipDelivered = 0
  let ipDuplicates = 0
  for (const a of arrivals)
    for (const c of a.values()) {
      ipDelivered++
      ipDuplicates += c - 1
    }
  return {
    messages,
    msgsPerOp: 1,
    bytesPerOp: Math.round(ipBytes / messages),
    lost: messages * k - ipDelivered,
    duplicates: ipDuplicates,
    strays: 0,
    deliveryRatio: r3(ipDelivered / (messages * k)),
    latencyMs: quantiles(latencies),
  }
}
