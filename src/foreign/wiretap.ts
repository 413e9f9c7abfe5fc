// What the relays never see: IP multicast, broadcast, and unicast that goes straight (to a port no
// instance listened on when it was sent, or a flow that began before its relay existed). One
// tcpdump (or dumpcap) on the bridge every instance hangs off — distlab's `dlbr<block>` or the
// docker network's — writes pcap to a pipe; in promiscuous mode a Linux bridge hands its own port a
// copy of every frame it forwards, so each datagram is seen once, however many ports it goes to.
// The filter keeps what the instances send and leaves out everything to or from the relay host and
// the source aliases: that is the relayed traffic, which the relays record, so nothing is counted
// twice. Packets are decoded with the relays' decoders (observe.ts) into the same telemetry.
// Who took a group datagram off the wire is read from each instance's namespace: the groups its
// interfaces joined (/proc/<pid>/net/igmp) and, for broadcast, its UDP sockets on that port.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { CAPTURE_READY, captureArgs, findCaptureTool, type CaptureTool } from '../monitor/capture.js'
import { PcapStreamReader, type CapturedPacket } from '../monitor/pcap.js'
import type { TelemetryEvent } from '../core/telemetry.js'
import { BROADCAST_DST } from '../core/envelope.js'
import { isMulticast, observeDatagram, StreamDecoder, type ObservedMessage } from './observe.js'
import { hexToIpv4, procSockets } from './netns.js'
import { boundedWait } from './bounded.js'
import { EventBatcher } from './event-batch.js'

export interface TapInstance {
  name: string
  host: string
  pid?: number
  running: boolean
}

export interface WireTapInit {
  /** The bridge to capture on. */
  iface: string
  /** The instances' subnet (CIDR): only what they send is kept. */
  instanceNet: string
  /** Addresses and blocks the relays speak from or listen on: their traffic is the relays' to record. */
  relayHosts: string[]
  relayNets?: string[]
  instances: () => TapInstance[]
  sink: (events: TelemetryEvent[]) => void
}

const MAX_FLOWS = 1024
const MEMBERSHIP_TTL_MS = 500
/** How long start() waits for the tool to say it listens. */
const READY_MS = 5000

/** Whether a capture can run here; if not, the one line that says why. */
export function tapAvailable(): { ok: true; tool: CaptureTool; path: string } | { ok: false; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'capturing packets needs root' }
  const found = findCaptureTool()
  if (found) return { ok: true, ...found }
  return { ok: false, why: 'neither tcpdump nor dumpcap is installed (Debian: apt-get install tcpdump)' }
}

/** The BPF filter: IPv4 UDP and TCP sent by an instance, none of it to or from a relay. */
export function tapFilter(init: Pick<WireTapInit, 'instanceNet' | 'relayHosts' | 'relayNets'>): string {
  const not = [
    ...init.relayHosts.map((h) => `not host ${h}`),
    ...(init.relayNets ?? []).map((n) => `not net ${n}`),
  ]
  return ['ip', '(udp or tcp)', `src net ${init.instanceNet}`, ...not].join(' and ')
}

/** The groups the namespace of `pid` joined on an interface other than lo. */
export function joinedGroups(pid: number): Set<string> {
  const out = new Set<string>()
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/net/igmp`, 'utf8')
  } catch {
    return out
  }
  let device = ''
  for (const line of text.split('\n').slice(1)) {
    const dev = /^\d+\s+(\S+)\s*:/.exec(line)
    if (dev) {
      device = dev[1]!
      continue
    }
    const group = /^\s+([0-9A-Fa-f]{8})\s/.exec(line)
    if (group && device !== 'lo') out.add(hexToIpv4(group[1]!))
  }
  return out
}

interface Flow {
  nextSeq?: number
  decoder: StreamDecoder
  from: string
  to: string
  /** Who takes the flow's messages off the wire: `to` when it is an instance. */
  receivers: string[]
}

let nextMsg = 0
const msgId = () => `wire-${process.pid}-${++nextMsg}`

export class WireTap {
  private child?: ChildProcess
  private readonly reader = new PcapStreamReader()
  private readonly flows = new Map<string, Flow>()
  private readonly membership = new Map<string, { at: number; groups: Set<string>; udpPorts: Set<number> }>()
  private readonly batch: EventBatcher
  private stopped = false
  /** Packets seen and messages recorded (for tests and `link show`). */
  readonly counts = { packets: 0, messages: 0 }
  /** Why the capture ended early, if it did. */
  error?: string

  constructor(readonly init: WireTapInit) {
    this.batch = new EventBatcher(init.sink)
  }

  /** Whether the capture tool still runs. */
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts the tool and resolves once it captures (or rejects with its reason). */
  async start(tool: CaptureTool, path: string): Promise<void> {
    const args = captureArgs(tool, this.init.iface, '-', tapFilter(this.init))
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    child.stdout!.on('data', (chunk: Buffer) => this.bytes(chunk))
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, READY_MS) // some builds say nothing: assume it runs
      child.stderr!.setEncoding('utf8')
      child.stderr!.on('data', (d: string) => {
        stderr = (stderr + d).slice(-4000)
        if (CAPTURE_READY.test(stderr)) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('error', (err) => {
        clearTimeout(timer)
        reject(new Error(`${tool} could not start: ${err.message}`))
      })
      child.once('exit', (code, sig) => {
        clearTimeout(timer)
        this.error ??= `${tool} ended (${sig ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`
        reject(new Error(this.error))
      })
    })
  }

  private bytes(chunk: Buffer): void {
    if (this.stopped) return
    let packets: CapturedPacket[]
    try {
      packets = this.reader.push(chunk)
    } catch (err) {
      // The stream lost its step: nothing after this can be read.
      this.error = `the capture stream broke: ${(err as Error).message}`
      this.child?.kill('SIGKILL')
      return
    }
    if (packets.length === 0) return
    // Instances by address, once a chunk (not once a packet).
    const byIp = new Map(this.init.instances().map((i) => [i.host, i]))
    for (const p of packets) {
      this.counts.packets++
      try {
        if (p.protocol === 'udp') this.datagram(p, byIp)
        else this.segment(p, byIp)
      } catch {
        // one odd packet never stops the capture
      }
    }
  }

  /** The groups an instance joined and its bound UDP ports, read at most every 500 ms. */
  private memberOf(i: TapInstance): { groups: Set<string>; udpPorts: Set<number> } {
    const now = Date.now()
    const cached = this.membership.get(i.name)
    if (cached && now - cached.at < MEMBERSHIP_TTL_MS) return cached
    const entry = { at: now, groups: new Set<string>(), udpPorts: new Set<number>() }
    if (i.pid && i.running) {
      entry.groups = joinedGroups(i.pid)
      for (const s of procSockets(i.pid)) if (s.proto === 'udp') entry.udpPorts.add(s.port)
    }
    this.membership.set(i.name, entry)
    return entry
  }

  private datagram(p: CapturedPacket, byIp: ReadonlyMap<string, TapInstance>): void {
    const from = byIp.get(p.srcIp)
    if (!from) return
    const seen = observeDatagram(p.payload, p.dstIp)
    const to = byIp.get(p.dstIp)
    if (to) return this.record(p, seen, from.name, to.name, [to.name])
    const others = [...byIp.values()].filter((i) => i.name !== from.name && i.running)
    if (isMulticast(p.dstIp)) {
      const members = others.filter((i) => this.memberOf(i).groups.has(p.dstIp)).map((i) => i.name)
      return this.record(p, seen, from.name, `group:${p.dstIp}:${p.dstPort}`, members)
    }
    if (p.dstIp === '255.255.255.255' || p.dstIp.endsWith('.255')) {
      const bound = others.filter((i) => this.memberOf(i).udpPorts.has(p.dstPort)).map((i) => i.name)
      return this.record(p, seen, from.name, BROADCAST_DST, bound)
    }
    this.record(p, seen, from.name, `${p.dstIp}:${p.dstPort}`, [])
  }

  private segment(p: CapturedPacket, byIp: ReadonlyMap<string, TapInstance>): void {
    const key = `${p.srcIp}:${p.srcPort}>${p.dstIp}:${p.dstPort}`
    const SYN = 0x02
    const FIN = 0x01
    const RST = 0x04
    let flow = this.flows.get(key)
    // A bare ACK of a flow not followed (it ended, or began before the capture) carries nothing.
    if (!flow && !(p.flags & SYN) && p.payload.length === 0) return
    if (!flow || p.flags & SYN) {
      const from = byIp.get(p.srcIp)
      if (!from) return
      if (this.flows.size >= MAX_FLOWS) this.flows.delete(this.flows.keys().next().value as string)
      const to = byIp.get(p.dstIp)?.name
      flow = {
        decoder: new StreamDecoder(),
        from: from.name,
        to: to ?? `${p.dstIp}:${p.dstPort}`,
        receivers: to ? [to] : [],
      }
      this.flows.set(key, flow)
    }
    if (p.flags & SYN) flow.nextSeq = (p.seq + 1) >>> 0
    let payload = p.payload
    if (payload.length > 0) {
      flow.nextSeq ??= p.seq
      const diff = (p.seq - flow.nextSeq) | 0
      // A retransmission: only the bytes not seen yet (a gap is fed as it comes: the decoder copes).
      if (diff < 0) payload = payload.subarray(Math.min(payload.length, -diff))
      // Forward only: a retransmission of bytes already seen must not make them new again.
      if (diff + p.payload.length > 0) flow.nextSeq = (p.seq + p.payload.length) >>> 0
      if (payload.length > 0)
        for (const m of flow.decoder.push(payload)) this.record(p, m, flow.from, flow.to, flow.receivers)
    }
    if (p.flags & (FIN | RST)) {
      for (const m of flow.decoder.end()) this.record(p, m, flow.from, flow.to, flow.receivers)
      this.flows.delete(key)
    }
  }

  /** A send at `from`, and a receive at each instance that took it off the wire. */
  private record(
    p: CapturedPacket,
    m: ObservedMessage,
    from: string,
    dst: string,
    receivers: string[],
  ): void {
    const common = {
      proto: m.proto,
      msgId: m.msgId ?? msgId(),
      src: from,
      dst,
      bytes: m.bytes,
      transport: p.protocol,
      type: m.type,
    }
    const ts = Math.round(p.ts)
    this.counts.messages++
    this.batch.push({ ...common, ts, node: from, kind: 'send' })
    for (const r of receivers) this.batch.push({ ...common, ts, node: r, kind: 'recv' })
  }

  /** Stops the tool, reads what it still had, and hands the last events over. */
  async stop(): Promise<void> {
    if (this.stopped) return
    const child = this.child
    if (child && child.exitCode === null && child.signalCode === null) {
      // 'close', not 'exit': the pipe's last bytes are read by then.
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
      child.kill('SIGINT')
      await boundedWait(exited, 3000)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    this.stopped = true
    this.batch.flush()
  }
}
