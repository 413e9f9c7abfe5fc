// The state machine of one member, keyed by its URL (memberlist's state.go): alive, suspect and
// dead updates ordered by generation then incarnation, refutation of what is said about this node,
// Lifeguard's suspicion with confirmations, tombstones, and the URL guard on addresses peers pass on.
import { named } from '../../core/logger.js'
import {
  MAX_MEMBERS,
  MAX_UPDATES_PER_FRAME,
  SEEN_MESSAGES,
  MAX_URL_CHECKS,
  MAX_ALLOWED_ADDRESSES,
  RECENT_REMOVALS,
} from './constants.js'
import { Suspicion, suspicionBounds, type LastCheck } from './suspicion.js'
import { type Update, type WireMember, type WireMessage } from './wire.js'
import { cmp, type MemberKind, type Member, type Tombstone } from './types.js'
import { GossipQueue } from './queue.js'

/** `m` as a peer announced it alive: name, id, address, generation and incarnation (in place). */
function setAlive(m: Member, u: WireMember): void {
  m.name = u.n
  m.id = u.i
  m.host = u.h
  m.port = u.p
  m.gen = u.g
  m.inc = u.c
  m.status = 'alive'
  m.suspicion = undefined
}

/** The frame address a member announces, as the URL guard checks it. */
const frameUrl = (u: WireMember) => `http://${u.h.includes(':') ? `[${u.h}]` : u.h}:${u.p}`

export class MemberStates extends GossipQueue {
  /**
   * `relay` false: the update comes from a whole view (a registry's answer, a push-pull), whose
   * sender already spreads what is news in it; a member first learned that way is queued for gossip
   * here only while the queue holds less than one frame's worth. Without that bound, each of a
   * thousand peers joining at once re-gossiped the hundreds of members its registration answer
   * listed, each the full retransmit limit: millions of datagrams about members everyone was
   * already learning from the same lists.
   */
  protected apply(u: Update, relay = true, sender?: string): void {
    if (u.s === 'm') return this.applyMessage(u)
    if (u.u === this.selfInfo?.url) return this.aboutSelf(u)
    if (u.s === 'a') this.applyAlive(u, relay)
    else if (u.s === 's') this.applySuspect(u, sender)
    else this.applyDead(u)
  }

  /**
   * Someone says something about us: if it is a suspicion or a death, refute it. One of an
   * incarnation already refuted means that whoever passed it on never heard the refutation, whose
   * few transmissions can all be lost (at 30% loss each way, often all those to one member): left
   * unanswered, the suspicion runs out there while this node keeps hearing of it. So the refutation
   * goes out again, a full retransmit limit. Either way `refutedInFrame` is set: the frame's
   * sender, which holds the suspicion, gets the refutation at once (membership.ts's handle).
   */
  protected aboutSelf(u: WireMember): void {
    const s = this.selfInfo!
    if (this.o.registry || u.s === 'a' || u.i !== s.id) return
    this.refutedInFrame = true
    if (cmp(u, s) < 0) {
      this.count(
        'refutations_repeated_total',
        'Refutations of this node sent again: a stale suspicion reached it.',
      )
      return this.enqueue(this.selfWire())
    }
    s.inc = u.c + 1
    this.counts.refuted++
    this.adjustHealth(1)
    this.count('refuted_total', 'Suspicions of this node it refuted.')
    this.log.info(`refuting ${u.s === 'd' ? 'a death' : 'a suspicion'} of this node (incarnation ${s.inc})`)
    this.enqueue(this.selfWire())
  }

  protected applyAlive(u: WireMember, relay = true): void {
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
    // The common case in a mass join (a member heard of again): a lookup and a compare, nothing made.
    const order = cmp(u, cur)
    if (order <= 0) {
      if (order === 0) this.heardAgain(u.u)
      return
    }
    if ((u.h !== cur.host || u.p !== cur.port) && !this.allowed(u, relay)) return
    const wasSuspect = cur.status === 'suspect'
    cur.suspicion?.stop()
    setAlive(cur, u)
    if (wasSuspect && this.log.isLevelEnabled('debug')) this.log.debug(`${u.n} (${u.u}) is alive again`)
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
  protected allowed(u: WireMember, relay: boolean): boolean {
    const trust = this.c.trust
    if (!trust) return true
    // Addresses (the usual case) are decided at once, without building a string: the guard keeps
    // its verdict on each URL, and this node on each frame host (the guard's answer on a frame
    // address depends on its host alone). A host name may need a DNS lookup.
    try {
      if (trust.checkPeerUrlNow(u.u, 'u') !== undefined && this.frameHostNow(u)) return true
    } catch (err) {
      this.refused(u, err)
      return false
    }
    const key = `${u.u} ${u.h} ${u.p}`
    if (this.allowedAddresses.has(key)) return true
    if (this.checkingAddresses.has(key) || this.checkingAddresses.size >= MAX_URL_CHECKS) return false
    this.checkingAddresses.add(key)
    Promise.all([trust.checkPeerUrl(u.u, 'u'), trust.checkPeerUrl(frameUrl(u), 'h')]).then(
      () => {
        this.checkingAddresses.delete(key)
        if (this.allowedAddresses.size >= MAX_ALLOWED_ADDRESSES) this.allowedAddresses.clear()
        this.allowedAddresses.add(key)
        if (this.running) this.applyAlive(u, relay)
      },
      (err: unknown) => {
        this.checkingAddresses.delete(key)
        this.refused(u, err)
      },
    )
    return false
  }

  /** Whether the guard lets frames go to `u`'s frame address now (it throws when it refuses). */
  private frameHostNow(u: WireMember): boolean {
    if (this.allowedFrameHosts.has(u.h)) return true
    if (this.c.trust!.checkPeerUrlNow(frameUrl(u), 'h') === undefined) return false
    if (this.allowedFrameHosts.size >= MAX_ALLOWED_ADDRESSES) this.allowedFrameHosts.clear()
    this.allowedFrameHosts.add(u.h)
    return true
  }

  private refused(u: WireMember, err: unknown): void {
    this.counts.urlsRejected++
    this.count(
      'urls_rejected_total',
      'Peer URLs or frame addresses learned from other peers and refused by the URL guard.',
    )
    if (this.log.isLevelEnabled('debug'))
      this.log.debug(`refused ${u.n} (${u.u}, frames at ${u.h}:${u.p}): ${(err as Error).message}`)
  }

  protected admit(u: WireMember, kind: MemberKind, relay = true): void {
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
    const level = this.o.registry ? 'info' : 'debug'
    if (this.log.isLevelEnabled(level)) this.log[level](`${u.n} joined (${u.u})`)
    // Wire updates are never changed once made (a registry's list is frozen): an alive one is
    // queued as it is.
    if (kind === 'frames' && (relay || this.queued.size < MAX_UPDATES_PER_FRAME))
      this.enqueue(u.s === 'a' ? u : { ...u, s: 'a' })
    this.changed()
  }

  protected applySuspect(u: WireMember, sender?: string): void {
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
  protected suspect(m: Member, inc: number, from: string): void {
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
          this.suspicionExpired(m, 'its suspicion timed out')
      },
      lastCheck: this.lastCheck(m, at),
    })
    this.counts.suspected++
    this.count('suspected_total', 'Members this node marked suspect.')
    if (this.log.isLevelEnabled('debug')) this.log.debug(`${m.name} (${m.url}) is suspect (${from} says so)`)
    this.enqueue(this.wire(m, 's', from))
    this.changed()
  }

  protected applyDead(u: WireMember, why = 'gossip says so'): void {
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

  /** A suspicion of `m` ran out unrefuted, and `m` did not answer the last check: it is removed. */
  protected suspicionExpired(m: Member, why: string): void {
    this.declareDead(m, why)
  }

  /** The last check of `m`, suspect at `at`, before its suspicion buries it (probe.ts); none here. */
  protected lastCheck(_m: Member, _at: { gen: number; inc: number }): LastCheck | undefined {
    return undefined
  }

  protected declareDead(m: Member, why: string): void {
    m.suspicion?.stop()
    this.members.delete(m.url)
    this.bury(m.url, m)
    this.counts.declaredDead++
    if (this.removed.length >= RECENT_REMOVALS) this.removed.shift()
    this.removed.push({ name: m.name, url: m.url, inc: m.inc, at: this.c.clock.now(), why })
    this.count('removed_total', 'Members removed from the view as dead.')
    const level = this.o.registry ? 'info' : 'debug'
    if (this.log.isLevelEnabled(level)) this.log[level](`${m.name} (${m.url}) removed: ${why}`)
    if (m.kind === 'frames') this.enqueue(this.wire(m, 'd'))
    this.changed()
  }

  /** Remembers `url` as dead; the table is bounded like the view (the oldest go first). */
  protected bury(url: string, m: Omit<Tombstone, 'at'>): void {
    this.dead.delete(url)
    if (this.dead.size >= MAX_MEMBERS) this.dead.delete(this.dead.keys().next().value!)
    const { name, id, host, port, gen, inc } = m
    this.dead.set(url, { name, id, host, port, gen, inc, at: this.c.clock.now() })
  }

  protected tombstoneWire(url: string, t: Tombstone): WireMember {
    return { s: 'd', n: t.name, u: url, i: t.id, h: t.host, p: t.port, g: t.gen, c: t.inc }
  }

  protected pruneTombstones(): void {
    const cutoff = this.c.clock.now() - this.o.deadRetentionMs
    for (const [url, t] of this.dead) if (t.at < cutoff) this.dead.delete(url)
  }

  protected remember(id: string): boolean {
    if (this.seen.has(id)) return false
    this.seen.add(id)
    if (this.seen.size > SEEN_MESSAGES) this.seen.delete(this.seen.values().next().value!)
    return true
  }

  protected applyMessage(u: WireMessage): void {
    if (!this.remember(u.m)) return
    named(this.c.logger, 'distlab:http').info(`Received message from ${u.f}: ${u.t}`)
    this.count('broadcasts_delivered_total', 'Broadcast messages delivered to this node.')
    this.enqueue(u)
  }
}
