// Membership of the peer-to-peer overlay of seed 002. Peers register with a bootstrap registry
// (POST /register, GET /peers), then keep their views current without it: updates spread by
// infection-style gossip piggybacked on probes and on gossip rounds, whole views are swapped with a
// random member now and then (push-pull anti-entropy), and failures are found SWIM-style (Das,
// Gupta, Motivala, DSN 2002, as memberlist does it): a direct probe, indirect probes through k
// others, suspicion with a timeout growing with log n, then death spread by gossip. Lifeguard
// (Dadgar et al. 2018) on top: local health (awareness.ts), dynamic suspicion shrinking with
// independent confirmations (suspicion.ts), nacks from helpers, and a suspect member told so when
// it is probed (the buddy system). A member that comes back with a newer generation (a restart) or incarnation (a refuted suspicion) is readmitted.
// A peer that removed every member forgets them and rejoins (join.ts). Every member pings a suspect
// before its suspicion removes it, and the registry a member reported dead before it believes the
// report (probe.ts): a peer cut off from everyone reports every member dead once its links heal.
import type { Envelope } from '../../core/envelope.js'
import type { InboundMessage, Protocol, ProtocolComponents } from '../../core/interfaces.js'
import { UnknownPeerError } from '../../core/errors.js'
import { Broadcast, resolveBroadcastOptions, type BroadcastDelivery } from '../broadcast/index.js'
import { named } from '../../core/logger.js'
import type { RouteHost } from '../../core/routes.js'
import { MAX_MEMBERS, BROADCAST_TYPE_PREFIX, NACK_TIMEOUT_FRACTION } from './constants.js'
import {
  checkGossip,
  checkPingReq,
  checkProbe,
  checkPushPull,
  type PushPullBody,
  type WireMember,
} from './wire.js'
import { membershipRoutes } from './routes.js'
import {
  refusedAnswer,
  type LocalAnswer,
  type LocalRegistry,
  type Refusal,
  type Registration,
} from './local-registry.js'
import { type P2pBroadcastResult, type ResolvedMembershipOptions } from './types.js'
import { Joining } from './join.js'

export type {
  MemberInfo,
  MemberKind,
  MemberStatus,
  MembershipStats,
  P2pBroadcastResult,
  SendResult,
} from './types.js'

/** The broadcast module as `p2p broadcast` runs it: its default strategy (tree), no ip socket. */
const P2P_BROADCAST_OPTIONS = resolveBroadcastOptions({ ipPort: 0 })

function sameHost(url: string, host: string): boolean {
  try {
    return new URL(url).hostname === (host.includes(':') ? `[${host}]` : host)
  } catch {
    return false
  }
}

export class Membership extends Joining implements Protocol, LocalRegistry {
  readonly name = 'membership'

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    const host = this.c.self.host
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${this.c.self.httpPort ?? 5000}`
    this.selfInfo = {
      name: this.c.self.name,
      id: this.c.self.id,
      url,
      host,
      framePort: this.c.self.framePort ?? 7000,
      gen: Math.floor(this.c.clock.now()),
      inc: 0,
      registry: this.o.registry,
    }
    this.selfDigestPart = undefined
    if (this.o.registry) this.o.directory?.add(url, this)
    const probeTick = () => {
      this.probeRound()
      this.after(this.scaled(this.o.probeIntervalMs), probeTick)
    }
    this.after(Math.floor(this.o.random() * this.o.probeIntervalMs), probeTick)
    this.every(this.o.gossipIntervalMs, () => this.gossipRound())
    this.after(Math.floor((0.5 + this.o.random() / 2) * this.pushPullIntervalMs()), () =>
      this.pushPullRound(),
    )
    if (!this.o.registry) {
      this.enqueue(this.selfWire())
      const joined = this.o.bootstrapUrl || this.o.seedUrl ? this.join() : Promise.resolve()
      if (this.o.bootstrapUrl && this.o.reregisterIntervalMs > 0) {
        // Scaled like push-pull: a thousand peers re-registering every 30 s kept a registry busy
        // with 33 requests a second while first registrations waited. The first one waits a whole
        // (jittered) interval after the join, at the view's size then: counted from the start,
        // the re-registrations of a mass join went through the same gate as first registrations.
        // A peer that knows no member (its join gave up, or every member it knew was removed) asks
        // for the member list again (not quiet) and soon: at the join's longest backoff, not after
        // a whole interval, so that a registration the registry lost is made good quickly.
        // The view is looked at every join backoff, not only when the (view-scaled, up to minutes)
        // re-registration is due: a peer that lost every member since asks at once.
        let dueAt = 0
        const reregister = () => {
          const alone = this.members.size === 0
          const now = this.c.clock.now()
          if (alone || now >= dueAt) {
            if (alone) this.forgetWhenAlone()
            void this.register(this.o.bootstrapUrl!, !alone)
            dueAt = now + this.reregisterDelayMs()
          }
          this.after(this.joinRetryDelayMs(Infinity), reregister)
        }
        void joined.then(() => {
          dueAt = this.c.clock.now() + this.reregisterDelayMs()
          this.after(this.joinRetryDelayMs(Infinity), reregister)
        })
      }
    }
    this.log.debug(`${url} ${this.o.registry ? 'serves the peer registry' : 'joins the overlay'}`)
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.selfInfo) this.o.directory?.remove(this.selfInfo.url, this)
    await this.bcast?.stop()
    this.bcast = undefined
    for (const t of this.timers) this.c.clock.clearTimeout(t)
    this.timers.clear()
    for (const m of this.members.values()) m.suspicion?.stop()
    for (const [, a] of this.acks) {
      this.c.clock.clearTimeout(a.timer)
      a.resolve(false)
    }
    this.acks.clear()
    for (const w of this.verifyWaiters.splice(0)) w()
  }

  handle(env: Envelope, msg: InboundMessage): void {
    if (!this.running) return
    const from = { name: env.src, host: msg.from.host, port: msg.from.port }
    this.refutedInFrame = false
    this.dispatch(env, msg, from)
    // The frame said this node is suspect or dead: its sender holds that suspicion, and may never
    // hear the refutation from the few members gossip picks, so it gets it now (in the ack, when
    // the frame was a probe; a push-pull's answer carries this node's state anyway).
    if (this.refutedInFrame && env.type !== 'ping' && env.type !== 'pp' && env.type !== 'pp-ack')
      this.send(from, 'gossip', { u: [this.selfWire()] })
    this.refutedInFrame = false
  }

  private dispatch(
    env: Envelope,
    msg: InboundMessage,
    from: { name: string; host: string; port: number },
  ): void {
    switch (env.type) {
      case 'ping': {
        const b = checkProbe(env.body)
        b.u?.forEach((u) => this.apply(u, true, env.src))
        this.send(from, 'ack', { seq: b.seq, u: this.refutedInFrame ? this.withSelf() : this.piggyback() })
        return
      }
      case 'ack': {
        const b = checkProbe(env.body)
        b.u?.forEach((u) => this.apply(u, true, env.src))
        const waiting = this.acks.get(b.seq)
        if (waiting) {
          this.acks.delete(b.seq)
          this.c.clock.clearTimeout(waiting.timer)
          waiting.resolve(true)
        }
        return
      }
      case 'ping-req':
        return this.onPingReq(env, from)
      case 'nack': {
        const b = checkProbe(env.body)
        const n = this.nacks.get(b.seq)
        if (n !== undefined) this.nacks.set(b.seq, n + 1)
        return
      }
      case 'gossip': {
        checkGossip(env.body).u.forEach((u) => this.apply(u, true, env.src))
        return
      }
      case 'pp':
      case 'pp-ack':
        return this.onPushPull(env, checkPushPull(env.body), msg)
      default:
        if (env.type.startsWith(BROADCAST_TYPE_PREFIX))
          this.p2pBroadcast().handle({ ...env, type: env.type.slice(BROADCAST_TYPE_PREFIX.length) }, msg)
        else this.c.dropped(env, 'unknown_type')
    }
  }

  /** Probes a member on another's behalf: an ack relayed, or a nack before the asker's deadline. */
  private onPingReq(env: Envelope, from: { name: string; host: string; port: number }): void {
    const b = checkPingReq(env.body)
    b.u?.forEach((u) => this.apply(u, true, env.src))
    // Probe only a member this node knows at that address: a ping-req must not make it send
    // datagrams wherever a stranger points.
    const t = this.live().find((m) => m.host === b.t.h && m.port === b.t.p)
    if (!t) {
      this.c.dropped(env, 'unknown_target')
      return
    }
    const seq = ++this.seq
    const acked = this.waitAck(seq, this.o.probeTimeoutMs)
    this.send(t, 'ping', { seq })
    // The nack goes early enough to reach the asker before its deadline; an ack that comes
    // later is still relayed.
    let answered = false
    this.after(Math.floor(this.o.probeTimeoutMs * NACK_TIMEOUT_FRACTION), () => {
      if (!answered) this.send(from, 'nack', { seq: b.seq })
    })
    void acked.then((ok) => {
      answered = true
      if (ok) this.send(from, 'ack', { seq: b.seq })
    })
  }

  /**
   * A push-pull frame: merge what it carries, answer a digest or a view. The answer goes back on
   * the asker's connection (it reads answers there), so an exchange holds one connection.
   */
  private onPushPull(env: Envelope, b: PushPullBody, msg: InboundMessage): void {
    if (b.m) this.merge(b.m, env.src)
    const s = this.selfInfo!
    if (env.type === 'pp' && b.from) {
      // A digest alone: answer with ours if equal, else with our view and a request for theirs.
      // A whole view (an older peer): answer with ours, as memberlist does.
      this.counts.pushPulls++
      const to = { name: env.src, host: b.from.h, port: b.from.p }
      const on = msg.transport === 'tcp' ? msg.from : undefined
      const d = this.digest()
      if (!b.m && b.d === d) this.sendChecked(to, 'pp-ack', { d }, on)
      else if (!b.m)
        this.sendChecked(
          to,
          'pp-ack',
          { m: this.pushPullView(), d, w: 1, from: { h: s.host, p: s.framePort } },
          on,
        )
      else this.sendChecked(to, 'pp-ack', { m: this.pushPullView() }, on)
    } else if (env.type === 'pp-ack' && b.w === 1 && b.from && b.m) {
      // Their view is in hand: send back only what it lacks or holds older.
      const m = this.missingFrom(b.m)
      if (m.length > 0) this.sendChecked({ name: env.src, host: b.from.h, port: b.from.p }, 'pp', { m })
    }
  }

  /**
   * A registration (POST /register): a new URL joins the view unverified and is checked in the
   * background (a frame ping to what it claims, else HTTP); a member registering again may have
   * restarted with a new id, so it is checked again (once at a time). Refused past the rate or
   * the pending checks' bound. `byCall`: a peer of this process called (local-registry.ts), so its
   * claim is its own record, handed over in memory rather than read off the network; it is taken
   * as the check's ack would take it.
   */
  protected async acceptRegistration(r: Registration, byCall = false): Promise<Refusal> {
    const url = r.url
    if (this.log.isLevelEnabled('debug')) this.log.debug(`registration of ${url}`)
    await this.c.trust?.checkPeerUrl(url, r.field) // 400 peer_url_rejected outside the cluster's ranges
    const known = this.members.get(url)
    // A claim counts only for its own URL and host: a registration cannot point the URL of one
    // machine at the frames of another.
    const claim = r.self?.u === url && sameHost(url, r.self.h) ? r.self : undefined
    const direct = byCall && claim !== undefined && !this.pendingVerify.has(url)
    if (!known) {
      if (!this.bucket.take()) {
        this.counts.registrationsRejected++
        return { error: 'too_many_registrations', message: 'too many registrations; try again in a second' }
      }
      if (
        this.members.size >= MAX_MEMBERS ||
        (!direct && this.pendingVerify.size >= this.o.maxPendingVerifications)
      ) {
        this.counts.registrationsRejected++
        return { error: 'registry_full', message: 'too many peers waiting to be checked; try again later' }
      }
      if (!direct) {
        this.members.set(url, {
          name: r.name ?? url,
          url,
          id: '',
          host: '',
          port: 0,
          gen: 0,
          inc: 0,
          status: 'alive',
          kind: 'unverified',
          httpFailures: 0,
        })
        this.changed()
      }
    }
    if (direct && !(known?.kind === 'frames' && r.quiet)) {
      if (known?.kind === 'unverified') this.members.delete(url)
      this.dead.delete(url)
      this.apply(claim)
    } else if ((!known || (known.kind === 'frames' && !r.quiet)) && !this.pendingVerify.has(url)) {
      this.pendingVerify.add(url)
      if (claim) this.claims.set(url, claim)
      void this.verify(url)
    }
    this.counts.registrations++
    this.count('registrations_total', 'POST /register requests accepted.')
    return undefined
  }

  /**
   * A registration by call from a peer of this process (local-registry.ts): what POST /register
   * does, without HTTP. Taken only with the bearer token the HTTP API would want; otherwise the
   * peer goes over HTTP.
   */
  async registerLocal(r: Registration, headers: Readonly<Record<string, string>>): Promise<LocalAnswer> {
    if (!this.takesCalls(headers)) return undefined
    if (r.url === this.selfInfo?.url) return { ok: false, why: `${r.field} is this node's own URL` }
    try {
      const refused = await this.acceptRegistration(r, true)
      if (refused) return refusedAnswer(refused)
    } catch (err) {
      return { ok: false, why: (err as Error).message }
    }
    return { ok: true, members: r.quiet ? [] : this.stateList() }
  }

  /** The member list a registration gets (GET /membership/members), for a peer of this process. */
  membersLocal(headers: Readonly<Record<string, string>>): readonly WireMember[] | undefined {
    return this.takesCalls(headers) ? this.stateList() : undefined
  }

  /** A registry that is up takes calls carrying the bearer token its HTTP API would want. */
  private takesCalls(headers: Readonly<Record<string, string>>): boolean {
    return (
      this.running && this.o.registry && headers.authorization === this.c.trust?.httpHeaders().authorization
    )
  }

  routes(app: RouteHost): void {
    membershipRoutes(app, {
      nodeName: this.c.self.name,
      self: () => this.selfInfo,
      peers: () => this.peers(),
      memberList: () => this.memberList(),
      stats: () => this.stats(),
      removals: () => this.removals(),
      options: () => this.optionsView(),
      stateJson: () => this.stateJson(),
      admit: (r) => this.acceptRegistration(r),
      findPeer: (to) =>
        [...this.members.values()].find((m) => m.kind !== 'unverified' && (m.name === to || m.url === to)),
      sendMessage: (url, msg) => this.sendMessage(url, msg),
      broadcast: (msg) => this.broadcast(msg),
      countRejected: (route, reason) =>
        this.c.metrics.inc('distlab_http_rejected_total', 'HTTP requests rejected, by reason.', {
          route,
          reason,
        }),
    })
  }

  /** The options this node runs with (profile and timings, no random source), for GET /membership. */
  optionsView(): Omit<ResolvedMembershipOptions, 'random' | 'directory'> {
    const { random: _random, directory: _directory, ...rest } = this.o
    return rest
  }

  /** POSTs seed 002's message body to a peer's /message. */
  async sendMessage(
    url: string,
    msg: string,
  ): Promise<{ ok: true; reply: unknown } | { ok: false; why: string }> {
    try {
      await this.c.trust?.checkPeerUrl(url)
      // Own fetch, not NodeClient: a peer's URL from the p2p view (another peer handed it over).
      const res = await fetch(`${url}/message`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/json', ...this.c.trust?.httpHeaders() },
        body: JSON.stringify({ sender: this.c.self.name, msg }),
        signal: AbortSignal.timeout(this.o.httpTimeoutMs),
      })
      const text = await res.text()
      let reply: unknown = text
      try {
        reply = JSON.parse(text)
      } catch {
        // not JSON
      }
      if (!res.ok) return { ok: false, why: `HTTP ${res.status}` }
      return { ok: true, reply }
    } catch (err) {
      const cause = (err as { cause?: Error }).cause
      return { ok: false, why: cause?.message ?? (err as Error).message }
    }
  }

  /**
   * Sends `msg` to every peer in this node's view with the broadcast module (Plumtree with
   * anti-entropy, each message delivered once), its frames carried as this protocol's (`b:` types)
   * to the addresses the view holds, so that it works without the bootstrap too.
   */
  async broadcast(msg: string): Promise<P2pBroadcastResult> {
    const r = await this.p2pBroadcast().broadcast(msg)
    return { status: 'broadcast', id: r.id, strategy: r.strategy, peers: this.live().length }
  }

  /** The broadcast module's instance, made on first use (no timers or traffic before). */
  protected p2pBroadcast(): Broadcast {
    if (this.bcast) return this.bcast
    const c = this.c
    const byName = () => {
      this.liveByName ??= new Map(this.live().map((m) => [m.name, m]))
      return this.liveByName
    }
    const components: ProtocolComponents = {
      ...c,
      peers: () => [...byName().keys()],
      members: () =>
        (this.livePeers ??= [...byName().values()].map((m) => ({
          name: m.name,
          id: m.id,
          role: 'node' as const,
          host: m.host,
          httpPort: 0,
          framePort: m.port,
        }))),
      send: async (dst, type, body, options) => {
        const m = byName().get(dst)
        if (!m) throw new UnknownPeerError(`${dst} is not in ${c.self.name}'s p2p view`)
        await c.send(dst, `${BROADCAST_TYPE_PREFIX}${type}`, body, {
          ...options,
          address: { host: m.host, port: m.port },
          transport: options?.transport ?? 'udp',
        })
      },
    }
    const b = new Broadcast(components, P2P_BROADCAST_OPTIONS)
    const self = c.self.name
    b.onDeliver((d) => {
      if (d.from === self || d.kind !== 'app') return
      named(c.logger, 'distlab:http').info(`Received message from ${d.from}: ${String(d.value)}`)
      this.count('broadcasts_delivered_total', 'Broadcast messages delivered to this node.')
    })
    void b.start()
    this.bcast = b
    return b
  }

  /** Messages `p2p broadcast` delivered here (this node's own included), from the broadcast module. */
  broadcastsDelivered(): BroadcastDelivery[] {
    return this.bcast?.delivered(0, 'app').messages ?? []
  }
}
