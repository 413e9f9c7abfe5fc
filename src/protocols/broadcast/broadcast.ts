// Broadcast to every node of the cluster, with four strategies a user can compare:
// - flood: every node forwards each new message to every other node once;
// - gossip: infect-and-die push to ln(N) + c random peers;
// - tree: Plumtree (Leitão, Pereira and Rodrigues, "Epidemic Broadcast Trees", SRDS 2007): eager
//   push along a spanning tree that emerges from pruning duplicate paths, lazy IHAVE announcements
//   to other peers, GRAFT to pull a missing message (and repair the tree), PRUNE to drop a link
//   (tree.ts);
// - ip: one UDP datagram to the broadcast address (ip-socket.ts).
// Under all four, periodic anti-entropy (Demers et al., "Epidemic Algorithms for Replicated
// Database Maintenance", 1987) compares per-origin digests with one random peer, so that every live
// node ends with every message after losses, partitions and crashes; each message is delivered once.
import { randomBytes } from 'node:crypto'
import type { RouteHost } from '../../core/routes.js'
import { BROADCAST_DST, createEnvelope, type Envelope } from '../../core/envelope.js'
import type { InboundMessage, Protocol, ProtocolComponents } from '../../core/interfaces.js'
import type { TimerHandle } from '../../core/clock.js'
import { InvalidArgumentError, NotStartedError } from '../../core/errors.js'
import { named, type Logger } from '../../core/logger.js'
import * as K from './constants.js'
import {
  BroadcastError,
  STRATEGIES,
  TUNABLE,
  resolveBroadcastOptions,
  type BroadcastDelivery,
  type BroadcastOptions,
  type BroadcastResult,
  type BroadcastStats,
  type BroadcastStrategy,
  type BroadcastTuning,
} from './options.js'
import { GotBody, DigestBody, idOf, nameOf, readMsg, type FrameType, type WireItem } from './wire.js'
import { shuffle } from '../../core/random.js'
import { MessageStore, wireOf, type Item } from './store.js'
import { Outbox, newCounters } from './outbox.js'
import { Plumtree } from './tree.js'
import { IpSocket } from './ip-socket.js'
import { answerDigest, digestOf } from './anti-entropy.js'
import { broadcastRoutes } from './routes.js'

/** Bytes of a value's JSON (what MAX_MESSAGE_BYTES and the store's budget count). */
const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v ?? null))

export { ipBindAddress, subnetBroadcastAddress } from './ip-socket.js'

export class Broadcast implements Protocol {
  readonly name = 'broadcast'
  private readonly log: Logger
  private isRunning = false
  private session = ''
  private nextSeq = 0
  private readonly store: MessageStore
  private readonly listeners = new Set<(d: BroadcastDelivery) => void>()
  private readonly counters = newCounters()
  private readonly outbox: Outbox
  private readonly tree: Plumtree
  private readonly ip: IpSocket
  // Anti-entropy pacing.
  /** Last time a push (not an answer to a digest or GRAFT) brought a new message. */
  private lastFreshAt = 0
  private aeRounds = 0
  private aeTimer?: TimerHandle
  /** When the last eviction line was logged. */
  private evictionLoggedAt = -Infinity
  private readonly receipts = new Map<string, (peer: string) => void>()
  /** Peers whose anti-entropy answer stopped short, with the timer of the next digest to them. */
  private readonly pulls = new Map<string, TimerHandle>()

  constructor(
    private readonly c: ProtocolComponents,
    private o: BroadcastOptions,
  ) {
    this.log = named(c.logger, 'distlab:broadcast')
    this.store = new MessageStore(
      { maxStoredMessages: o.maxStoredMessages, maxStoredBytes: o.maxStoredBytes, maxOrigins: K.MAX_ORIGINS },
      () => [...c.peers(), c.self.name],
      (what, n) => this.evictedMetric(what, n),
    )
    // The parts see the state they share through one narrow host, not the class's public face.
    const host = {
      name: this.name,
      c,
      log: this.log,
      counters: this.counters,
      store: this.store,
      options: () => this.o,
      running: () => this.isRunning,
      drop: (env: Envelope, reason: string) => this.drop(env, reason),
      onMsg: (env: Envelope, msg: InboundMessage) => this.onMsg(env, msg),
    }
    this.outbox = new Outbox(host)
    this.tree = new Plumtree({ ...host, outbox: this.outbox })
    this.ip = new IpSocket({ ...host, outbox: this.outbox })
  }

  /** Changes tuning knobs at run time (batching, lazy push, anti-entropy, gossip fanout). */
  configure(change: BroadcastTuning): BroadcastTuning {
    for (const key of Object.keys(change))
      if (!(TUNABLE as readonly string[]).includes(key))
        throw new InvalidArgumentError(`${key} cannot be changed at run time`, key)
    const { ipAddress, ...rest } = this.o
    const next = resolveBroadcastOptions({ ...rest, ...(ipAddress ? { ipAddress } : {}), ...change })
    const aeWasOff = this.o.antiEntropyIntervalMs <= 0
    this.o = next
    if (this.isRunning && aeWasOff && next.antiEntropyIntervalMs > 0) this.scheduleAntiEntropy()
    return this.tuning()
  }

  tuning(): BroadcastTuning {
    return Object.fromEntries(TUNABLE.map((k) => [k, this.o[k]])) as BroadcastTuning
  }

  async start(): Promise<void> {
    if (this.isRunning) return
    this.isRunning = true
    this.session = randomBytes(4).toString('hex')
    this.nextSeq = 0
    // The ip socket opens only once the ip strategy is in use: configured as the default here,
    // used by a broadcast from here, or seen in a message from elsewhere.
    if (this.o.ipPort > 0 && this.o.strategy === 'ip') await this.ip.ensure()
    if (this.o.antiEntropyIntervalMs > 0) this.scheduleAntiEntropy()
  }

  async stop(): Promise<void> {
    if (!this.isRunning) return
    this.isRunning = false
    if (this.aeTimer) this.c.clock.clearTimeout(this.aeTimer)
    this.aeTimer = undefined
    this.tree.stop()
    this.outbox.stop()
    this.receipts.clear()
    for (const t of this.pulls.values()) this.c.clock.clearTimeout(t)
    this.pulls.clear()
    await this.ip.close()
  }

  // ---- the application's side ----

  /** Broadcasts `value` to every node; resolves once this node has it and pushed it on. */
  async broadcast(
    value: unknown,
    options: { strategy?: BroadcastStrategy; durable?: boolean; kind?: 'app' | 'group' } = {},
  ): Promise<BroadcastResult> {
    if (!this.isRunning) throw new NotStartedError('broadcast is not started')
    const strategy = options.strategy ?? this.o.strategy
    if (!STRATEGIES.includes(strategy))
      throw new InvalidArgumentError(`strategy must be one of ${STRATEGIES.join(', ')}`, 'strategy')
    let announceIp = false
    if (strategy === 'ip' && !this.ip.isOpen) {
      await this.ip.ensure()
      if (!this.ip.isOpen)
        throw new BroadcastError('the ip strategy has no socket on this node (ipPort 0 or the port was busy)')
      // The others may not have opened theirs yet: this first one also goes to each of them directly.
      announceIp = true
    }
    const size = Buffer.byteLength(JSON.stringify(value ?? null))
    if (size > K.MAX_MESSAGE_BYTES)
      throw new BroadcastError(`message is ${size} bytes of JSON, the limit is ${K.MAX_MESSAGE_BYTES}`)
    const origin = `${this.c.self.name}~${this.session}`
    const w: WireItem = {
      o: origin,
      q: this.nextSeq++,
      v: value ?? null,
      s: strategy,
      t: Date.now(),
      h: 0,
    }
    if (options.kind === 'group') w.k = 'g'
    const id = idOf(origin, w.q)
    let receipt: Promise<string | undefined> | undefined
    if (options.durable) receipt = this.awaitReceipt(id)
    const peers = this.tree.peerNames()
    this.accept(w, undefined, false, size, peers)
    if (announceIp) for (const p of peers) this.outbox.push(p, { ...w, h: 1 }, false)
    const result: BroadcastResult = {
      acknowledged: true,
      id,
      from: this.c.self.name,
      strategy,
      at: Date.now(),
    }
    if (receipt) {
      const peer = await receipt
      if (peer) result.replicatedTo = peer
    }
    return result
  }

  /** Calls `fn` for every message delivered here (each once), including this node's own. */
  onDeliver(fn: (d: BroadcastDelivery) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  delivered(
    since = 0,
    kind: 'app' | 'group' | 'all' = 'app',
  ): { total: number; messages: BroadcastDelivery[] } {
    return { total: this.store.total, messages: this.store.delivered(since, kind) }
  }

  stats(): BroadcastStats {
    const framesSent = { ...this.counters.framesSent }
    return {
      delivered: this.store.total,
      framesSent,
      messagesSent: Object.values(framesSent).reduce((a, b) => a + b, 0),
      nodeFramesSent: this.c.metrics.total('distlab_frames_sent_total') + (framesSent.ip ?? 0),
      payloadSent: this.counters.payloadSent,
      payloadReceived: this.counters.payloadReceived,
      duplicates: this.counters.duplicates,
      bytesSent:
        this.c.metrics.total('distlab_bytes_sent_total', { proto: this.name }) + this.counters.ipBytes,
      grafts: this.counters.grafts,
      prunes: this.counters.prunes,
      eagerPeers: [...this.tree.eager].sort(),
      lazyPeers: [...this.tree.lazy].sort(),
      dropped: this.counters.dropped,
      missing: this.tree.missing.size,
      stored: this.store.size,
      origins: this.store.origins.size,
      originsEvicted: this.store.evicted.origins,
      storedBytes: this.store.bytes,
      payloadsEvicted: this.store.evicted.payloads,
      deliveriesEvicted: this.store.evicted.deliveries,
      seqsAbandoned: this.store.evicted.abandoned,
      unservable: this.counters.unservable,
      oversized: this.counters.oversized,
    }
  }

  // ---- receiving ----

  handle(env: Envelope, msg: InboundMessage): void {
    if (!this.isRunning) return
    // Cast so that each case is checked against the frame types; anything else is the default.
    switch (env.type as FrameType) {
      case 'msg':
        return this.onMsg(env, msg)
      case 'ihave':
        return this.tree.onIhave(env)
      case 'graft':
        return this.tree.onGraft(env)
      case 'prune':
        return this.tree.onPrune(env)
      case 'got':
        return this.onGot(env)
      case 'digest':
        return this.onDigest(env)
      default:
        return this.drop(env, 'unknown_type')
    }
  }

  /**
   * Counts what the store let go of (or a repair it could not make) in
   * distlab_broadcast_evicted_total, and says so in the log at most once per EVICTION_LOG_INTERVAL_MS
   * (a flood evicts thousands a second: one line, with the totals, not one per message).
   */
  private evictedMetric(what: string, n: number): void {
    const now = Date.now()
    if (now - this.evictionLoggedAt >= K.EVICTION_LOG_INTERVAL_MS) {
      this.evictionLoggedAt = now
      const e = this.store.evicted
      this.log.warn(
        `broadcast store over its budget (${this.o.maxStoredBytes} bytes, ${this.o.maxStoredMessages} messages): ` +
          `evicted so far ${e.payloads} payloads, ${e.deliveries} deliveries, ${e.origins} origins, ` +
          `${e.abandoned} seqs abandoned, ${this.counters.unservable} repairs unservable (now ${what} +${n})`,
      )
    }
    this.c.metrics.inc(
      'distlab_broadcast_evicted_total',
      'Broadcast state let go of to stay within its byte and count budgets, by what: payloads, deliveries, origins, abandoned (seqs never to be delivered), unservable (repairs a peer lacked whose payload was evicted).',
      { what },
      n,
    )
  }

  private drop(env: Envelope, reason: string): void {
    this.counters.dropped++
    this.c.dropped(env, reason)
  }

  private onMsg(env: Envelope, _msg: InboundMessage): void {
    const body = readMsg(env.body)
    if (!body) return this.drop(env, 'bad_body')
    const { m, r: wantReceipt, a, n: more, g: receipts } = body
    const sender = env.src
    this.tree.notePeer(sender)
    // Once a frame, not once a message: a frame may carry 10,000.
    const peers = this.tree.peerNames()
    let duplicate = false
    let fresh = false
    for (const w of m) {
      this.counters.payloadReceived++
      if (this.store.has(w.o, w.q)) {
        this.counters.duplicates++
        duplicate = true
        continue
      }
      // The sender's limit holds on receipt too: the store's byte budget counts what is taken in.
      const valueBytes = jsonBytes(w.v)
      if (valueBytes > K.MAX_MESSAGE_BYTES) {
        this.counters.oversized++
        this.c.dropped(env, 'too_large')
        continue
      }
      fresh = true
      this.accept(w, sender, a === 2, valueBytes, peers)
    }
    // Only pushes count as not silent: a node cut off from the tree that lives on answers to its own
    // digests keeps asking every round.
    if (fresh && !a) this.lastFreshAt = Date.now()
    if (duplicate) this.c.dropped(env, 'duplicate')
    // Plumtree: a duplicate that came by eager push means a redundant tree link; prune it.
    if (duplicate && !a && !fresh && m.some((w) => w.s === 'tree'))
      this.tree.prune(
        sender,
        m.map((w) => idOf(w.o, w.q)),
      )
    if (receipts) for (const id of receipts) this.receipts.get(id)?.(sender)
    if (wantReceipt?.length) this.outbox.receipt(sender, wantReceipt)
    if (more && a === 2) this.pullFrom(sender)
  }

  /** A message new to this node: store, deliver, and pass on by its strategy. */
  private accept(
    w: WireItem,
    sender: string | undefined,
    repairCopy: boolean,
    valueBytes: number,
    peers: readonly string[],
  ): void {
    if (w.s === 'ip' && sender !== undefined && !this.ip.isOpen && this.o.ipPort > 0) void this.ip.ensure()
    const now = Date.now()
    const id = idOf(w.o, w.q)
    const delivery: BroadcastDelivery = {
      index: this.store.nextIndex(),
      id,
      from: nameOf(w.o),
      value: w.v,
      strategy: w.s,
      kind: w.k === 'g' ? 'group' : 'app',
      sentAt: w.t,
      deliveredAt: now,
      hops: w.h,
    }
    const item: Item = {
      origin: w.o,
      seq: w.q,
      value: w.v,
      valueBytes,
      strategy: w.s,
      kind: delivery.kind,
      sentAt: w.t,
      hops: w.h,
      receivedAt: now,
      from: sender,
      delivery,
    }
    if (sender !== undefined && typeof w.t === 'number')
      this.c.metrics.observe(
        'distlab_broadcast_delivery_seconds',
        "Broadcast: time from the origin's send to this node's delivery (the origin's clock, same machine or synchronised).",
        (now - w.t) / 1000,
      )
    const log = this.store.add(item)
    if (sender !== undefined && w.q > log.contiguous) this.tree.repairGap(w.o, w.q, sender)
    this.tree.arrived(id)
    this.c.delivered(
      createEnvelope({
        proto: this.name,
        type: 'deliver',
        src: delivery.from,
        dst: BROADCAST_DST,
        body: null,
        id,
        ts: w.t,
      }),
    )
    if (delivery.kind === 'app')
      this.log.debug(`delivered broadcast ${id} from ${delivery.from} (${w.s}, ${w.h} hops)`)
    for (const fn of this.listeners) {
      try {
        fn(delivery)
      } catch (err) {
        this.log.warn(`a delivery listener failed: ${(err as Error).message}`)
      }
    }
    if (!repairCopy) this.forward(w, sender, id, peers)
  }

  private forward(w: WireItem, sender: string | undefined, id: string, peers: readonly string[]): void {
    const next: WireItem = { ...w, h: w.h + 1 }
    const others = sender === undefined ? peers : peers.filter((p) => p !== sender)
    const durable = sender === undefined && this.receipts.has(id)
    switch (w.s) {
      case 'flood':
        for (const p of others) this.outbox.push(p, next, durable && p === others[0])
        break
      case 'gossip': {
        const fanout = this.o.gossipFanout || Math.ceil(Math.log(peers.length + 1)) + K.GOSSIP_FANOUT_EXTRA
        const targets = shuffle([...others]).slice(0, fanout)
        for (const p of targets) this.outbox.push(p, next, durable && p === targets[0])
        break
      }
      case 'tree': {
        if (sender !== undefined) {
          // The link the message came by joins the tree (Plumtree: eagerPushPeers ∪ {sender}).
          this.tree.eager.add(sender)
          this.tree.lazy.delete(sender)
        }
        const eager = others.filter((p) => this.tree.eager.has(p))
        for (const p of eager) this.outbox.push(p, next, durable && p === eager[0])
        if (durable && eager.length === 0 && others.length > 0) this.outbox.push(others[0]!, next, true)
        // With anti-entropy on, gap repair and digests from silent nodes find what the tree lost, at
        // no cost while nothing is lost; Plumtree's lazy IHAVEs (a frame per lazy peer per flush,
        // most of the repair traffic of a healthy tree) run only when anti-entropy is off.
        if (this.o.antiEntropyIntervalMs <= 0) {
          this.tree.announce(w.o, w.q, w.h, sender ?? '')
        }
        break
      }
      case 'ip':
        if (sender === undefined) {
          this.ip.send(next)
          if (durable && others.length > 0) this.outbox.push(shuffle([...others])[0]!, next, true)
        }
        break
    }
  }

  // ---- durable broadcasts ----

  private awaitReceipt(id: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      let attempts = 1
      let timer: TimerHandle | undefined
      const done = (peer: string | undefined) => {
        if (timer) this.c.clock.clearTimeout(timer)
        this.receipts.delete(id)
        resolve(peer)
      }
      this.receipts.set(id, (peer) => done(peer))
      const retry = () => {
        if (!this.isRunning || !this.receipts.has(id)) return done(undefined)
        if (attempts >= K.RECEIPT_ATTEMPTS) return done(undefined)
        attempts++
        const [origin, seqText] = [id.slice(0, id.lastIndexOf('.')), id.slice(id.lastIndexOf('.') + 1)]
        const item = this.store.item(origin, Number(seqText))
        const peer = shuffle([...this.tree.peerNames()])[0]
        if (item && peer) {
          this.counters.payloadSent++
          this.outbox.sendFrame(peer, 'msg', { m: [wireOf(item)], r: [id], a: 2 })
        }
        timer = this.c.clock.setTimeout(retry, this.o.receiptTimeoutMs)
      }
      timer = this.c.clock.setTimeout(retry, this.o.receiptTimeoutMs + this.o.batchMs)
    })
  }

  private onGot(env: Envelope): void {
    const r = GotBody.safeParse(env.body)
    if (!r.success) return this.drop(env, 'bad_body')
    for (const id of r.data.i) this.receipts.get(id)?.(env.src)
  }

  // ---- anti-entropy ----

  private scheduleAntiEntropy(): void {
    const every = this.o.antiEntropyIntervalMs
    if (every <= 0 || this.aeTimer || !this.isRunning) return
    this.aeTimer = this.c.clock.setTimeout(
      () => {
        this.aeTimer = undefined
        if (!this.isRunning) return
        this.antiEntropyRound()
        this.scheduleAntiEntropy()
      },
      every * (0.75 + Math.random() / 2),
    )
  }

  /**
   * A digest goes out when no push brought anything new for a whole interval (cut off, or the run is
   * over and a last message may be missing), and on every ANTI_ENTROPY_BUSY_EVERY-th round while
   * messages flow.
   */
  private antiEntropyRound(): void {
    const now = Date.now()
    this.aeRounds++
    const silent = now - this.lastFreshAt >= this.o.antiEntropyIntervalMs
    if (!silent && this.aeRounds % K.ANTI_ENTROPY_BUSY_EVERY !== 0) return
    // Nothing stored, nothing to compare: no digest, and no walk over the membership. (A thousand
    // nodes in one process that never broadcast spent a sixth of their CPU here, each copying and
    // shuffling the whole member list every round.)
    if (this.store.origins.size === 0) return
    const names = this.tree.peerNames()
    const peer = names[Math.floor(Math.random() * names.length)]
    if (!peer) return
    this.outbox.sendFrame(peer, 'digest', { d: digestOf(this.store) })
  }

  /**
   * An anti-entropy answer from `peer` stopped short: the next digest goes to it after
   * ANTI_ENTROPY_PULL_MS, one at a time per peer, and only to members (a frame's src is a claim).
   */
  private pullFrom(peer: string): void {
    if (this.pulls.has(peer) || !this.c.peers().includes(peer)) return
    const timer = this.c.clock.setTimeout(() => {
      this.pulls.delete(peer)
      if (this.isRunning) this.outbox.sendFrame(peer, 'digest', { d: digestOf(this.store) })
    }, K.ANTI_ENTROPY_PULL_MS)
    this.pulls.set(peer, timer)
  }

  private onDigest(env: Envelope): void {
    const r = DigestBody.safeParse(env.body)
    if (!r.success) return this.drop(env, 'bad_body')
    // An answer to a name the membership does not know would only send the node to the master.
    if (!this.c.peers().includes(env.src)) return this.drop(env, 'unknown_peer')
    const { give, more, theyHaveMore, unservable } = answerDigest(
      this.store,
      r.data.d,
      Date.now(),
      this.o.antiEntropyGraceMs,
      K.ANTI_ENTROPY_MAX_ITEMS,
    )
    this.counters.unservable += unservable
    if (unservable > 0) this.evictedMetric('unservable', unservable)
    if (give.length) this.outbox.sendItems(env.src, give, [], 2, more)
    if (theyHaveMore && !r.data.r) this.outbox.sendFrame(env.src, 'digest', { d: digestOf(this.store), r: 1 })
  }

  // ---- HTTP ----

  routes(app: RouteHost): void {
    broadcastRoutes(app, this, this.outbox.tally)
  }
}
