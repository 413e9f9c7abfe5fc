// distlab's relays for foreign programs. For every port an instance b listens on (found in
// /proc/<pid>/net/{tcp,udp} of its namespace), one relay socket listens on the relay host, and a DNAT
// rule in every other instance a's namespace sends what a sends to b:port there instead. DNAT keeps
// a's address as the source, so one relay per (b, port) tells the senders apart, and applies a's
// rule for b (the same LinkTable rules as distlab's own nodes) before forwarding to b:
//   UDP, per datagram: partition, drop-every, loss, corruption (a byte flipped), duplication,
//     delay with jitter, reordering, bandwidth; answers go back through b's rule for a.
//   TCP, per chunk of the stream (tcp-stream.ts): delay with jitter and bandwidth (order kept); loss
//     and corruption as TCP lives them, a retransmission timeout added to the segment (the bytes
//     still arrive); partition refuses new connections with a reset and cuts the open ones.
// Traffic to ports not relayed (and multicast) goes straight, but a partition drops it too, by a
// filter rule in the sender's namespace. A UDP flow a started before the relay for its destination
// existed is moved onto it when a's rule comes (conntrack.ts). Every byte a relay forwards is
// decoded (observe.ts) into telemetry: a send at a, a receive at b, or a drop with its reason.
import { createServer, connect, type Server, type Socket } from 'node:net'
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram'
import { restoreRules, listeningPorts, type ListeningPort } from './netns.js'
import { SourceSocket, sourceRules, type SourceOwner } from './source.js'
import { UdpFlowMover, type NamespaceTarget, type UdpMove } from './conntrack.js'
import { boundedWait } from './bounded.js'
import { observeDatagram, type ObservedMessage } from './observe.js'
import { TcpDirection, type TcpHooks } from './tcp-stream.js'
import type { ForeignLinks } from './links.js'
import type { TelemetryEvent } from '../core/telemetry.js'
import { NO_RULE, type LinkRule } from '../link/emulator.js'
import { EventBatcher } from './event-batch.js'

export interface RelayInstance {
  name: string
  ip: string
  /** A process in the instance's namespace (for its listening ports and, in docker, for nsenter). */
  pid?: number
  netns?: string
  /** The host address a relay binds to speak as this instance (source.ts); none in docker mode. */
  alias?: string
}

export interface RelayHubInit {
  /** Where relay sockets listen: the bridge's (or docker network gateway's) address. */
  relayHost: string
  links: ForeignLinks
  sink: (events: TelemetryEvent[]) => void
  /** How often listening ports are looked for, ms. @default 500 */
  scanIntervalMs?: number
  /**
   * Whether `conntrack` works here, so that a UDP flow older than its relay is moved onto it
   * (conntrack.ts); without it such a flow goes straight until its conntrack entry expires.
   * @default false
   */
  conntrack?: boolean
  random?: () => number
}

const UDP_MAX_SESSIONS = 1024
/** Datagrams a relay holds while flows move onto it (conntrack.ts); more are forwarded at once. */
const MAX_HELD_DATAGRAMS = 256
const UDP_SESSION_IDLE_MS = 120_000
const MAX_PORTS_PER_INSTANCE = 16
const MAX_SOURCE_SOCKETS = 4096
/** How long a relay's stop waits for its listening socket to close after cutting every connection. */
const RELAY_CLOSE_MS = 2000

interface PathStats {
  from: string
  to: string
  proto: 'tcp' | 'udp'
  port: number
  messages: number
  bytes: number
  dropped: number
}

export class RelayHub {
  private readonly instances = new Map<string, RelayInstance>()
  private readonly byIp = new Map<string, string>()
  private readonly relays = new Map<string, PortRelay>()
  /** Per instance: its namespace's key, whether the chains exist, the rules and the UDP relays they DNAT to. */
  private readonly applied = new Map<string, AppliedRules>()
  private readonly stats_ = new Map<string, PathStats>()
  /** UDP sockets speaking for (instance, source port), by `alias:port`. */
  private readonly sources = new Map<string, SourceSocket>()
  private timer?: ReturnType<typeof setInterval>
  private sweep?: ReturnType<typeof setInterval>
  private readonly batch: EventBatcher
  private syncing?: Promise<void>
  private readonly mover?: UdpFlowMover
  private dirty = false
  private stopped = false
  readonly random: () => number

  constructor(readonly init: RelayHubInit) {
    this.batch = new EventBatcher(init.sink)
    this.random = init.random ?? Math.random
    if (init.conntrack) this.mover = new UdpFlowMover()
    this.timer = setInterval(() => void this.scan(), init.scanIntervalMs ?? 500)
    this.timer.unref?.()
    this.sweep = setInterval(() => {
      const now = Date.now()
      for (const [k, s] of this.sources)
        if (now - s.last > UDP_SESSION_IDLE_MS) {
          s.close()
          this.sources.delete(k)
        }
    }, 10_000)
    this.sweep.unref?.()
  }

  get links(): ForeignLinks {
    return this.init.links
  }

  /** Adds an instance, or updates it after a restart (new pid: its rules are put back). */
  addInstance(inst: RelayInstance): void {
    this.instances.set(inst.name, inst)
    this.byIp.set(inst.ip, inst.name)
    void this.scan()
  }

  /**
   * Registers an instance before its program starts (no pid yet) and waits until its namespace
   * holds the rules for every relay so far, so that its first datagrams already take the relays.
   * It looks for new listening ports first: a port the others bound since the last scan (a UDP port
   * bound just after the TCP port that made its program ready) gets its relay and rule now.
   */
  async prepare(inst: RelayInstance): Promise<void> {
    this.instances.set(inst.name, inst)
    this.byIp.set(inst.ip, inst.name)
    this.dirty = true
    await this.scan()
  }

  /** The alias a relay binds to speak as the instance at `ip`, if it has one. */
  aliasOf(name: string): string | undefined {
    return this.instances.get(name)?.alias
  }

  /** The socket speaking for `owner` (created on first use), whose answers go to the relay of their source. */
  sourceSocket(alias: string, owner: SourceOwner): SourceSocket {
    const key = `${alias}:${owner.port}`
    let s = this.sources.get(key)
    if (s) return s
    if (this.sources.size >= MAX_SOURCE_SOCKETS) {
      const oldest = this.sources.keys().next().value as string
      this.sources.get(oldest)?.close()
      this.sources.delete(oldest)
    }
    s = new SourceSocket(alias, owner, (msg, from) => {
      const relay = this.relays.get(`${this.nameOf(from.address)}/udp/${from.port}`)
      relay?.answer(msg, owner)
    })
    this.sources.set(key, s)
    return s
  }

  nameOf(ip: string | undefined): string {
    if (!ip) return '?'
    const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip
    return this.byIp.get(v4) ?? v4
  }

  instance(name: string): RelayInstance | undefined {
    return this.instances.get(name)
  }

  /** Finds new listening ports and brings every namespace's rules up to date. */
  private async scan(): Promise<void> {
    if (this.stopped) return
    for (const b of this.instances.values()) {
      if (!b.pid) continue
      const ports = listeningPorts(b.pid, MAX_PORTS_PER_INSTANCE)
      for (const p of ports) {
        const key = relayKey(b.name, p)
        if (this.relays.has(key)) continue
        const relay = new PortRelay(this, b.name, p)
        this.relays.set(key, relay)
        try {
          await relay.start()
        } catch {
          this.relays.delete(key)
          continue
        }
        this.dirty = true
      }
    }
    await this.sync()
  }

  applyPartition(): void {
    this.dirty = true
    void this.sync()
  }

  /** Rewrites the DISTLAB chains of every namespace whose rules changed (one iptables-restore each). */
  private async sync(): Promise<void> {
    if (this.syncing) {
      this.dirty = true
      return this.syncing
    }
    this.syncing = (async () => {
      do {
        this.dirty = false
        // Flows to move onto relays whose rules came in this pass: looked for once every namespace has them.
        const moves: UdpMove[] = []
        for (const a of [...this.instances.values()]) {
          if (this.stopped) return
          const target = nsTarget(a)
          if (!target) continue
          const nsKey = a.netns ?? `pid:${a.pid}`
          const script = this.rulesFor(a)
          const prev = this.applied.get(a.name)
          const rules = script.nat + script.filter
          if (prev && prev.key === nsKey && prev.script === rules) continue
          const chains = prev?.key === nsKey && prev.chains
          const full =
            `*nat\n:DISTLAB - [0:0]\n:DISTLABIN - [0:0]\n${chains ? '' : '-A OUTPUT -j DISTLAB\n-A INPUT -j DISTLABIN\n'}${script.nat}COMMIT\n` +
            `*filter\n:DISTLAB - [0:0]\n${chains ? '' : '-A OUTPUT -j DISTLAB\n'}${script.filter}COMMIT\n`
          try {
            await restoreRules(target, full)
            this.applied.set(a.name, { key: nsKey, chains: true, script: rules, udp: script.udp })
          } catch {
            // the instance's namespace went away (a container being restarted): next scan retries
            continue
          }
          // A namespace with no program yet has no flow to move (prepare()).
          const before = prev?.key === nsKey ? prev.udp : new Set<PortRelay>()
          const added = [...script.udp].filter((r) => !before.has(r))
          if (this.mover && a.pid) moves.push(...this.movesTo(a, target, added))
        }
        if (moves.length > 0) await this.mover?.move(moves)
      } while (this.dirty && !this.stopped)
    })().finally(() => (this.syncing = undefined))
    return this.syncing
  }

  /** a's UDP flows that may need moving to the relays of `added`, whose rules a's namespace just got (conntrack.ts). */
  private movesTo(a: RelayInstance, target: NamespaceTarget, added: PortRelay[]): UdpMove[] {
    const moves: UdpMove[] = []
    for (const relay of added) {
      const b = this.instances.get(relay.target)
      const bTarget = b && nsTarget(b)
      if (bTarget) moves.push({ a: target, aIp: a.ip, b: bTarget, bIp: b.ip, port: relay.dport, relay })
    }
    return moves
  }

  private rulesFor(a: RelayInstance): { nat: string; filter: string; udp: Set<PortRelay> } {
    let nat = ''
    let filter = ''
    const udp = new Set<PortRelay>()
    for (const relay of this.relays.values()) {
      if (relay.target === a.name || !relay.port) continue
      const b = this.instances.get(relay.target)
      if (!b) continue
      nat += `-A DISTLAB -d ${b.ip}/32 -p ${relay.proto} --dport ${relay.dport} -j DNAT --to-destination ${this.init.relayHost}:${relay.port}\n`
      if (relay.proto === 'udp') udp.add(relay)
    }
    for (const b of this.instances.values())
      if (b.name !== a.name && this.links.partitioned(a.name, b.name))
        filter += `-A DISTLAB -d ${b.ip}/32 -j DROP\n`
    nat += sourceRules(a.name, this.instances.values())
    return { nat, filter, udp }
  }

  /** Counts a path's traffic and queues its telemetry. */
  record(e: Omit<TelemetryEvent, 'transport'> & { transport: 'tcp' | 'udp' }, port: number): void {
    const key = `${e.src}>${e.dst}/${e.transport}/${port}`
    let s = this.stats_.get(key)
    if (!s && this.stats_.size < 65_536) {
      s = { from: e.src, to: e.dst, proto: e.transport, port, messages: 0, bytes: 0, dropped: 0 }
      this.stats_.set(key, s)
    }
    if (s) {
      if (e.kind === 'send') {
        s.messages++
        s.bytes += e.bytes
      } else if (e.kind === 'drop') s.dropped++
    }
    this.batch.push(e)
  }

  stats(): PathStats[] {
    return [...this.stats_.values()].map((s) => ({ ...s }))
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    if (this.sweep) clearInterval(this.sweep)
    await this.syncing?.catch(() => {})
    await this.mover?.stop()
    await Promise.all([...this.relays.values()].map((r) => r.stop()))
    this.relays.clear()
    for (const s of this.sources.values()) s.close()
    this.sources.clear()
    this.batch.flush()
  }
}

const relayKey = (name: string, p: ListeningPort) => `${name}/${p.proto}/${p.port}`
const nsTarget = (i: RelayInstance): NamespaceTarget | undefined =>
  i.netns ? { netns: i.netns } : i.pid ? { pid: i.pid } : undefined

interface AppliedRules {
  key: string
  chains: boolean
  script: string
  udp: ReadonlySet<PortRelay>
}

let nextMsg = 0
const msgId = () => `relay-${process.pid}-${++nextMsg}`

/** The relay of one port of one instance (b): every other instance's traffic to b:dport comes here. */
class PortRelay {
  readonly proto: 'tcp' | 'udp'
  readonly dport: number
  /** The relay's own port on the relay host, once listening. */
  port = 0
  private server?: Server
  private udp?: UdpSocket
  private readonly sockets = new Set<Socket>()
  private readonly sessions = new Map<string, UdpSession>()
  private sweep?: ReturnType<typeof setInterval>
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private stopped = false
  /** What arrived while flows moved onto this relay (conntrack.ts), with how many moves are under way. */
  private held?: Array<[Buffer, RemoteInfo]>
  private holds = 0

  constructor(
    private readonly hub: RelayHub,
    readonly target: string,
    p: ListeningPort,
  ) {
    this.proto = p.proto
    this.dport = p.port
  }

  private get targetIp(): string {
    return this.hub.instance(this.target)?.ip ?? '0.0.0.0'
  }

  async start(): Promise<void> {
    const host = this.hub.init.relayHost
    if (this.proto === 'tcp') {
      // Half-open kept: a peer's FIN is forwarded when the bytes ahead of it are, not answered at once.
      const server = createServer({ allowHalfOpen: true }, (sock) => this.accept(sock))
      server.on('error', () => {})
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, host, () => resolve())
      })
      this.server = server
      this.port = (server.address() as { port: number }).port
      return
    }
    const sock = createSocket('udp4')
    sock.on('message', (msg, rinfo) => this.datagram(msg, rinfo))
    sock.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.bind(0, host, () => resolve())
    })
    this.udp = sock
    this.port = sock.address().port
    this.sweep = setInterval(() => {
      const now = Date.now()
      for (const [k, s] of this.sessions)
        if (now - s.last > UDP_SESSION_IDLE_MS) {
          s.up.close()
          this.sessions.delete(k)
        }
    }, 10_000)
    this.sweep.unref?.()
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn()
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
  }

  private delayOf(rule: LinkRule): number {
    const r = this.hub.random
    let d = rule.delayMs + (rule.jitterMs > 0 ? (r() * 2 - 1) * rule.jitterMs : 0)
    if (rule.reorder > 0 && r() < rule.reorder) d += Math.max(2 * rule.jitterMs, rule.delayMs, 20)
    return Math.max(0, d)
  }

  private drop(from: string, to: string, reason: string, m: ObservedMessage): void {
    this.hub.record(
      {
        ts: Date.now(),
        node: from,
        proto: m.proto,
        kind: 'drop',
        msgId: m.msgId ?? msgId(),
        src: from,
        dst: to,
        bytes: m.bytes,
        transport: this.proto,
        reason,
        type: m.type,
      },
      this.dport,
    )
  }

  private delivered(from: string, to: string, m: ObservedMessage, sentAt: number): void {
    const id = m.msgId ?? msgId()
    const common = {
      proto: m.proto,
      msgId: id,
      src: from,
      dst: to,
      bytes: m.bytes,
      transport: this.proto,
      type: m.type,
    }
    this.hub.record({ ...common, ts: sentAt, node: from, kind: 'send' }, this.dport)
    this.hub.record({ ...common, ts: Date.now(), node: to, kind: 'recv' }, this.dport)
  }

  // ---- UDP ----

  /** Holds what senders send until release(): flows are moving onto this relay (conntrack.ts). */
  hold(): void {
    this.holds++
    this.held ??= []
  }

  release(): void {
    if (--this.holds > 0) return
    const held = this.held ?? []
    this.held = undefined
    if (!this.stopped) for (const [msg, rinfo] of held) this.datagram(msg, rinfo)
  }

  private datagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.held && this.held.length < MAX_HELD_DATAGRAMS) return void this.held.push([msg, rinfo])
    const a = this.hub.nameOf(rinfo.address)
    const alias = this.hub.aliasOf(a)
    if (alias) {
      // Speak as a: b sees a's address and port (source.ts); its answers come back through answer().
      const src = this.hub.sourceSocket(alias, { name: a, addr: rinfo.address, port: rinfo.port })
      return this.forwardDatagram(a, this.target, msg, (buf) => src.send(buf, this.dport, this.targetIp))
    }
    const key = `${rinfo.address}:${rinfo.port}`
    let s = this.sessions.get(key)
    if (!s) {
      if (this.sessions.size >= UDP_MAX_SESSIONS) {
        const oldest = this.sessions.keys().next().value as string
        this.sessions.get(oldest)?.up.close()
        this.sessions.delete(oldest)
      }
      const up = createSocket('udp4')
      up.on('error', () => {})
      const session: UdpSession = { up, last: Date.now(), addr: rinfo.address, port: rinfo.port, from: a }
      // b's answers to a go back through b's rule for a, out of the relay socket a wrote to.
      up.on('message', (reply) => {
        session.last = Date.now()
        this.forwardDatagram(this.target, a, reply, (buf) => this.udp?.send(buf, session.port, session.addr))
      })
      up.bind(0, this.hub.init.relayHost)
      s = session
      this.sessions.set(key, s)
    }
    s.last = Date.now()
    const up = s.up
    this.forwardDatagram(a, this.target, msg, (buf) => up.send(buf, this.dport, this.targetIp))
  }

  /** b's answer to a, which reached the socket speaking for a: back to a through b's rule for a. */
  answer(reply: Buffer, to: SourceOwner): void {
    this.forwardDatagram(this.target, to.name, reply, (buf) => this.udp?.send(buf, to.port, to.addr))
  }

  private forwardDatagram(from: string, to: string, msg: Buffer, send: (b: Buffer) => void): void {
    const seen = observeDatagram(msg, this.targetIp)
    const sentAt = Date.now()
    if (this.hub.links.partitioned(from, to)) return this.drop(from, to, 'partition', seen)
    const rule = this.hub.links.ruleFor(from, to)
    if (rule === NO_RULE) {
      safeSend(send, msg)
      return this.delivered(from, to, seen, sentAt)
    }
    const table = this.hub.links.tableOf(from)
    const r = this.hub.random
    if (rule.dropEvery > 0 && table?.countAndCheckDropEvery(to, rule.dropEvery))
      return this.drop(from, to, 'drop_every', seen)
    if (rule.loss > 0 && r() < rule.loss) return this.drop(from, to, 'loss', seen)
    let payload = msg
    let type = seen.type
    if (rule.corrupt > 0 && r() < rule.corrupt && msg.length > 0) {
      payload = Buffer.from(msg)
      const i = Math.floor(r() * payload.length)
      payload[i] = payload[i]! ^ (1 << Math.floor(r() * 8))
      type = `${seen.type} (corrupted)`
    }
    const rateDelay = table ? table.rateDelay(to, sentAt, msg.length + 28, rule.rateBps) : 0
    const copies = rule.duplicate > 0 && r() < rule.duplicate ? 2 : 1
    for (let i = 0; i < copies; i++)
      this.later(rateDelay + this.delayOf(rule), () => {
        safeSend(send, payload)
        this.delivered(from, to, { ...seen, type: i === 1 ? `${type} (duplicate)` : type }, sentAt)
      })
  }

  // ---- TCP ----

  private accept(down: Socket): void {
    down.on('error', () => {})
    if (this.stopped) return void down.destroy()
    const a = this.hub.nameOf(down.remoteAddress)
    const b = this.target
    const connectMsg: ObservedMessage = { proto: 'tcp', type: 'connect', bytes: 0 }
    if (this.hub.links.partitioned(a, b)) {
      this.drop(a, b, 'partition', connectMsg)
      down.resetAndDestroy()
      return
    }
    const up = connect({
      allowHalfOpen: true,
      host: this.targetIp,
      port: this.dport,
      localAddress: this.hub.aliasOf(a) ?? this.hub.init.relayHost,
    })
    up.on('error', () => {})
    this.sockets.add(down)
    this.sockets.add(up)
    let cut = false
    const cutBoth = () => {
      if (cut) return
      cut = true
      down.resetAndDestroy()
      up.resetAndDestroy()
    }
    // Each socket leaves the set on its own close: with half-close kept, one side can be done while
    // the other still waits for its FIN, and stop() must still find and end that one.
    down.once('close', () => this.sockets.delete(down))
    up.once('close', () => this.sockets.delete(up))
    up.once('error', () => down.resetAndDestroy())
    down.once('error', () => up.resetAndDestroy())
    new TcpDirection(this.tcpHooks(), down, up, a, b, cutBoth)
    new TcpDirection(this.tcpHooks(), up, down, b, a, cutBoth)
  }

  /** Used by TcpDirection (tcp-stream.ts). */
  tcpHooks(): TcpHooks {
    return {
      hub: this.hub,
      later: (ms: number, fn: () => void) => this.later(ms, fn),
      drop: (f: string, t: string, reason: string, m: ObservedMessage) => this.drop(f, t, reason, m),
      delivered: (f: string, t: string, m: ObservedMessage, at: number) => this.delivered(f, t, m, at),
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    if (this.sweep) clearInterval(this.sweep)
    for (const s of this.sessions.values()) s.up.close()
    this.sessions.clear()
    if (this.udp) this.udp.close()
    if (!this.server) return
    const server = this.server
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    await boundedWait(closed, RELAY_CLOSE_MS)
  }
}

interface UdpSession {
  up: UdpSocket
  last: number
  addr: string
  port: number
  from: string
}

function safeSend(send: (b: Buffer) => void, b: Buffer): void {
  try {
    send(b)
  } catch {
    // the socket closed meanwhile
  }
}
