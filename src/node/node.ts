// A node: its transports (UDP and TCP frames, each behind the link emulator), its HTTP API, the
// protocols plugged into it, its membership in the cluster and its telemetry. The master is a node
// too, with the cluster registry and the telemetry collector added. Its settings (NodeInit) and their
// checks are in node-init.ts (re-exported here), its HTTP routes in http.ts, what becomes of each
// received frame (and the counters and telemetry of drops and events) in frame-ledger.ts.
import type { FastifyInstance } from 'fastify'
import { createEnvelope, type Body } from '../core/envelope.js'
import type {
  Protocol,
  ProtocolComponents,
  ProtocolFactory,
  SendOptions,
  Startable,
  Transport,
  PeerInfo,
} from '../core/interfaces.js'
import { AddressInUseError, InvalidArgumentError, UnknownPeerError, wrapSocketError } from '../core/errors.js'
import { silentLogger, named, type Logger } from '../core/logger.js'
import { systemClock, type Clock } from '../core/clock.js'
import { LinkEmulator, LinkTable } from '../link/emulator.js'
import { UdpTransport } from '../transport/udp.js'
import { TcpTransport } from '../transport/tcp.js'
import { Metrics } from './metrics.js'
import { FrameLedger } from './frame-ledger.js'
import { TelemetryEmitter, httpSink } from './telemetry.js'
import type { TelemetryCollector } from '../core/telemetry.js'
import { buildHttpApi } from './http.js'
import { AuthTransport, FrameGuard } from '../core/auth.js'
import { UrlGuard } from '../core/url-guard.js'
import {
  resolveNodeInit,
  type Member,
  type MemberRegistry,
  type NodeInit,
  type ResolvedNodeInit,
  type Role,
} from './node-init.js'
import { NodeClient } from '../client/node-client.js'
import { SharedRefresh } from './shared-refresh.js'

export { resolveNodeInit, type Member, type MemberRegistry, type NodeInit, type Role } from './node-init.js'

/**
 * How long a join or a member-list refresh waits for the master. A master of hundreds of nodes on a
 * loaded machine answers seconds late: while 100 node processes started on two cores, 10 s left a
 * quarter to half of the nodes warning that they could not reach the master, and 30 s none, in the
 * same time (side by side: 41.2 and 45.9 s against 40.8 and 42.4 s).
 */
export const MASTER_CALL_TIMEOUT_MS = 30_000
/** Shortest time between two member-list requests caused by sends to unknown names, in ms. */
export const UNKNOWN_PEER_REFRESH_MS = 1000
/** A name the master did not know is not asked about again for this long, in ms. */
export const UNKNOWN_NAME_TTL_MS = 2000
/** Unknown names remembered at most. */
export const MAX_UNKNOWN_NAMES = 1024
/**
 * Shortest time between two member-list requests caused by replies (acks, pongs) to senders this
 * node does not know, in ms. The sender's name comes from the frame, so a flood of frames from
 * invented names would otherwise cost the master a request every UNKNOWN_PEER_REFRESH_MS; a
 * genuine newcomer is found by this or by the periodic refresh (membersRefreshMs), and its
 * retransmissions are answered then.
 */
export const UNKNOWN_SENDER_REFRESH_MS = 15_000

export class Node implements Startable {
  readonly name: string
  readonly id: string
  readonly role: Role
  readonly logger: Logger
  readonly metrics: Metrics
  readonly telemetry: TelemetryEmitter
  /** The master's telemetry collector (NodeInit.collector); undefined on other nodes. */
  readonly collector?: TelemetryCollector
  readonly links: LinkTable
  readonly clock: Clock
  /** Signs and checks frames when the cluster has a key. */
  readonly guard?: FrameGuard
  /** Checks URLs handed to this node before it calls them. */
  readonly urlGuard: UrlGuard
  private readonly cfg: ResolvedNodeInit
  private readonly registry?: MemberRegistry
  private readonly udp: LinkEmulator
  private tcp: LinkEmulator
  private readonly deferTcp: boolean
  private protocolsHeld = false
  /** NodeInit.maxConnectionsPerAddress, for a TCP transport bound after start(). */
  private tcpConnectionsPerAddress: number | undefined
  private readonly protocols = new Map<string, Protocol>()
  /** Counts, records and dispatches frames; records drops and events. */
  private readonly frames: FrameLedger
  /** The other members as protocols see them; rebuilt only when membership changes (protocols ask often). */
  private peerCache?: { names: readonly string[]; infos: readonly PeerInfo[] }
  private readonly members = new Map<string, Member>()
  /** Names a refresh did not find, with when (bounded, oldest first out). */
  private readonly unknownNames = new Map<string, number>()
  /** Member-list refreshes: the periodic one, those sends to unknown names start, and POST /members/refresh's. */
  private readonly periodicRefresh = new SharedRefresh(() => this.refreshMembers(), 0)
  private readonly unknownRefresh = new SharedRefresh(() => this.refreshMembers(), UNKNOWN_PEER_REFRESH_MS)
  private readonly askedRefresh = new SharedRefresh(() => this.refreshMembers(), UNKNOWN_PEER_REFRESH_MS)
  /** When a reply to an unknown sender last asked the master (-Infinity: never). */
  private lastSenderRefresh = -Infinity
  /**
   * The master's list version. A master starts at a random number, so that a node that joined
   * an earlier master never mistakes a restarted master's list for the one it has.
   */
  private membersVersion = 0
  /**
   * Member-list requests sent to the master (joins and refreshes), and the latest of them whose
   * answer was applied. A master busy with a mass join answers late and out of order (the periodic,
   * the unknown-peer and the asked refresh can be out at once): an answer to an earlier request that
   * comes after a later one's is older news, and is dropped instead of replacing the newer list.
   */
  private listRequests = 0
  private listApplied = 0
  private joined = false
  private http?: FastifyInstance
  private refreshTimer?: ReturnType<typeof setInterval>
  private startedAt = 0
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  private httpAddress?: { host: string; port: number }

  constructor(init: NodeInit) {
    this.cfg = resolveNodeInit(init)
    if (this.cfg.role === 'master') this.membersVersion = 1 + Math.floor(Math.random() * 1e9)
    this.registry = init.registry
    this.name = this.cfg.name
    this.id = this.cfg.id
    this.role = this.cfg.role
    this.clock = init.clock ?? systemClock
    this.logger = (init.logger ?? silentLogger).child({ node: this.name })
    this.metrics = new Metrics()
    this.links = new LinkTable(this.name)
    this.telemetry = new TelemetryEmitter({ node: this.name })
    this.frames = new FrameLedger({
      name: this.name,
      metrics: this.metrics,
      telemetry: this.telemetry,
      logger: this.logger,
      protocols: this.protocols,
    })
    if (init.key) this.guard = new FrameGuard({ keyring: init.key, now: () => this.clock.now() })
    this.urlGuard = new UrlGuard({ allow: init.peerRanges, bindHost: this.cfg.host })
    const collector = init.collector
    if (collector) {
      this.collector = collector
      this.telemetry.setSink(async (batch) => collector.ingest(batch))
    }
    const udp = init.transports?.udp ?? new UdpTransport({ host: this.cfg.host, port: this.cfg.framePort })
    this.udp = this.emulate(udp)
    // With an OS-chosen port, TCP is bound after UDP so that both use the same number.
    this.deferTcp = !init.transports && this.cfg.framePort === 0
    this.tcp = this.emulate(
      init.transports?.tcp ??
        new TcpTransport({
          host: this.cfg.host,
          port: this.cfg.framePort,
          maxConnectionsPerAddress: (this.tcpConnectionsPerAddress = init.maxConnectionsPerAddress),
        }),
    )
    for (const factory of init.protocols ?? []) this.use(factory)
  }

  /** Notes that member `name` was heard from (a heartbeat): `lastSeen` in the master's list. */
  seen(name: string): void {
    const m = this.members.get(name)
    if (m) m.lastSeen = Date.now()
  }

  /** Plugs a protocol in; must be called before start(). */
  use(factory: ProtocolFactory): Protocol {
    const holder = { proto: '' }
    const p = factory(this.components(holder))
    holder.proto = p.name
    if (this.protocols.has(p.name))
      throw new InvalidArgumentError(`protocol ${p.name} is already registered`, 'protocols')
    this.protocols.set(p.name, p)
    return p
  }

  protocol<P extends Protocol = Protocol>(name: string): P | undefined {
    return this.protocols.get(name) as P | undefined
  }

  private components(holder: { proto: string }): ProtocolComponents {
    const cfg = this.cfg
    const udp = () => this.udp
    const httpAddress = () => this.httpAddress
    return {
      self: {
        name: this.name,
        id: this.id,
        bindHost: cfg.host,
        host: cfg.advertiseHost,
        get framePort() {
          return udp().address().port
        },
        get httpPort() {
          return httpAddress()?.port ?? cfg.httpPort
        },
      },
      logger: this.logger,
      clock: this.clock,
      links: this.links,
      metrics: this.metrics,
      send: (dst, type, body, options) => this.send(holder.proto, dst, type, body, options),
      peers: () => this.peerView().names,
      members: () => this.peerView().infos,
      delivered: (env) => {
        this.metrics.inc('distlab_messages_delivered_total', 'Messages delivered to the application.', {
          proto: env.proto,
        })
        this.frames.event('deliver', env, 0, 'none')
      },
      dropped: (env, reason) => {
        this.metrics.inc('distlab_messages_discarded_total', 'Messages a protocol discarded, by reason.', {
          proto: env.proto,
          reason,
        })
        this.frames.event('drop', env, 0, 'none', reason)
      },
      record: (e) => this.telemetry.record({ ts: Date.now(), node: this.name, ...e }),
      trust: {
        httpHeaders: () => this.authHeaders(),
        checkPeerUrl: (url, field) => this.urlGuard.check(url, field),
        checkPeerUrlNow: (url, field) => this.urlGuard.checkNow(url, field),
        frameAuth: this.guard,
      },
    }
  }

  /** Headers for HTTP calls to other nodes: the bearer token when the cluster has a key. */
  authHeaders(): Record<string, string> {
    return this.guard ? { authorization: this.guard.keyring.bearer() } : {}
  }

  self(): Member {
    const frame = this.udp.address()
    return {
      name: this.name,
      id: this.id,
      role: this.role,
      host: this.cfg.advertiseHost,
      httpPort: this.httpAddress?.port ?? this.cfg.httpPort,
      framePort: frame.port,
    }
  }

  get httpUrl(): string {
    const h = this.cfg.advertiseHost
    return `http://${h.includes(':') ? `[${h}]` : h}:${this.httpAddress?.port ?? this.cfg.httpPort}`
  }

  /** The address the HTTP API binds. */
  get httpHost(): string {
    return this.cfg.httpHost
  }

  get masterUrl(): string | undefined {
    return this.role === 'master' ? this.httpUrl : this.cfg.masterUrl
  }

  uptimeMs(): number {
    return this.startedAt ? Date.now() - this.startedAt : 0
  }

  status(): { name: string; id: string; role: Role; state: string; uptimeMs: number; members: number } {
    return {
      name: this.name,
      id: this.id,
      role: this.role,
      state: this.state,
      uptimeMs: this.uptimeMs(),
      members: this.members.size,
    }
  }

  async start(): Promise<void> {
    if (this.state !== 'new' && this.state !== 'stopped') return
    this.state = 'starting'
    try {
      await this.udp.start()
      if (this.deferTcp) await this.bindTcpBesideUdp()
      else await this.tcp.start()
      this.http = buildHttpApi(this)
      for (const p of this.protocols.values()) p.routes?.(this.http)
      try {
        await this.http.listen({ host: this.cfg.httpHost, port: this.cfg.httpPort })
      } catch (err) {
        throw wrapSocketError(err, `port ${this.cfg.httpPort} on ${this.cfg.httpHost}`)
      }
      const a = this.http.server.address()
      if (a && typeof a === 'object') this.httpAddress = { host: a.address, port: a.port }
      this.startedAt = Date.now()
      this.members.set(this.name, this.self())
      await this.telemetry.start()
      if (this.role !== 'master' && this.cfg.masterUrl) {
        this.telemetry.setSink(httpSink(`${this.cfg.masterUrl}/telemetry`, undefined, this.authHeaders()))
        await this.join().catch((err: unknown) =>
          this.logger.warn(
            { name: 'distlab:node' },
            `could not reach the master at ${this.cfg.masterUrl} (${(err as Error).message}); retrying`,
          ),
        )
      }
      this.protocolsHeld = this.cfg.holdProtocols
      if (!this.protocolsHeld) await this.startRunning()
      this.state = 'running'
      named(this.logger, 'distlab:node').info(
        `${this.name} (${this.id}) listening: http ${this.httpUrl}, frames udp+tcp ${this.cfg.advertiseHost}:${this.udp.address().port}`,
      )
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /** Starts the protocols start() held (NodeInit.holdProtocols); once, and only while running. */
  async startProtocols(): Promise<void> {
    if (!this.protocolsHeld || this.state !== 'running') return
    this.protocolsHeld = false
    await this.startRunning()
  }

  /**
   * The protocols, and the periodic copy of the master's member list (one at a time: a slow master
   * must not pile them up). A held node waits for both: the launcher's last step copies the list
   * into every node anyway, and each waiting node's copies cost the boots still under way 2-3 ms of
   * CPU a second (measured with a list of six).
   */
  private async startRunning(): Promise<void> {
    if (this.role !== 'master' && this.cfg.masterUrl) {
      this.refreshTimer = setInterval(
        () => void this.periodicRefresh.join(Date.now()),
        this.cfg.membersRefreshMs,
      )
      this.refreshTimer.unref()
    }
    for (const p of this.protocols.values()) await p.start()
  }

  /**
   * With an OS-chosen port, TCP binds UDP's number. Another socket may hold that number for TCP
   * (UDP and TCP ports are separate spaces): then both move to a fresh number (up to 20 times).
   */
  private async bindTcpBesideUdp(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.tcp = this.emulate(
        new TcpTransport({
          host: this.cfg.host,
          port: this.udp.address().port,
          maxConnectionsPerAddress: this.tcpConnectionsPerAddress,
        }),
      )
      try {
        return await this.tcp.start()
      } catch (err) {
        if (!(err instanceof AddressInUseError) || attempt >= 20) throw err
        await this.udp.stop()
        await this.udp.start()
      }
    }
  }

  private emulate(t: Transport): LinkEmulator {
    const e = new LinkEmulator(this.guard ? new AuthTransport(t, this.guard) : t, {
      table: this.links,
      clock: this.clock,
      onWire: (env, bytes) => {
        const labels = { proto: env.proto, transport: t.kind }
        this.metrics.inc('distlab_frames_sent_total', 'Frames put on the wire.', labels)
        this.metrics.inc('distlab_bytes_sent_total', 'Bytes put on the wire.', labels, bytes)
        this.frames.event('send', env, bytes, t.kind)
      },
    })
    e.setHandler({ message: (m) => this.frames.receive(m), drop: (d) => this.frames.dropped(d) })
    return e
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return
    this.state = 'stopping'
    if (this.refreshTimer) clearInterval(this.refreshTimer)
    this.refreshTimer = undefined
    for (const p of this.protocols.values()) await p.stop().catch(() => {})
    if (this.role !== 'master' && this.cfg.masterUrl && this.startedAt) {
      await this.master()
        .leave({ name: this.name, id: this.id }, { timeoutMs: 500 })
        .catch(() => {})
    }
    await this.telemetry.stop()
    await this.http?.close().catch(() => {})
    this.http = undefined
    await this.udp.stop().catch(() => {})
    await this.tcp.stop().catch(() => {})
    this.state = 'stopped'
  }

  // ---- membership (the master keeps the registry; nodes copy it) ----

  private peerView(): { names: readonly string[]; infos: readonly PeerInfo[] } {
    if (!this.peerCache) {
      const infos = [...this.members.values()]
        .filter((m) => m.name !== this.name)
        .map(({ name, id, role, host, httpPort, framePort }) =>
          Object.freeze({ name, id, role, host, httpPort, framePort }),
        )
      this.peerCache = Object.freeze({
        names: Object.freeze(infos.map((m) => m.name)),
        infos: Object.freeze(infos),
      })
    }
    return this.peerCache
  }

  /** The master's side of a join, for a node in this same process. */
  register(m: Member): { version: number; members: Member[] } {
    this.admit(m)
    return this.memberList()
  }

  /** The master's side of a join. */
  admit(m: Member): void {
    const prev = this.members.get(m.name)
    this.members.set(m.name, { ...m, lastSeen: Date.now() })
    this.peerCache = undefined
    if (!prev || prev.id !== m.id || prev.host !== m.host || prev.framePort !== m.framePort)
      this.membersVersion++
  }

  /** The master's side of a leave. */
  release(name: string, id: string): boolean {
    const m = this.members.get(name)
    if (!m || m.id !== id || name === this.name) return false
    this.members.delete(name)
    this.peerCache = undefined
    this.membersVersion++
    return true
  }

  memberList(): { version: number; members: Member[] } {
    return { version: this.membersVersion, members: [...this.members.values()] }
  }

  member(name: string): Member | undefined {
    return this.members.get(name)
  }

  /** The client for this node's master's API (with the cluster's token when keyed). */
  private master(): NodeClient {
    return new NodeClient({
      url: this.cfg.masterUrl!,
      name: 'the master',
      headers: this.authHeaders(),
      timeoutMs: MASTER_CALL_TIMEOUT_MS,
    })
  }

  private async join(): Promise<void> {
    const seq = ++this.listRequests
    if (this.registry) {
      this.applyMembers(this.registry.register(this.self()), seq)
      this.joined = true
      return
    }
    const list = await this.master().join(this.self())
    this.applyMembers({ version: list.version, members: (list.members ?? []) as Member[] }, seq)
    this.joined = true
  }

  /** Copies the master's member list; joins again if the master has forgotten this node. */
  async refreshMembers(): Promise<void> {
    if (this.role === 'master' || !this.cfg.masterUrl || this.leaving()) return
    // A node whose first join failed (its master was not up yet) joins now.
    if (!this.joined) return this.join()
    let body: { version: number; members?: Member[] }
    const seq = ++this.listRequests
    if (this.registry) {
      const list = this.registry.memberList()
      body = list.version === this.membersVersion ? { version: list.version } : list
    } else {
      body = (await this.master().members(this.membersVersion)) as { version: number; members?: Member[] }
    }
    // An answer older than the list applied says nothing about now: not even that this node is missing.
    // Nor does one that comes while the node stops: it has left the master's list, or is leaving it.
    if (seq < this.listApplied || this.leaving()) return
    if (body.members) this.applyMembers(body as { version: number; members: Member[] }, seq)
    if (
      !this.members.has(this.name) ||
      (body.members && !body.members.some((m) => m.name === this.name && m.id === this.id))
    )
      await this.join()
  }

  /** True once stop() has begun: a refresh answered then does not join the master again. */
  private leaving(): boolean {
    return this.state === 'stopping' || this.state === 'stopped'
  }

  /**
   * Copies the master's member list now and answers how many members this node knows (POST
   * /members/refresh: the last step of a launcher's start, so that a node that joined before others
   * knows them when `up` returns, not at its next periodic refresh). One request at a time and at
   * most one per UNKNOWN_PEER_REFRESH_MS however many ask; apart from the refreshes sends to unknown
   * names start, so that it never delays those (a reply to a newcomer).
   */
  async refreshMembersNow(): Promise<number> {
    await this.askedRefresh.join(Date.now())
    return this.members.size
  }

  /**
   * Asks the master for the member list because `dst` is not in it, at most once per
   * UNKNOWN_PEER_REFRESH_MS however many sends ask (they share one request), and not again for a
   * name the last refresh did not find: a flood of frames naming invented peers costs the master
   * one request a second at most, not one per frame. A reply (SendOptions.reply: an ack or pong to
   * the name an inbound frame claimed) asks at most once per UNKNOWN_SENDER_REFRESH_MS.
   */
  private async refreshForUnknown(dst: string, reply: boolean): Promise<void> {
    const now = Date.now()
    const missedAt = this.unknownNames.get(dst)
    if (missedAt !== undefined && now - missedAt < UNKNOWN_NAME_TTL_MS) return
    if (reply && this.unknownRefresh.wouldStart(now)) {
      if (now - this.lastSenderRefresh < UNKNOWN_SENDER_REFRESH_MS) return
      this.lastSenderRefresh = now
    }
    const refresh = this.unknownRefresh.join(now)
    if (!refresh) return
    await refresh
    if (this.members.has(dst)) return
    this.unknownNames.delete(dst)
    this.unknownNames.set(dst, Date.now())
    if (this.unknownNames.size > MAX_UNKNOWN_NAMES) {
      const oldest = this.unknownNames.keys().next().value as string
      this.unknownNames.delete(oldest)
    }
  }

  /** Replaces the member list with the master's answer to request `seq`, unless a later request's answer was applied. */
  private applyMembers(list: { version: number; members: Member[] }, seq: number): void {
    if (seq < this.listApplied) return
    this.listApplied = seq
    this.members.clear()
    for (const m of list.members) this.members.set(m.name, m)
    this.members.set(this.name, this.self())
    this.peerCache = undefined
    this.membersVersion = list.version
  }

  // ---- frames ----

  /** Sends one envelope of protocol `proto` to node `dst`. Unknown destinations are dropped and counted. */
  async send(proto: string, dst: string, type: string, body: Body, options: SendOptions = {}): Promise<void> {
    const env = createEnvelope({ proto, type, src: this.name, dst, body, id: options.id, ttl: options.ttl })
    if (options.address) {
      await (options.transport === 'tcp' ? this.tcp : this.udp).send(options.address, env, options.replyOn)
      return
    }
    let m = this.members.get(dst)
    if (!m && this.role !== 'master') {
      await this.refreshForUnknown(dst, options.reply === true)
      m = this.members.get(dst)
    }
    if (!m) {
      this.frames.dropped({
        reason: 'unknown_peer',
        bytes: 0,
        transport: options.transport ?? 'udp',
        direction: 'out',
        env,
      })
      throw new UnknownPeerError(`${this.name} does not know a node named ${dst}`)
    }
    const transport = options.transport === 'tcp' ? this.tcp : this.udp
    await transport.send({ host: m.host, port: m.framePort }, env)
  }
}
