// The membership protocol's shared state (see membership.ts for the protocol): the view, the
// timers, the counters and the few helpers every part uses (picking members, sending a frame,
// Lifeguard's local health). Each part of the protocol is a layer on top: queue.ts, state.ts,
// probe.ts, pushpull.ts, join.ts, then membership.ts.
import type { PeerAddress, PeerInfo, ProtocolComponents } from '../../core/interfaces.js'
import type { Broadcast } from '../broadcast/index.js'
import type { TimerHandle } from '../../core/clock.js'
import { named, type Logger } from '../../core/logger.js'
import { PUSH_PULL_SCALE_THRESHOLD, MAX_HEALTH } from './constants.js'
import { Awareness } from './awareness.js'
import { TokenBucket } from './registry.js'
import { type SelfInfo, type WireMember } from './wire.js'
import {
  type MemberInfo,
  type Member,
  type Tombstone,
  type Queued,
  type DigestPart,
  type MembershipStats,
  type Removal,
  type ResolvedMembershipOptions,
} from './types.js'

/** The labels of a counter without any (shared, so that counting allocates nothing). */
const NO_LABELS: Record<string, string> = Object.freeze({})

export class MembershipBase {
  protected readonly log: Logger
  protected readonly members = new Map<string, Member>()
  protected readonly dead = new Map<string, Tombstone>()
  protected readonly queued = new Map<string, Queued>()
  protected readonly buckets: Array<Set<string>> = []
  protected readonly acks = new Map<number, { resolve: (ok: boolean) => void; timer: TimerHandle }>()
  protected readonly seen = new Set<string>()
  protected readonly pendingVerify = new Set<string>()
  /** What registrants being checked say they are (their frame address), keyed like pendingVerify. */
  protected readonly claims = new Map<string, WireMember>()
  protected verifying = 0
  protected readonly verifyWaiters: Array<() => void> = []
  protected readonly bucket: TokenBucket
  protected readonly timers = new Set<TimerHandle>()
  protected selfInfo?: SelfInfo
  protected probeOrder: string[] = []
  protected probeIndex = 0
  protected liveCache?: Member[]
  protected liveByName?: Map<string, Member>
  protected livePeers?: PeerInfo[]
  protected bcast?: Broadcast
  /** Bumped at every change of the view. */
  protected version = 0
  /** state() as last built, and its JSON once asked for: shared by the registrations of a window. */
  protected stateCache?: { version: number; at: number; list: readonly WireMember[]; json?: string }
  /** The digest as last built, for this view version and this node's incarnation. */
  protected digestCache?: { version: number; inc: number; d: string }
  /** This node's own share of the digest (pushpull.ts). */
  protected selfDigestPart?: DigestPart
  /** `url host port` of peers the URL guard let through after a DNS lookup, and of those being checked. */
  protected readonly allowedAddresses = new Set<string>()
  /** Frame hosts the URL guard let through at once (an address, a host name it resolved lately). */
  protected readonly allowedFrameHosts = new Set<string>()
  protected readonly checkingAddresses = new Set<string>()
  protected seq = 0
  protected readonly awareness = new Awareness(MAX_HEALTH)
  protected readonly nacks = new Map<number, number>()
  /** The frame being handled said this node is suspect or dead (state.ts's aboutSelf). */
  protected refutedInFrame = false
  /** The gossip queue held more than FEEDBACK_MIN_QUEUED updates since it was last empty. */
  protected backlog = false
  protected running = false
  protected readonly counts: MembershipStats = {
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
  /** The newest RECENT_REMOVALS removals, oldest first. */
  protected readonly removed: Removal[] = []
  protected readonly listeners = new Set<() => void>()

  constructor(
    protected readonly c: ProtocolComponents,
    protected readonly o: ResolvedMembershipOptions,
  ) {
    this.log = named(c.logger, 'distlab:membership')
    this.bucket = new TokenBucket(o.registrationsPerSecond, o.registrationBurst, () => c.clock.now())
  }

  protected after(ms: number, fn: () => void): void {
    if (!this.running) return
    const t = this.c.clock.setTimeout(() => {
      this.timers.delete(t)
      if (this.running) fn()
    }, ms)
    this.timers.add(t)
  }

  protected every(ms: number, fn: () => void): void {
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

  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve()
      this.after(ms, resolve)
    })
  }

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
    return [...this.members.values()].map(({ suspicion: _t, httpFailures: _f, digestPart: _d, ...m }) => m)
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

  /** The members this node removed lately (the newest RECENT_REMOVALS), oldest first. */
  removals(): Removal[] {
    return this.removed.map((r) => ({ ...r }))
  }

  /** Called after every change of the view. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  protected changed(): void {
    this.liveCache = undefined
    this.liveByName = undefined
    this.livePeers = undefined
    this.version++
    for (const fn of this.listeners) fn()
  }

  protected count(name: string, help: string, labels: Record<string, string> = NO_LABELS): void {
    this.c.metrics.inc(`distlab_membership_${name}`, help, labels)
  }

  protected selfWire(): WireMember {
    const s = this.selfInfo!
    return { s: 'a', n: s.name, u: s.url, i: s.id, h: s.host, p: s.framePort, g: s.gen, c: s.inc }
  }

  protected wire(
    m: Member,
    s: 'a' | 's' | 'd' = m.status === 'alive' ? 'a' : 's',
    from?: string,
  ): WireMember {
    const w: WireMember = { s, n: m.name, u: m.url, i: m.id, h: m.host, p: m.port, g: m.gen, c: m.inc }
    if (s === 's' && from !== undefined) w.f = from
    return w
  }

  protected reregisterDelayMs(): number {
    return Math.floor((0.5 + this.o.random()) * this.scaledByView(this.o.reregisterIntervalMs))
  }

  protected pushPullIntervalMs(): number {
    return this.scaledByView(this.o.pushPullIntervalMs)
  }

  /** memberlist's pushPullScale: `ms` up to 32 members, then × (ceil(log2 n − log2 32) + 1). */
  protected scaledByView(ms: number): number {
    const n = this.members.size + 1
    const t = PUSH_PULL_SCALE_THRESHOLD
    const scale = n <= t ? 1 : Math.ceil(Math.log2(n) - Math.log2(t)) + 1
    return ms * scale
  }

  protected live(): Member[] {
    this.liveCache ??= [...this.members.values()].filter((m) => m.kind === 'frames')
    return this.liveCache
  }

  /**
   * Up to `k` distinct members picked at random (memberlist's kRandomNodes), never `exclude`. A
   * small view is shuffled: taking its first k members instead, every gossip round of a five-peer
   * overlay (views of four, fanout three) skipped the member its view had listed last, whose
   * suspicion then reached it only in the suspecter's probes, at times too late to refute; and a
   * member of a three-peer overlay swapped views with the same member every time.
   */
  protected randomMembers(k: number, exclude?: string): Member[] {
    const pool = this.live()
    const out: Member[] = []
    if (pool.length === 0 || k <= 0) return out
    if (pool.length <= 4 * k) {
      const left = exclude === undefined ? pool.slice() : pool.filter((m) => m.url !== exclude)
      for (let i = 0; i < k && i < left.length; i++) {
        const j = i + Math.floor(this.o.random() * (left.length - i))
        ;[left[i], left[j]] = [left[j]!, left[i]!]
        out.push(left[i]!)
      }
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

  protected send(
    m: { name: string; host: string; port: number },
    type: string,
    body: unknown,
    tcp = false,
    replyOn?: PeerAddress,
  ): void {
    const address: PeerAddress = { host: m.host, port: m.port }
    this.c
      .send(m.name, type, body, { address, transport: tcp ? 'tcp' : 'udp', replyOn })
      .catch((err: unknown) => {
        this.log.debug(`${type} to ${m.name} failed: ${(err as Error).message}`)
      })
  }

  /** Lifeguard's local health: a node that misses acks and nacks slows its own probing down. */
  protected adjustHealth(delta: number): void {
    this.awareness.apply(delta)
  }

  protected scaled(ms: number): number {
    return this.awareness.scale(ms)
  }
}
