// Plumtree's peer sets and repair (Leitão, Pereira and Rodrigues, "Epidemic Broadcast Trees", SRDS
// 2007): eager and lazy peers kept in step with the membership, lazy IHAVE announcements, GRAFT to
// pull a missing message (and repair the tree), PRUNE to drop a redundant link, the path
// optimisation of section 3.8, and gap repair of an origin's sequence.
import { crc32 } from 'node:zlib'
import type { Envelope } from '../../core/envelope.js'
import type { ProtocolComponents } from '../../core/interfaces.js'
import type { TimerHandle } from '../../core/clock.js'
import { MASTER_NAME } from '../../core/ids.js'
import * as K from './constants.js'
import type { BroadcastOptions } from './options.js'
import type { Counters, Outbox } from './outbox.js'
import { wireOf, type MessageStore } from './store.js'
import { GraftBody, idOf, nameOf, readIhave, type WireItem } from './wire.js'
import { shuffle } from '../../core/random.js'

export interface TreeHost {
  readonly c: ProtocolComponents
  readonly counters: Counters
  readonly store: MessageStore
  readonly outbox: Outbox
  options(): BroadcastOptions
  running(): boolean
  drop(env: Envelope, reason: string): void
}

/** A pending repair of the seqs of one origin missing in [from, upTo). */
interface GapRepair {
  from: number
  upTo: number
  /** Who to ask next: the sender of the first seq above the gap, then the origin node. */
  askers: string[]
  timer?: TimerHandle
}

export class Plumtree {
  readonly eager = new Set<string>()
  readonly lazy = new Set<string>()
  private readonly known = new Set<string>()
  readonly missing = new Map<string, { announcers: string[]; timer?: TimerHandle; hops: number }>()
  private lazyPending: Array<{ origin: string; seq: number; hops: number; except: string }> = []
  private lazyTimer?: TimerHandle
  private graftTimer?: TimerHandle
  private readonly graftQueue = new Map<string, Array<[string, number]>>()
  // Gap repair: at most one pending repair per origin, whose window later arrivals widen.
  private readonly gapRepairs = new Map<string, GapRepair>()
  private hubCache?: { size: number; hubs: Set<string> }

  constructor(private readonly h: TreeHost) {}

  stop(): void {
    const clock = this.h.c.clock
    for (const t of [this.lazyTimer, this.graftTimer]) if (t) clock.clearTimeout(t)
    this.lazyTimer = this.graftTimer = undefined
    this.graftQueue.clear()
    for (const m of this.missing.values()) if (m.timer) clock.clearTimeout(m.timer)
    this.missing.clear()
    for (const r of this.gapRepairs.values()) if (r.timer) clock.clearTimeout(r.timer)
    this.gapRepairs.clear()
    this.lazyPending = []
  }

  /** `id` arrived: it is no longer missing. */
  arrived(id: string): void {
    const pending = this.missing.get(id)
    if (pending) {
      if (pending.timer) this.h.c.clock.clearTimeout(pending.timer)
      this.missing.delete(id)
    }
  }

  /** Names of the other nodes, syncing the tree's peer sets with the membership. */
  peerNames(): readonly string[] {
    const names = this.h.c.peers()
    for (const p of names) this.notePeer(p)
    if (this.known.size > names.length) {
      const live = new Set(names)
      for (const p of this.known)
        if (!live.has(p)) {
          this.known.delete(p)
          this.eager.delete(p)
          this.lazy.delete(p)
          this.h.outbox.forget(p)
        }
    }
    return names
  }

  /**
   * A new neighbour (Plumtree's NeighborUp) starts on the eager side if it is a hub or this node is;
   * otherwise lazy. Plumtree starts with the whole partial view eager; distlab's view is the whole
   * membership, so the initial eager view is a star around the hubs (the master first), from which
   * pruning leaves a tree of diameter about 2 instead of one shaped by the first broadcasts' races.
   */
  notePeer(p: string): void {
    if (this.known.has(p) || p === this.h.c.self.name) return
    // Only members: a frame's src is a name anyone can write, and these sets must stay bounded.
    if (!this.h.c.peers().includes(p)) return
    this.known.add(p)
    if (this.lazy.has(p) || this.eager.has(p)) return
    const hubs = this.hubs()
    if (hubs.has(p) || hubs.has(this.h.c.self.name)) this.eager.add(p)
    else this.lazy.add(p)
  }

  private hubs(): Set<string> {
    const members = this.h.c.members()
    if (this.hubCache?.size === members.length) return this.hubCache.hubs
    const all = [
      ...members.map((m) => ({ name: m.name, master: m.role === 'master' })),
      { name: this.h.c.self.name, master: this.h.c.self.name === MASTER_NAME },
    ]
    all.sort((a, b) => Number(b.master) - Number(a.master) || crc32(a.name) - crc32(b.name))
    const hubs = new Set(all.slice(0, this.h.options().treeHubs).map((x) => x.name))
    this.hubCache = { size: members.length, hubs }
    return hubs
  }

  /** Plumtree's PRUNE: the link to `peer` leaves the tree (it stays lazy). */
  prune(peer: string, cause: string[]): void {
    this.h.outbox.tally.note('prune', cause, false)
    this.eager.delete(peer)
    this.lazy.add(peer)
    this.h.counters.prunes++
    this.h.outbox.sendFrame(peer, 'prune', {})
  }

  // ---- Plumtree's lazy side ----

  /** Queues an IHAVE for a message this node has just passed on. */
  announce(origin: string, seq: number, hops: number, except: string): void {
    this.lazyPending.push({ origin, seq, hops, except })
    this.scheduleLazyFlush()
  }

  private scheduleLazyFlush(): void {
    if (this.lazyTimer || !this.h.running()) return
    this.lazyTimer = this.h.c.clock.setTimeout(() => {
      this.lazyTimer = undefined
      this.flushLazy()
    }, this.h.options().lazyPushIntervalMs)
  }

  private flushLazy(): void {
    if (!this.h.running() || this.lazyPending.length === 0) return
    const pending = this.lazyPending
    this.lazyPending = []
    this.peerNames()
    const targets = shuffle([...this.lazy]).slice(0, this.h.options().lazyPushFanout)
    for (const p of targets) {
      const mine = pending.filter((x) => x.except !== p && this.h.store.has(x.origin, x.seq))
      for (let at = 0; at < mine.length; at += K.MAX_IDS_PER_FRAME) {
        const part = mine.slice(at, at + K.MAX_IDS_PER_FRAME)
        this.h.outbox.sendFrame(p, 'ihave', {
          i: part.map((x) => [x.origin, x.seq]),
          h: part.map((x) => x.hops),
        })
      }
    }
  }

  onIhave(env: Envelope): void {
    // An announcer the membership does not know could only be grafted from in vain (and each
    // graft to an unknown name would send the node to the master): its IHAVEs are dropped, before
    // their ids are even read.
    if (!this.h.c.peers().includes(env.src)) return this.h.drop(env, 'unknown_peer')
    const r = readIhave(env.body)
    if (!r) return this.h.drop(env, 'bad_body')
    this.notePeer(env.src)
    let full = false
    for (let n = 0; n < r.i.length; n++) {
      const [origin, seq] = r.i[n]!
      const hops = r.h[n]!
      if (this.h.store.has(origin, seq)) {
        this.maybeOptimize(origin, seq, hops, env.src)
        continue
      }
      const id = idOf(origin, seq)
      let m = this.missing.get(id)
      if (!m) {
        // Bounded: beyond the cap new announcements are ignored (anti-entropy repairs what is lost).
        if (this.missing.size >= K.MAX_MISSING) {
          full = true
          continue
        }
        this.missing.set(id, (m = { announcers: [], hops }))
      }
      if (!m.announcers.includes(env.src) && m.announcers.length < K.MAX_ANNOUNCERS_PER_ID)
        m.announcers.push(env.src)
      if (!m.timer)
        m.timer = this.h.c.clock.setTimeout(
          () => this.graftTimeout(origin, seq),
          this.h.options().graftTimeoutMs,
        )
    }
    if (full) this.h.drop(env, 'too_many_missing')
  }

  /** Plumtree 3.8: a much shorter lazy path replaces the eager link the message came by. */
  private maybeOptimize(origin: string, seq: number, lazyHops: number, announcer: string): void {
    const item = this.h.store.item(origin, seq)
    if (!item || item.strategy !== 'tree' || !this.lazy.has(announcer)) return
    if (item.hops - (lazyHops + 1) < K.TREE_OPTIMIZATION_THRESHOLD_HOPS) return
    this.lazy.delete(announcer)
    this.eager.add(announcer)
    this.h.counters.grafts++
    this.h.outbox.sendFrame(announcer, 'graft', { i: [] })
    this.h.outbox.tally.note('graft', [idOf(origin, seq)], false)
    if (item.from && item.from !== announcer && this.eager.has(item.from))
      this.prune(item.from, [idOf(origin, seq)])
  }

  private graftTimeout(origin: string, seq: number): void {
    const id = idOf(origin, seq)
    const m = this.missing.get(id)
    if (!m || !this.h.running()) return
    m.timer = undefined
    if (this.h.store.has(origin, seq)) {
      this.missing.delete(id)
      return
    }
    const peer = m.announcers.shift()
    if (!peer) {
      this.missing.delete(id)
      return
    }
    this.eager.add(peer)
    this.lazy.delete(peer)
    this.h.counters.grafts++
    this.queueGraft(peer, origin, seq)
    m.timer = this.h.c.clock.setTimeout(() => this.graftTimeout(origin, seq), K.GRAFT_RETRY_MS)
  }

  /**
   * Seq `upTo` of `origin` came from `sender` with seqs below it missing here: after graftTimeoutMs
   * (time for reordered frames) one GRAFT asks the sender for those still missing, then the origin
   * node. One repair per origin at a time: arrivals while it waits only widen its window, so a
   * flood of seqs above a gap costs one timer, not one per message. The loss of an origin's last
   * message before it goes quiet is anti-entropy's to find.
   */
  repairGap(origin: string, upTo: number, sender: string): void {
    const log = this.h.store.origins.get(origin)
    if (!log) return
    const pending = this.gapRepairs.get(origin)
    if (pending) {
      pending.upTo = Math.max(pending.upTo, upTo)
      return
    }
    const from = Math.max(log.contiguous, upTo - K.GAP_REPAIR_MAX)
    if (from >= upTo || this.gapRepairs.size >= K.MAX_MISSING) return
    const askers = [sender]
    const originNode = nameOf(origin)
    if (originNode !== sender && originNode !== this.h.c.self.name) askers.push(originNode)
    const repair: GapRepair = { from, upTo, askers }
    this.gapRepairs.set(origin, repair)
    this.scheduleGapRepair(origin, repair, this.h.options().graftTimeoutMs)
  }

  private scheduleGapRepair(origin: string, r: GapRepair, delayMs: number): void {
    r.timer = this.h.c.clock.setTimeout(() => {
      r.timer = undefined
      if (!this.h.running()) return
      const log = this.h.store.origins.get(origin)
      const still = log ? log.seen.missing(r.from, r.upTo, K.GAP_REPAIR_MAX) : []
      const peer = r.askers.shift()
      if (still.length === 0 || !peer || !this.h.c.peers().includes(peer)) {
        this.gapRepairs.delete(origin)
        return
      }
      this.h.counters.grafts++
      this.h.outbox.sendFrame(peer, 'graft', { i: still.map((seq) => [origin, seq]) })
      this.scheduleGapRepair(origin, r, K.GRAFT_RETRY_MS)
    }, delayMs)
  }

  /**
   * GRAFTs that fall due together (the ids of one IHAVE share a deadline) travel in one frame per
   * peer, so a large announcement costs one request back, not one per id.
   */
  private queueGraft(peer: string, origin: string, seq: number): void {
    let ids = this.graftQueue.get(peer)
    if (!ids) this.graftQueue.set(peer, (ids = []))
    ids.push([origin, seq])
    if (this.graftTimer) return
    this.graftTimer = this.h.c.clock.setTimeout(() => {
      this.graftTimer = undefined
      const queue = [...this.graftQueue]
      this.graftQueue.clear()
      if (!this.h.running()) return
      for (const [p, all] of queue)
        for (let at = 0; at < all.length; at += K.MAX_IDS_PER_FRAME)
          this.h.outbox.sendFrame(p, 'graft', { i: all.slice(at, at + K.MAX_IDS_PER_FRAME) })
    }, 0)
  }

  onGraft(env: Envelope): void {
    const r = GraftBody.safeParse(env.body)
    if (!r.success) return this.h.drop(env, 'bad_body')
    if (!this.h.c.peers().includes(env.src)) return this.h.drop(env, 'unknown_peer')
    this.notePeer(env.src)
    this.lazy.delete(env.src)
    this.eager.add(env.src)
    const items: WireItem[] = []
    for (const [origin, seq] of r.data.i) {
      const item = this.h.store.item(origin, seq)
      if (item) items.push(wireOf(item))
    }
    if (items.length) this.h.outbox.sendItems(env.src, items, [], 1)
  }

  onPrune(env: Envelope): void {
    this.notePeer(env.src)
    this.eager.delete(env.src)
    this.lazy.add(env.src)
  }
}
