// Membership of the peer-to-peer overlay of seed 002. Peers register with a bootstrap registry
// (POST /register, GET /peers), then keep their views current without it: updates spread by
// infection-style gossip piggybacked on probes and on gossip rounds, whole views are swapped with a
// random member now and then (push-pull anti-entropy), and failures are found SWIM-style (Das,
// Gupta, Motivala, DSN 2002, as memberlist does it): a direct probe, indirect probes through k
// others, suspicion with a timeout growing with log n, then death spread by gossip. Lifeguard
// (Dadgar et al. 2018) on top: local health (awareness.ts), dynamic suspicion shrinking with
// independent confirmations (suspicion.ts), nacks from helpers, and a suspect member told so when
// it is probed (the buddy system). A member that comes back with a newer generation (a restart) or incarnation (a refuted suspicion) is readmitted.
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Envelope } from '../../core/envelope.js'
import type {
  InboundMessage,
  PeerAddress,
  PeerInfo,
  Protocol,
  ProtocolComponents,
} from '../../core/interfaces.js'
import { UnknownPeerError } from '../../core/errors.js'
import { Broadcast, resolveBroadcastOptions, type BroadcastDelivery } from '../broadcast/index.js'
import type { TimerHandle } from '../../core/clock.js'
import { named, type Logger } from '../../core/logger.js'
import { HttpBodyError, parseBody } from '../../node/http.js'
import {
  JOIN_BACKOFF_MAX_FACTOR,
  JOIN_PUSH_PULLS,
  JOIN_PUSH_PULLS_SMALL,
  PUSH_PULL_SCALE_THRESHOLD,
  MAX_HEALTH,
  MAX_LATE_REARMS,
  MAX_MEMBERS,
  MAX_MESSAGE_CHARS,
  MAX_REGISTER_BODY_BYTES,
  MAX_UPDATES_PER_FRAME,
  SEEN_MESSAGES,
  STATE_JSON_MAX_AGE_MS,
  MAX_URL_CHECKS,
  MAX_ALLOWED_ADDRESSES,
  REGISTER_CONCURRENCY,
  FEEDBACK_MIN_QUEUED,
  FEEDBACK_HEARINGS,
  REGISTER_TIMEOUT_FACTOR,
  BROADCAST_TYPE_PREFIX,
  NACK_TIMEOUT_FRACTION,
} from './constants.js'
import { Awareness } from './awareness.js'
import { Suspicion, suspicionBounds } from './suspicion.js'
import { Gate, normalizePeerUrl, TokenBucket } from './registry.js'
import {
  checkGossip,
  checkPingReq,
  checkProbe,
  checkPushPull,
  SelfInfoSchema,
  type SelfInfo,
  type Update,
  type WireMember,
  type WireMessage,
} from './wire.js'
import type { ResolvedMembershipOptions } from './index.js'

export type MemberStatus = 'alive' | 'suspect'

/** Shared by every peer in this process (see Gate). */
const registerGate = new Gate(REGISTER_CONCURRENCY)

/**
 * How a member is known: `frames` (a distlab node: probed and gossiped over distlab frames), `http`
 * (a foreign seed-002 peer that only speaks HTTP: probed with GET /, never gossiped) or `unverified`
 * (registered, not yet checked).
 */
export type MemberKind = 'frames' | 'http' | 'unverified'

export interface MemberInfo {
  name: string
  url: string
  id: string
  host: string
  port: number
  gen: number
  inc: number
  status: MemberStatus
  kind: MemberKind
}

interface Member extends MemberInfo {
  suspicion?: Suspicion
  httpFailures: number
}

/** A member removed as dead, remembered for deadRetentionMs (and passed on in push-pulls). */
interface Tombstone {
  name: string
  id: string
  host: string
  port: number
  gen: number
  inc: number
  at: number
}

interface Queued {
  update: Update
  json: string
  sent: number
}

export interface MembershipStats {
  members: number
  alive: number
  suspect: number
  probes: number
  indirectProbes: number
  suspected: number
  declaredDead: number
  refuted: number
  gossipSent: number
  pushPulls: number
  registrations: number
  registrationsRejected: number
  registrationsDropped: number
  /** Peer URLs or frame addresses learned from other peers that the URL guard refused. */
  urlsRejected: number
  /** Lifeguard's local health score: 0 is healthy; probe timeouts and intervals scale by score + 1. */
  health: number
}

/** What POST /p2p/broadcast answers. */
export interface P2pBroadcastResult {
  status: 'broadcast'
  /** The broadcast module's message id (`<origin>~<session>.<seq>`). */
  id: string
  strategy: string
  /** Peers in the sender's view when it sent. */
  peers: number
}

/** The broadcast module as `p2p broadcast` runs it: its default strategy (tree), no ip socket. */
const P2P_BROADCAST_OPTIONS = resolveBroadcastOptions({ ipPort: 0 })

export interface SendResult {
  status: 'sent'
  to: string
  url: string
  reply: unknown
}

const RegisterBody = z.looseObject({
  url: z.unknown().optional(),
  peer: z.unknown().optional(),
})
const SendBody = z.object({ to: z.string().min(1).max(512), msg: z.string().max(MAX_MESSAGE_CHARS) })
const BroadcastBody = z.object({ msg: z.string().max(MAX_MESSAGE_CHARS) })

type Version = { g: number; c: number } | { gen: number; inc: number }
const version = (x: Version): [number, number] => ('g' in x ? [x.g, x.c] : [x.gen, x.inc])
/** Orders two states of a member: by generation (a restart), then by incarnation (a refutation). */
const cmp = (a: Version, b: Version): number => {
  const [ag, ac] = version(a)
  const [bg, bc] = version(b)
  return ag !== bg ? ag - bg : ac - bc
}

export class Membership implements Protocol {
  readonly name = 'membership'
  private readonly log: Logger
  private readonly members = new Map<string, Member>()
  private readonly dead = new Map<string, Tombstone>()
  private readonly queued = new Map<string, Queued>()
  private readonly buckets: Array<Set<string>> = []
  private readonly acks = new Map<number, { resolve: (ok: boolean) => void; timer: TimerHandle }>()
  private readonly seen = new Set<string>()
  private readonly pendingVerify = new Set<string>()
  private verifying = 0
  private readonly verifyWaiters: Array<() => void> = []
  private readonly bucket: TokenBucket
  private readonly timers = new Set<TimerHandle>()
  private selfInfo?: SelfInfo
  private probeOrder: string[] = []
  private probeIndex = 0
  private liveCache?: Member[]
  private liveByName?: Map<string, Member>
  private livePeers?: PeerInfo[]
  private bcast?: Broadcast
  /** Bumped at every change of the view. */
  private version = 0
  private stateCache?: { version: number; at: number; json: string }
  private digestCache?: { key: string; d: string }
  /** `url host port` of peers the URL guard let through, and of those being checked. */
  private readonly allowedAddresses = new Set<string>()
  private readonly checkingAddresses = new Set<string>()
  private seq = 0
  private readonly awareness = new Awareness(MAX_HEALTH)
  private readonly nacks = new Map<number, number>()
  /** The gossip queue held more than FEEDBACK_MIN_QUEUED updates since it was last empty. */
  private backlog = false
  private running = false
  private readonly counts: MembershipStats = {
    members: 0,
    alive: 0,
    suspect: 0,
    probes: 0,
    indirectProbes: 0,
    suspected: 0,
    declaredDead: 0,
    refuted: 0,
    gossipSent: 0,
    pushPulls: 0,
    registrations: 0,
    registrationsRejected: 0,
    registrationsDropped: 0,
    urlsRejected: 0,
    health: 0,
  }
  private readonly listeners = new Set<() => void>()

  constructor(
    private readonly c: ProtocolComponents,
    private readonly o: ResolvedMembershipOptions,
  ) {
    this.log = named(c.logger, 'distlab:membership')
    this.bucket = new TokenBucket(o.registrationsPerSecond, o.registrationBurst, () => c.clock.now())
  }

  // ---- life cycle ----

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
        const reregister = () => {
          const alone = this.members.size === 0
          void this.register(this.o.bootstrapUrl!, !alone)
          this.after(alone ? this.joinRetryDelayMs(Infinity) : this.reregisterDelayMs(), reregister)
        }
        void joined.then(() => this.after(this.reregisterDelayMs(), reregister))
      }
    }
    this.log.debug(`${url} ${this.o.registry ? 'serves the peer registry' : 'joins the overlay'}`)
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
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

  private after(ms: number, fn: () => void): void {
    if (!this.running) return
    const t = this.c.clock.setTimeout(() => {
      this.timers.delete(t)
      if (this.running) fn()
    }, ms)
    this.timers.add(t)
  }

  private every(ms: number, fn: () => void): void {
    // Jitter the first tick so that nodes started together do not probe in lockstep.
    const tick = () => {
      try {
        fn()
      } catch (err) {
        this.log.warn(`timer failed: ${(err as Error).message}`)
      }
      this.after(ms, tick)
    }
    this.after(Math.floor(this.o.random() * ms), tick)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve()
      this.after(ms, resolve)
    })
  }

  // ---- what others read ----

  /** This node's URL, e.g. `http://127.0.2.1:5000` (valid after start). */
  get url(): string {
    return this.selfInfo?.url ?? ''
  }

  /** The peer URLs this node knows (alive, suspect or just registered), as GET /peers lists them. */
  peers(): string[] {
    return [...this.members.keys()]
  }

  /** How many members this node's view holds (the length of GET /peers). */
  viewSize(): number {
    return this.members.size
  }

  /** Whether `url` is in this node's view (as GET /peers would list it). */
  knows(url: string): boolean {
    return this.members.has(url)
  }

  /** Every member with its state. */
  memberList(): MemberInfo[] {
    return [...this.members.values()].map(({ suspicion: _t, httpFailures: _f, ...m }) => m)
  }

  stats(): MembershipStats {
    let alive = 0
    let suspect = 0
    for (const m of this.members.values()) {
      if (m.status === 'alive') alive++
      else suspect++
    }
    return { ...this.counts, members: this.members.size, alive, suspect, health: this.awareness.health }
  }

  /** Called after every change of the view. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private changed(): void {
    this.liveCache = undefined
    this.liveByName = undefined
    this.livePeers = undefined
    this.version++
    for (const fn of this.listeners) fn()
  }

  private count(name: string, help: string, labels: Record<string, string> = {}): void {
    this.c.metrics.inc(`distlab_membership_${name}`, help, labels)
  }

  // ---- the state machine of one member (keyed by URL) ----

  private selfWire(): WireMember {
    const s = this.selfInfo!
    return { s: 'a', n: s.name, u: s.url, i: s.id, h: s.host, p: s.framePort, g: s.gen, c: s.inc }
  }

  private wire(m: Member, s: 'a' | 's' | 'd' = m.status === 'alive' ? 'a' : 's', from?: string): WireMember {
    const w: WireMember = { s, n: m.name, u: m.url, i: m.id, h: m.host, p: m.port, g: m.gen, c: m.inc }
    if (s === 's' && from !== undefined) w.f = from
    return w
  }

  /**
   * `relay` false: the update comes from a whole view (a registry's answer, a push-pull), whose
   * sender already spreads what is news in it; a member first learned that way is queued for gossip
   * here only while the queue holds less than one frame's worth. Without that bound, each of a
   * thousand peers joining at once re-gossiped the hundreds of members its registration answer
   * listed, each the full retransmit limit: millions of datagrams about members everyone was
   * already learning from the same lists.
   */
  private apply(u: Update, relay = true, sender?: string): void {
    if (u.s === 'm') return this.applyMessage(u)
    if (u.u === this.selfInfo?.url) return this.aboutSelf(u)
    if (u.s === 'a') this.applyAlive(u, relay)
    else if (u.s === 's') this.applySuspect(u, sender)
    else this.applyDead(u)
  }

  /** Someone says something about us: if it is a suspicion or a death, refute it. */
  private aboutSelf(u: WireMember): void {
    const s = this.selfInfo!
    if (this.o.registry || u.s === 'a' || u.i !== s.id) return
    if (cmp(u, s) < 0) return
    s.inc = u.c + 1
    this.counts.refuted++
    this.adjustHealth(1)
    this.count('refuted_total', 'Suspicions of this node it refuted.')
    this.log.info(`refuting ${u.s === 'd' ? 'a death' : 'a suspicion'} of this node (incarnation ${s.inc})`)
    this.enqueue(this.selfWire())
  }

  private applyAlive(u: WireMember, relay = true): void {
    const cur = this.members.get(u.u)
    if (!cur) {
      const tomb = this.dead.get(u.u)
      if (tomb && cmp(u, tomb) <= 0) return
      if (this.members.size >= MAX_MEMBERS) return
      if (!this.allowed(u, relay)) return
      this.dead.delete(u.u)
      this.admit(u, 'frames', relay)
      return
    }
    if (cur.kind !== 'frames') {
      // A registered URL turns out to be a distlab node that others already know.
      if (!this.allowed(u, relay)) return
      this.pendingVerify.delete(u.u)
      this.members.delete(u.u)
      this.admit(u, 'frames', relay)
      return
    }
    if (cmp(u, cur) <= 0) {
      if (cmp(u, cur) === 0) this.heardAgain(u.u)
      return
    }
    if ((u.h !== cur.host || u.p !== cur.port) && !this.allowed(u, relay)) return
    const wasSuspect = cur.status === 'suspect'
    cur.suspicion?.stop()
    Object.assign(cur, {
      name: u.n,
      id: u.i,
      host: u.h,
      port: u.p,
      gen: u.g,
      inc: u.c,
      status: 'alive',
      suspicion: undefined,
    })
    if (wasSuspect) this.log.debug(`${u.n} (${u.u}) is alive again`)
    this.enqueue(u)
    this.changed()
  }

  /**
   * Whether the node may call the URL and the frame address a peer told it about (gossip, push-pull,
   * a registry's answer): both must pass the node's URL guard (http(s) only, the cluster's address
   * ranges), as registered URLs do. Addresses are decided at once; a host name that needs a DNS
   * lookup is checked asynchronously and the update applied again once it passes. A rejected one is
   * counted and dropped.
   */
  private allowed(u: WireMember, relay: boolean): boolean {
    const trust = this.c.trust
    if (!trust) return true
    const key = `${u.u} ${u.h} ${u.p}`
    if (this.allowedAddresses.has(key)) return true
    if (this.checkingAddresses.has(key) || this.checkingAddresses.size >= MAX_URL_CHECKS) return false
    const frameUrl = `http://${u.h.includes(':') ? `[${u.h}]` : u.h}:${u.p}`
    const pass = () => {
      if (this.allowedAddresses.size >= MAX_ALLOWED_ADDRESSES) this.allowedAddresses.clear()
      this.allowedAddresses.add(key)
    }
    const refuse = (err: unknown) => {
      this.counts.urlsRejected++
      this.count(
        'urls_rejected_total',
        'Peer URLs or frame addresses learned from other peers and refused by the URL guard.',
      )
      this.log.debug(`refused ${u.n} (${u.u}, frames at ${u.h}:${u.p}): ${(err as Error).message}`)
    }
    // Addresses (the usual case) are decided at once; a host name may need a DNS lookup.
    try {
      if (
        trust.checkPeerUrlNow(u.u, 'u') !== undefined &&
        trust.checkPeerUrlNow(frameUrl, 'h') !== undefined
      ) {
        pass()
        return true
      }
    } catch (err) {
      refuse(err)
      return false
    }
    this.checkingAddresses.add(key)
    Promise.all([trust.checkPeerUrl(u.u, 'u'), trust.checkPeerUrl(frameUrl, 'h')]).then(
      () => {
        this.checkingAddresses.delete(key)
        pass()
        if (this.running) this.applyAlive(u, relay)
      },
      (err: unknown) => {
        this.checkingAddresses.delete(key)
        refuse(err)
      },
    )
    return false
  }

  private admit(u: WireMember, kind: MemberKind, relay = true): void {
    this.members.set(u.u, {
      name: u.n,
      url: u.u,
      id: u.i,
      host: u.h,
      port: u.p,
      gen: u.g,
      inc: u.c,
      status: 'alive',
      kind,
      httpFailures: 0,
    })
    this.count('joins_total', 'Members added to the view.')
    ;(this.o.registry ? this.log.info : this.log.debug).call(this.log, `${u.n} joined (${u.u})`)
    if (kind === 'frames' && (relay || this.queued.size < MAX_UPDATES_PER_FRAME))
      this.enqueue({ ...u, s: 'a' })
    this.changed()
  }

  private applySuspect(u: WireMember, sender?: string): void {
    const cur = this.members.get(u.u)
    if (!cur || cur.kind !== 'frames' || cur.id !== u.i || cmp(u, cur) < 0) return
    // Who suspects it: the name the update carries, else (an older peer) whoever sent it.
    this.suspect(cur, u.c, u.f ?? sender ?? '?')
  }

  /**
   * `from` suspects `m` at incarnation `inc`. A new suspicion starts Lifeguard's timer (long, and
   * longer while this node is unhealthy itself); one already running at that incarnation counts
   * `from` as a confirmation, and a new confirmation is passed on so that others count it too.
   */
  private suspect(m: Member, inc: number, from: string): void {
    if (m.status === 'suspect' && m.suspicion && m.inc === inc && cmp({ gen: m.gen, inc }, m) === 0) {
      if (m.suspicion.confirm(from)) this.enqueue(this.wire(m, 's', from))
      return
    }
    m.status = 'suspect'
    m.inc = inc
    m.suspicion?.stop()
    const at = { gen: m.gen, inc: m.inc }
    const { k, minMs, maxMs } = suspicionBounds(
      this.members.size + 1,
      this.o.suspicionMult,
      this.o.suspicionMaxTimeoutMult,
      this.o.probeIntervalMs,
    )
    m.suspicion = new Suspicion({
      clock: this.c.clock,
      k,
      minMs,
      maxMs,
      from,
      onTimeout: () => {
        const now = this.members.get(m.url)
        if (this.running && now === m && m.status === 'suspect' && cmp(m, at) === 0)
          this.declareDead(m, 'its suspicion timed out')
      },
    })
    this.counts.suspected++
    this.count('suspected_total', 'Members this node marked suspect.')
    this.log.debug(`${m.name} (${m.url}) is suspect (${from} says so)`)
    this.enqueue(this.wire(m, 's', from))
    this.changed()
  }

  private applyDead(u: WireMember, why = 'gossip says so'): void {
    const cur = this.members.get(u.u)
    if (!cur) {
      // Remember it anyway, so that an older alive still in flight does not bring it back.
      const tomb = this.dead.get(u.u)
      if (!tomb || cmp(u, tomb) > 0)
        this.bury(u.u, { name: u.n, id: u.i, host: u.h, port: u.p, gen: u.g, inc: u.c })
      return
    }
    if (cur.kind !== 'frames' || cur.id !== u.i || cmp(u, cur) < 0) return
    cur.inc = u.c
    this.declareDead(cur, why)
  }

  private declareDead(m: Member, why: string): void {
    m.suspicion?.stop()
    this.members.delete(m.url)
    this.bury(m.url, m)
    this.counts.declaredDead++
    this.count('removed_total', 'Members removed from the view as dead.')
    ;(this.o.registry ? this.log.info : this.log.debug).call(this.log, `${m.name} (${m.url}) removed: ${why}`)
    if (m.kind === 'frames') this.enqueue(this.wire(m, 'd'))
    this.changed()
  }

  /** Remembers `url` as dead; the table is bounded like the view (the oldest go first). */
  private bury(url: string, m: Omit<Tombstone, 'at'>): void {
    this.dead.delete(url)
    if (this.dead.size >= MAX_MEMBERS) this.dead.delete(this.dead.keys().next().value!)
    const { name, id, host, port, gen, inc } = m
    this.dead.set(url, { name, id, host, port, gen, inc, at: this.c.clock.now() })
  }

  private tombstoneWire(url: string, t: Tombstone): WireMember {
    return { s: 'd', n: t.name, u: url, i: t.id, h: t.host, p: t.port, g: t.gen, c: t.inc }
  }

  private pruneTombstones(): void {
    const cutoff = this.c.clock.now() - this.o.deadRetentionMs
    for (const [url, t] of this.dead) if (t.at < cutoff) this.dead.delete(url)
  }

  // ---- the gossip queue: updates leave with the fewest transmissions first ----

  private retransmitLimit(): number {
    return this.o.retransmitMult * Math.ceil(Math.log10(this.members.size + 2))
  }

  private reregisterDelayMs(): number {
    return Math.floor((0.5 + this.o.random()) * this.scaledByView(this.o.reregisterIntervalMs))
  }

  private pushPullIntervalMs(): number {
    return this.scaledByView(this.o.pushPullIntervalMs)
  }

  /** memberlist's pushPullScale: `ms` up to 32 members, then × (ceil(log2 n − log2 32) + 1). */
  private scaledByView(ms: number): number {
    const n = this.members.size + 1
    const t = PUSH_PULL_SCALE_THRESHOLD
    const scale = n <= t ? 1 : Math.ceil(Math.log2(n) - Math.log2(t)) + 1
    return ms * scale
  }

  private enqueue(update: Update): void {
    const key = update.s === 'm' ? `m:${update.m}` : update.u
    const old = this.queued.get(key)
    if (old) this.buckets[old.sent]?.delete(key)
    this.queued.set(key, { update, json: JSON.stringify(update), sent: 0 })
    ;(this.buckets[0] ??= new Set()).add(key)
    if (this.queued.size > FEEDBACK_MIN_QUEUED) this.backlog = true
  }

  /**
   * Another peer told us what we already queued to tell: the rumor is spreading without us
   * (rumor mongering with feedback and a counter, Demers et al. 1987), so after FEEDBACK_HEARINGS
   * such hearings it stops being sent. Without it a mass join of a thousand peers re-sent each of a
   * million known (member, peer) facts the full retransmit limit. Only while the queue holds more
   * than FEEDBACK_MIN_QUEUED updates (a backlog, as in a mass join): a few updates (one join, one
   * failure) go out the full limit, as memberlist sends them. Push-pull repairs anything missed.
   */
  private heardAgain(key: string): void {
    if (this.queued.size <= FEEDBACK_MIN_QUEUED) return
    const q = this.queued.get(key)
    if (!q || q.update.s === 'm') return
    const limit = this.retransmitLimit()
    this.buckets[q.sent]?.delete(key)
    q.sent += Math.ceil(limit / FEEDBACK_HEARINGS)
    if (q.sent >= limit) this.queued.delete(key)
    else (this.buckets[q.sent] ??= new Set()).add(key)
  }

  /** Takes updates for one frame, up to the byte budget, and counts them as sent once more. */
  private piggyback(): Update[] | undefined {
    if (this.queued.size === 0) return undefined
    const taken: string[] = []
    let bytes = 0
    outer: for (const bucket of this.buckets) {
      if (!bucket) continue
      for (const key of bucket) {
        const q = this.queued.get(key)!
        if (bytes + q.json.length + 1 > this.o.maxPiggybackBytes) {
          if (taken.length > 0) break outer
          continue
        }
        taken.push(key)
        bytes += q.json.length + 1
        if (taken.length >= MAX_UPDATES_PER_FRAME) break outer
      }
    }
    const limit = this.retransmitLimit()
    const out: Update[] = []
    for (const key of taken) {
      const q = this.queued.get(key)!
      out.push(q.update)
      this.buckets[q.sent]!.delete(key)
      q.sent++
      if (q.sent >= limit) this.queued.delete(key)
      else (this.buckets[q.sent] ??= new Set()).add(key)
    }
    return out.length > 0 ? out : undefined
  }

  // ---- picking members ----

  private live(): Member[] {
    this.liveCache ??= [...this.members.values()].filter((m) => m.kind === 'frames')
    return this.liveCache
  }

  private randomMembers(k: number, exclude?: string): Member[] {
    const pool = this.live()
    const out: Member[] = []
    if (pool.length === 0) return out
    if (pool.length <= k + 1) {
      for (const m of pool) if (m.url !== exclude && out.length < k) out.push(m)
      return out
    }
    const picked = new Set<number>()
    for (let tries = 0; out.length < k && tries < k * 4; tries++) {
      const i = Math.floor(this.o.random() * pool.length)
      if (picked.has(i) || pool[i]!.url === exclude) continue
      picked.add(i)
      out.push(pool[i]!)
    }
    return out
  }

  private send(
    m: { name: string; host: string; port: number },
    type: string,
    body: unknown,
    tcp = false,
  ): void {
    const address: PeerAddress = { host: m.host, port: m.port }
    this.c.send(m.name, type, body, { address, transport: tcp ? 'tcp' : 'udp' }).catch((err: unknown) => {
      this.log.debug(`${type} to ${m.name} failed: ${(err as Error).message}`)
    })
  }

  /** A TCP answer to the address a frame asked for: sent when the URL guard allows that address. */
  private sendChecked(to: { name: string; host: string; port: number }, type: string, body: unknown): void {
    const known = this.live().some((m) => m.host === to.host && m.port === to.port)
    if (known || !this.c.trust) return this.send(to, type, body, true)
    this.c.trust
      .checkPeerUrl(`http://${to.host.includes(':') ? `[${to.host}]` : to.host}:${to.port}`, 'from')
      .then(
        () => this.send(to, type, body, true),
        () => {
          this.counts.urlsRejected++
          this.count(
            'urls_rejected_total',
            'Peer URLs or frame addresses learned from other peers and refused by the URL guard.',
          )
        },
      )
  }

  // ---- failure detection (SWIM) ----

  private nextProbeTarget(): Member | undefined {
    const size = this.members.size
    for (let i = 0; i <= size; i++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = [...this.members.keys()]
        for (let j = this.probeOrder.length - 1; j > 0; j--) {
          const k = Math.floor(this.o.random() * (j + 1))
          ;[this.probeOrder[j], this.probeOrder[k]] = [this.probeOrder[k]!, this.probeOrder[j]!]
        }
        this.probeIndex = 0
        if (this.probeOrder.length === 0) return undefined
      }
      const m = this.members.get(this.probeOrder[this.probeIndex++]!)
      if (m && m.kind !== 'unverified') return m
    }
    return undefined
  }

  private probeRound(): void {
    this.pruneTombstones()
    const target = this.nextProbeTarget()
    if (!target) return
    if (target.kind === 'http') void this.probeHttp(target)
    else void this.probe(target)
  }

  /**
   * Waits for the ack of probe `seq`. When the timer fires, the decision waits until the pending
   * input has been read (setImmediate runs after the poll phase), and a timer that fired late
   * (this process was too busy to keep time: many nodes in one process, a stalled machine) waits
   * once more instead of blaming the peer for our own slowness.
   */
  private waitAck(seq: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let rearms = 0
      const arm = () => {
        const due = this.c.clock.now() + ms
        const timer = this.c.clock.setTimeout(() => {
          const late = this.c.clock.now() - due
          setImmediate(() => {
            if (this.acks.get(seq)?.resolve !== resolve) return
            if (this.running && late > ms / 2 && rearms++ < MAX_LATE_REARMS) return arm()
            this.acks.delete(seq)
            resolve(false)
          })
        }, ms)
        this.acks.set(seq, { resolve, timer })
      }
      arm()
    })
  }

  /** Lifeguard's local health: a node that misses acks and nacks slows its own probing down. */
  private adjustHealth(delta: number): void {
    this.awareness.apply(delta)
  }

  private scaled(ms: number): number {
    return this.awareness.scale(ms)
  }

  private async probe(target: Member): Promise<void> {
    this.counts.probes++
    const seq = ++this.seq
    const timeout = this.scaled(this.o.probeTimeoutMs)
    const direct = this.waitAck(seq, timeout)
    this.send(target, 'ping', { seq, u: this.withBuddy(target) })
    if (await direct) return this.adjustHealth(-1)
    if (!this.running || this.members.get(target.url) !== target) return
    // No ack in time: ask k others to probe it for us, and try once more ourselves.
    this.counts.indirectProbes++
    const seq2 = ++this.seq
    const indirect = this.waitAck(seq2, Math.max(this.scaled(this.o.probeIntervalMs) - timeout, timeout))
    const t = { n: target.name, h: target.host, p: target.port }
    const helpers = this.randomMembers(this.o.indirectChecks, target.url)
    this.nacks.set(seq2, 0)
    for (const helper of helpers) this.send(helper, 'ping-req', { seq: seq2, t, u: this.piggyback() })
    this.send(target, 'ping', { seq: seq2, u: this.withBuddy(target) })
    const ok = await indirect
    const nacks = this.nacks.get(seq2) ?? 0
    this.nacks.delete(seq2)
    if (ok) return
    // Helpers that did not even say "no answer" point at us, not at the target; with no helper to
    // ask, a failed probe counts against us as well (memberlist does the same).
    this.adjustHealth(helpers.length === 0 ? 1 : Math.max(0, helpers.length - nacks))
    if (!this.running || this.members.get(target.url) !== target) return
    // Already suspect (at this incarnation): our own failed probe is an independent confirmation.
    this.suspect(target, target.inc, this.selfInfo!.name)
  }

  /**
   * The piggybacked updates of a ping, with (Lifeguard's buddy system) the target's own suspicion
   * first when this node suspects it: the target learns it at once and can refute, instead of
   * waiting for the gossip to reach it.
   */
  private withBuddy(target: Member): Update[] | undefined {
    const u = this.piggyback()
    if (target.status !== 'suspect') return u
    const out = u ?? []
    if (out.length >= MAX_UPDATES_PER_FRAME) out.pop()
    out.unshift(this.wire(target, 's', this.selfInfo!.name))
    return out
  }

  /** A foreign seed-002 peer: GET / must answer; three failures in a row and it is forgotten. */
  private async probeHttp(m: Member): Promise<void> {
    this.counts.probes++
    const ok = await fetch(`${m.url}/`, {
      signal: AbortSignal.timeout(this.o.httpTimeoutMs),
      redirect: 'manual',
    }).then(
      (r) => r.ok,
      () => false,
    )
    if (!this.running || this.members.get(m.url) !== m) return
    if (ok) m.httpFailures = 0
    else if (++m.httpFailures >= this.o.verifyAttempts) this.declareDead(m, 'GET / stopped answering')
  }

  // ---- gossip and push-pull ----

  private gossipRound(): void {
    for (const m of this.queued.size > 0 ? this.randomMembers(this.o.gossipFanout) : []) {
      const u = this.piggyback()
      if (!u) break
      this.counts.gossipSent++
      this.send(m, 'gossip', { u })
    }
    // (Drained by sending, or by feedback since the last round.)
    if (this.queued.size === 0 && this.backlog) {
      // A backlog just drained, cut short by feedback: rumor mongering leaves a few peers
      // uninformed, and anti-entropy repairs them (Demers et al.). Swap views with one member now
      // rather than at the next push-pull round, up to half a minute away in a large overlay.
      this.backlog = false
      const [m] = this.randomMembers(1)
      if (m) this.pushPull(m)
    }
  }

  private state(): WireMember[] {
    const out: WireMember[] = this.o.registry ? [] : [this.selfWire()]
    for (const m of this.members.values())
      if (m.kind === 'frames' && out.length <= MAX_MEMBERS) out.push(this.wire(m))
    return out
  }

  /**
   * The view a push-pull carries: state() and the members this node removed as dead (memberlist
   * sends its dead members too until it forgets them). A member that never hears the death by
   * gossip (the registry, which no member gossips to; a member that lost every copy) learns it at
   * its next push-pull. The digest leaves them out: views that agree on the living do not swap.
   */
  private pushPullView(): WireMember[] {
    const out = this.state()
    for (const [url, t] of this.dead) {
      if (out.length > MAX_MEMBERS) break
      out.push(this.tombstoneWire(url, t))
    }
    return out
  }

  /** state() as JSON, rebuilt when the view changed and the last build is older than STATE_JSON_MAX_AGE_MS. */
  private stateJson(): string {
    const now = this.c.clock.now()
    const cache = this.stateCache
    if (cache && (cache.version === this.version || now - cache.at < STATE_JSON_MAX_AGE_MS)) return cache.json
    this.stateCache = { version: this.version, at: now, json: JSON.stringify(this.state()) }
    return this.stateCache.json
  }

  private pushPullRound(): void {
    const [m] = this.randomMembers(1)
    if (m) this.pushPull(m)
    this.after(Math.floor((0.5 + this.o.random() / 2) * this.pushPullIntervalMs()), () =>
      this.pushPullRound(),
    )
  }

  /**
   * Push-pull in two steps: the digest of this view first, the whole views only when the digests
   * differ. memberlist sends whole views every time; a thousand converged peers then moved ~10 kB
   * per peer per second of identical lists (at 150 bytes a member), where a digest is 40 bytes.
   */
  private pushPull(m: { name: string; host: string; port: number }): void {
    this.counts.pushPulls++
    const s = this.selfInfo!
    this.send(m, 'pp', { d: this.digest(), from: { h: s.host, p: s.framePort } }, true)
  }

  /** An order-free digest of the view (this node included): the same views give the same digest. */
  private digest(): string {
    const s = this.selfInfo!
    const key = `${this.version}:${s.inc}`
    if (this.digestCache?.key === key) return this.digestCache.d
    const lines = this.state().map((m) => `${m.u} ${m.g} ${m.c} ${m.s}`)
    lines.sort()
    const h = createHash('sha1')
    for (const l of lines) h.update(l).update('\n')
    const d = `${lines.length}:${h.digest('base64url')}`
    this.digestCache = { key, d }
    return d
  }

  /**
   * The members of this view (this node included) that `theirs` lacks, holds at an older version,
   * or holds in another state. In a mass join the answer to a whole view is then a few members, not
   * a thousand.
   */
  private missingFrom(theirs: WireMember[]): WireMember[] {
    const known = new Map<string, WireMember>()
    for (const t of theirs) known.set(t.u, t)
    const out = this.state().filter((m) => {
      const t = known.get(m.u)
      return !t || cmp(m, t) > 0 || (cmp(m, t) === 0 && t.s !== m.s)
    })
    // And the deaths of members they still hold.
    for (const [url, dead] of this.dead) {
      const t = known.get(url)
      if (t && t.s !== 'd' && t.i === dead.id && cmp(dead, t) >= 0 && out.length <= MAX_MEMBERS)
        out.push(this.tombstoneWire(url, dead))
    }
    return out
  }

  /**
   * A peer's whole view. A death in it is final, as one in gossip is. (memberlist only suspects a
   * member that a push-pull reports dead; but the registry hears deaths in no other way, and a
   * suspicion begun there, with nobody to confirm it, waited out its whole maximum after the member
   * was already gone everywhere else. A stale death cannot win: a restart has a newer generation,
   * a refutation a higher incarnation, and either readmits a member buried by mistake.) A death of
   * a member not in this view is not remembered here: passed on from view to view, each holder
   * remembering it anew, it would never be forgotten.
   */
  private merge(list: WireMember[], sender: string): void {
    for (const u of list) {
      if (u.s !== 'd') this.apply(u.s === 's' ? u : { ...u, s: 'a' }, false, sender)
      else if (u.u === this.selfInfo?.url) this.aboutSelf(u)
      else if (this.members.has(u.u)) this.applyDead(u, `${sender} reports it dead`)
    }
  }

  // ---- frames ----

  handle(env: Envelope, msg: InboundMessage): void {
    if (!this.running) return
    const from = { name: env.src, host: msg.from.host, port: msg.from.port }
    switch (env.type) {
      case 'ping': {
        const b = checkProbe(env.body)
        b.u?.forEach((u) => this.apply(u, true, env.src))
        this.send(from, 'ack', { seq: b.seq, u: this.piggyback() })
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
      case 'ping-req': {
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
        return
      }
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
      case 'pp-ack': {
        const b = checkPushPull(env.body)
        if (b.m) this.merge(b.m, env.src)
        const s = this.selfInfo!
        if (env.type === 'pp' && b.from) {
          // A digest alone: answer with ours if equal, else with our view and a request for theirs.
          // A whole view (an older peer): answer with ours, as memberlist does.
          this.counts.pushPulls++
          const to = { name: env.src, host: b.from.h, port: b.from.p }
          const d = this.digest()
          if (!b.m && b.d === d) this.sendChecked(to, 'pp-ack', { d })
          else if (!b.m)
            this.sendChecked(to, 'pp-ack', {
              m: this.pushPullView(),
              d,
              w: 1,
              from: { h: s.host, p: s.framePort },
            })
          else this.sendChecked(to, 'pp-ack', { m: this.pushPullView() })
        } else if (env.type === 'pp-ack' && b.w === 1 && b.from && b.m) {
          // Their view is in hand: send back only what it lacks or holds older.
          const m = this.missingFrom(b.m)
          if (m.length > 0) this.sendChecked({ name: env.src, host: b.from.h, port: b.from.p }, 'pp', { m })
        }
        return
      }
      default:
        if (env.type.startsWith(BROADCAST_TYPE_PREFIX))
          this.p2pBroadcast().handle({ ...env, type: env.type.slice(BROADCAST_TYPE_PREFIX.length) }, msg)
        else this.c.dropped(env, 'unknown_type')
    }
  }

  // ---- joining: register with the bootstrap (or a seed peer), then swap views with a member ----

  private async join(): Promise<void> {
    const targets = [this.o.bootstrapUrl, this.o.seedUrl].filter((u): u is string => !!u)
    for (let attempt = 1; attempt <= this.o.joinAttempts && this.running; attempt++) {
      const results = await Promise.all(targets.map((t) => this.register(t, false)))
      // Joined once some member is known: from the answer, or from others who learned of this node
      // (the registry took a registration whose answer came too late) and probed or gossiped to it.
      // Then swap views with a few members, since the registry's list may lag (it checks each URL
      // first). Registered but still alone (the answer was empty: the first peer, or a registry that
      // went on to drop this URL when its checks timed out on a loaded machine) is not joined: no
      // one may know this node, so it asks again rather than wait for a re-registration.
      if (this.members.size > 0) {
        const swaps = this.members.size <= PUSH_PULL_SCALE_THRESHOLD ? JOIN_PUSH_PULLS_SMALL : JOIN_PUSH_PULLS
        for (const m of this.randomMembers(swaps)) this.pushPull(m)
        return
      }
      const note = results.some(Boolean)
        ? `registered with ${targets.join(' and ')}; no member known yet (attempt ${attempt} of ${this.o.joinAttempts})`
        : `could not register with ${targets.join(' or ')} (attempt ${attempt} of ${this.o.joinAttempts})`
      if (!results.some(Boolean) && (attempt === 1 || attempt === this.o.joinAttempts)) this.log.warn(note)
      else this.log.debug(note)
      // Back off with jitter: a thousand peers retrying in step keep an overloaded registry overloaded.
      await this.sleep(this.joinRetryDelayMs(attempt))
    }
  }

  /** The wait before join attempt `attempt` + 1: joinRetryMs doubling up to JOIN_BACKOFF_MAX_FACTOR times, ±50%. */
  private joinRetryDelayMs(attempt: number): number {
    const backoff = Math.min(2 ** (attempt - 1), JOIN_BACKOFF_MAX_FACTOR)
    return Math.round(this.o.joinRetryMs * backoff * (0.5 + this.o.random()))
  }

  /** POST /register at `target`; merges the member list it answers with. */
  private async register(target: string, quiet: boolean): Promise<boolean> {
    return registerGate.run(() => this.registerNow(target, quiet))
  }

  private async registerNow(target: string, quiet: boolean): Promise<boolean> {
    if (!this.running) return false
    const s = this.selfInfo!
    try {
      const res = await fetch(`${target}/register`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/json', ...this.c.trust?.httpHeaders() },
        body: JSON.stringify({ url: s.url, name: s.name, quiet, members: true }),
        // Longer than other calls: a registry swamped by a mass join answers late rather than never,
        // and an abandoned request is work it did for nothing.
        signal: AbortSignal.timeout(this.o.httpTimeoutMs * REGISTER_TIMEOUT_FACTOR),
      })
      if (!res.ok) {
        this.log.debug(`${target}/register answered ${res.status}`)
        return false
      }
      const body = (await res.json()) as { members?: unknown }
      try {
        this.merge(checkPushPull({ m: body.members ?? [] }).m ?? [], 'registry')
      } catch {
        this.log.debug(`${target}/register answered a member list that does not parse`)
      }
      return true
    } catch (err) {
      this.log.debug(`${target}/register failed: ${(err as Error).message}`)
      return false
    }
  }

  // ---- the registry side of POST /register ----

  private async verify(url: string): Promise<void> {
    try {
      for (let attempt = 1; attempt <= this.o.verifyAttempts && this.running; attempt++) {
        if (!this.pendingVerify.has(url)) return
        while (this.verifying >= this.o.verifyConcurrency && this.running)
          await new Promise<void>((r) => this.verifyWaiters.push(r))
        this.verifying++
        let verdict: 'frames' | 'http' | 'none'
        let info: SelfInfo | undefined
        try {
          ;[verdict, info] = await this.check(url)
        } finally {
          this.verifying--
          this.verifyWaiters.shift()?.()
        }
        if (!this.running || !this.pendingVerify.has(url)) return
        const cur = this.members.get(url)
        if (verdict === 'frames' && info && !info.registry && info.url === url) {
          this.pendingVerify.delete(url)
          if (cur?.kind === 'unverified') this.members.delete(url)
          this.dead.delete(url)
          this.apply({
            s: 'a',
            n: info.name,
            u: url,
            i: info.id,
            h: info.host,
            p: info.framePort,
            g: info.gen,
            c: info.inc,
          })
          return
        }
        if (verdict === 'http') {
          this.pendingVerify.delete(url)
          if (cur?.kind === 'unverified') {
            cur.kind = 'http'
            this.changed()
          }
          return
        }
        if (attempt < this.o.verifyAttempts) await this.sleep(this.o.verifyRetryMs)
      }
      const cur = this.members.get(url)
      this.pendingVerify.delete(url)
      if (cur?.kind === 'unverified') {
        this.members.delete(url)
        this.counts.registrationsDropped++
        this.count('registrations_dropped_total', 'Registered URLs dropped because they did not answer.')
        this.log.info(`dropped ${url}: it did not answer ${this.o.verifyAttempts} checks`)
        this.changed()
      }
    } finally {
      this.pendingVerify.delete(url)
    }
  }

  /** Asks a registered URL who it is: a distlab peer answers GET /membership/self, a seed-002 peer GET /. */
  private async check(url: string): Promise<['frames' | 'http' | 'none', SelfInfo?]> {
    const signal = AbortSignal.timeout(this.o.httpTimeoutMs)
    try {
      await this.c.trust?.checkPeerUrl(url) // no request forgery: only the cluster's address ranges
      const res = await fetch(`${url}/membership/self`, { signal, redirect: 'manual' })
      if (res.ok) {
        const info = SelfInfoSchema.safeParse(await res.json())
        if (info.success) return ['frames', info.data]
      } else await res.body?.cancel()
      const root = await fetch(`${url}/`, { signal, redirect: 'manual' })
      await root.body?.cancel()
      return [root.ok ? 'http' : 'none']
    } catch {
      return ['none']
    }
  }

  private rejected(
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    error: string,
    message: string,
    field?: string,
  ) {
    this.c.metrics.inc('distlab_http_rejected_total', 'HTTP requests rejected, by reason.', {
      route: req.routeOptions.url ?? 'unknown',
      reason: error,
    })
    return reply.code(status).send(field ? { error, message, field } : { error, message })
  }

  // ---- HTTP: seed 002's /register and /peers, plus distlab's own ----

  routes(app: FastifyInstance): void {
    app.get('/peers', async () => ({ peers: this.peers() }))

    app.post('/register', { bodyLimit: MAX_REGISTER_BODY_BYTES }, async (req, reply) => {
      const parsed = parseBody(RegisterBody, req.body ?? {})
      // Fields besides url/peer are ignored unless they are distlab's own and well-formed.
      const body = {
        url: parsed.url,
        peer: parsed.peer,
        name: typeof parsed.name === 'string' && parsed.name.length <= 128 ? parsed.name : undefined,
        quiet: parsed.quiet === true,
        members: parsed.members === true,
      }
      const field = body.url !== undefined ? 'url' : 'peer'
      const raw = body.url ?? body.peer
      if (raw === undefined) throw new HttpBodyError('url is required: {"url": "http://node1:5000"}', 'url')
      let url: string
      try {
        url = normalizePeerUrl(raw, field)
      } catch (err) {
        throw new HttpBodyError((err as Error).message, field)
      }
      if (url === this.selfInfo?.url) throw new HttpBodyError(`${field} is this node's own URL`, field)
      await this.c.trust?.checkPeerUrl(url, field) // 400 peer_url_rejected outside the cluster's ranges
      const known = this.members.get(url)
      if (!known) {
        if (!this.bucket.take()) {
          this.counts.registrationsRejected++
          return this.rejected(
            req,
            reply,
            429,
            'too_many_registrations',
            'too many registrations; try again in a second',
          )
        }
        if (this.members.size >= MAX_MEMBERS || this.pendingVerify.size >= this.o.maxPendingVerifications) {
          this.counts.registrationsRejected++
          return this.rejected(
            req,
            reply,
            429,
            'registry_full',
            'too many peers waiting to be checked; try again later',
          )
        }
        this.members.set(url, {
          name: body.name ?? url,
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
      // A member registering again may have restarted with a new id: check it again (once at a time).
      if ((!known || (known.kind === 'frames' && body.quiet !== true)) && !this.pendingVerify.has(url)) {
        this.pendingVerify.add(url)
        void this.verify(url)
      }
      this.counts.registrations++
      this.count('registrations_total', 'POST /register requests accepted.')
      if (body.quiet) return { status: 'registered', url }
      // Seed 002's answer: the peers. distlab's own nodes ask for the compact member list too
      // (`"members": true`), saving a second request during a mass join; anyone else reads it at
      // GET /membership/members.
      if (!body.members) return { status: 'registered', url, peers: this.peers().filter((p) => p !== url) }
      // The member list is the bulk of the answer: serialized once and shared by the registrations
      // that arrive while it is fresh (a thousand peers registering at once each used to get their
      // own 150 kB list built, which made the registry miss its accept backlog). The registrant's
      // own entry stays in it; it ignores what the list says about itself being alive.
      const peers = this.peers().filter((p) => p !== url)
      return reply
        .type('application/json')
        .send(
          `{"status":"registered","url":${JSON.stringify(url)},"peers":${JSON.stringify(peers)},"members":${this.stateJson()}}`,
        )
    })

    app.get('/membership/self', async () => this.selfInfo)

    // The compact member list a registration hands distlab's own nodes (short keys: see wire.ts).
    app.get('/membership/members', async (_req, reply) =>
      reply.type('application/json').send(`{"members":${this.stateJson()}}`),
    )

    app.get('/membership', async () => ({
      self: this.selfInfo,
      members: this.memberList(),
      stats: this.stats(),
    }))

    app.post('/p2p/send', async (req, reply) => {
      const { to, msg } = parseBody(SendBody, req.body)
      const target = [...this.members.values()].find(
        (m) => m.kind !== 'unverified' && (m.name === to || m.url === to),
      )
      if (!target)
        return this.rejected(
          req,
          reply,
          404,
          'unknown_peer',
          `${to} is not in ${this.c.self.name}'s view`,
          'to',
        )
      const r = await this.sendMessage(target.url, msg)
      if (!r.ok)
        return this.rejected(
          req,
          reply,
          502,
          'unreachable',
          `${target.name} (${target.url}) did not take the message: ${r.why}`,
        )
      return { status: 'sent', to: target.name, url: target.url, reply: r.reply } satisfies SendResult
    })

    app.post('/p2p/broadcast', async (req) => {
      const { msg } = parseBody(BroadcastBody, req.body)
      return this.broadcast(msg)
    })
  }

  /** POSTs seed 002's message body to a peer's /message. */
  async sendMessage(
    url: string,
    msg: string,
  ): Promise<{ ok: true; reply: unknown } | { ok: false; why: string }> {
    try {
      await this.c.trust?.checkPeerUrl(url)
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

  // ---- broadcast through the broadcast module, over this node's p2p view ----

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
  private p2pBroadcast(): Broadcast {
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

  private remember(id: string): boolean {
    if (this.seen.has(id)) return false
    this.seen.add(id)
    if (this.seen.size > SEEN_MESSAGES) this.seen.delete(this.seen.values().next().value!)
    return true
  }

  private applyMessage(u: WireMessage): void {
    if (!this.remember(u.m)) return
    named(this.c.logger, 'distlab:http').info(`Received message from ${u.f}: ${u.t}`)
    this.count('broadcasts_delivered_total', 'Broadcast messages delivered to this node.')
    this.enqueue(u)
  }
}
