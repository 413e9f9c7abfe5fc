// Broadcast to every node of the cluster, with four strategies a user can compare:
// - flood: every node forwards each new message to every other node once;
// - gossip: infect-and-die push to ln(N) + c random peers;
// - tree: Plumtree (Leitão, Pereira and Rodrigues, "Epidemic Broadcast Trees", SRDS 2007): eager
//   push along a spanning tree that emerges from pruning duplicate paths, lazy IHAVE announcements
//   to other peers, GRAFT to pull a missing message (and repair the tree), PRUNE to drop a link;
// - ip: one UDP datagram to the broadcast address.
// Under all four, periodic anti-entropy (Demers et al., "Epidemic Algorithms for Replicated
// Database Maintenance", 1987) compares per-origin digests with one random peer, so that every live
// node ends with every message after losses, partitions and crashes; each message is delivered once.
import { randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { BROADCAST_DST, createEnvelope, type Envelope } from '../../core/envelope.js'
import type { InboundMessage, Protocol, ProtocolComponents } from '../../core/interfaces.js'
import type { TimerHandle } from '../../core/clock.js'
import { decodeFrame, encodeFrame, MAX_DATAGRAM_BYTES } from '../../core/frame.js'
import { FrameDecodeError, DistlabError, InvalidArgumentError, NotStartedError } from '../../core/errors.js'
import { checkInteger, checkNumber, checkPort, checkString } from '../../core/options.js'
import { named, type Logger } from '../../core/logger.js'
import { parseBody } from '../../node/http.js'
import { MASTER_NAME } from '../../core/ids.js'
import * as K from './constants.js'
import { guarded } from '../../core/guarded.js'
import { FrameTally, idsOfBody } from './frame-tally.js'

export const STRATEGIES = ['flood', 'gossip', 'tree', 'ip'] as const
export type BroadcastStrategy = (typeof STRATEGIES)[number]

export interface BroadcastInit {
  /** Strategy of a broadcast that names none. @default 'tree' */
  strategy?: BroadcastStrategy
  /** Gossip fanout; 0 means ceil(ln N) + 2. @default 0 */
  gossipFanout?: number
  /** Time between flushes of lazy IHAVE announcements, in ms. @default 500 */
  lazyPushIntervalMs?: number
  /** Lazy peers each IHAVE flush goes to. @default 3 */
  lazyPushFanout?: number
  /** Time an announced message may be missing before a GRAFT, in ms. @default 1000 */
  graftTimeoutMs?: number
  /** Time between anti-entropy rounds, in ms; 0 turns anti-entropy off. @default 2000 */
  antiEntropyIntervalMs?: number
  /** Messages younger than this are not pushed by anti-entropy, in ms. @default 1500 */
  antiEntropyGraceMs?: number
  /** Eager pushes wait this long to share a frame; 0 sends at once, in ms. @default 0 */
  batchMs?: number
  /**
   * Without batchMs: a push to a peer sent a frame less than this long ago waits out the rest and
   * shares one frame with what else goes there; a push to a quiet peer goes at once. 0: off, in ms.
   * @default 50
   */
  coalesceMs?: number
  /** Nodes every other starts with as eager tree peers (the master first, then by name hash). @default 1 */
  treeHubs?: number
  /** UDP port of the ip strategy; 0 turns the ip socket off. @default 7001 */
  ipPort?: number
  /** Destination of the ip strategy. @default '127.255.255.255' on loopback, else '255.255.255.255' */
  ipAddress?: string
  /** Messages kept. @default 200000 */
  maxStoredMessages?: number
  /** Time a durable broadcast waits for a receipt before asking another peer, in ms. @default 500 */
  receiptTimeoutMs?: number
}

export type BroadcastOptions = Readonly<Required<Omit<BroadcastInit, 'ipAddress'>> & { ipAddress?: string }>

export function resolveBroadcastOptions(init: BroadcastInit = {}): BroadcastOptions {
  const strategy = init.strategy ?? K.DEFAULT_STRATEGY
  if (!STRATEGIES.includes(strategy))
    throw new InvalidArgumentError(`strategy must be one of ${STRATEGIES.join(', ')}`, 'strategy')
  return Object.freeze({
    strategy,
    gossipFanout: checkInteger('gossipFanout', init.gossipFanout ?? 0, 0, 1000),
    lazyPushIntervalMs: checkNumber(
      'lazyPushIntervalMs',
      init.lazyPushIntervalMs ?? K.LAZY_PUSH_INTERVAL_MS,
      1,
    ),
    lazyPushFanout: checkInteger('lazyPushFanout', init.lazyPushFanout ?? K.LAZY_PUSH_FANOUT, 0, 10_000),
    graftTimeoutMs: checkNumber('graftTimeoutMs', init.graftTimeoutMs ?? K.GRAFT_TIMEOUT_MS, 1),
    antiEntropyIntervalMs: checkNumber(
      'antiEntropyIntervalMs',
      init.antiEntropyIntervalMs ?? K.ANTI_ENTROPY_INTERVAL_MS,
      0,
    ),
    antiEntropyGraceMs: checkNumber(
      'antiEntropyGraceMs',
      init.antiEntropyGraceMs ?? K.ANTI_ENTROPY_GRACE_MS,
      0,
    ),
    batchMs: checkNumber('batchMs', init.batchMs ?? K.BATCH_MS, 0, 60_000),
    coalesceMs: checkNumber('coalesceMs', init.coalesceMs ?? K.COALESCE_MS, 0, 60_000),
    treeHubs: checkInteger('treeHubs', init.treeHubs ?? K.TREE_HUBS, 1, 1000),
    ipPort: checkPort('ipPort', init.ipPort ?? K.IP_BROADCAST_PORT),
    ipAddress: init.ipAddress === undefined ? undefined : checkString('ipAddress', init.ipAddress),
    maxStoredMessages: checkInteger('maxStoredMessages', init.maxStoredMessages ?? K.MAX_STORED_MESSAGES, 1),
    receiptTimeoutMs: checkNumber('receiptTimeoutMs', init.receiptTimeoutMs ?? K.RECEIPT_TIMEOUT_MS, 1),
  })
}

/** The knobs `configure()` and PUT /broadcast/config change at run time. */
export const TUNABLE = [
  'strategy',
  'gossipFanout',
  'lazyPushIntervalMs',
  'lazyPushFanout',
  'graftTimeoutMs',
  'antiEntropyIntervalMs',
  'antiEntropyGraceMs',
  'batchMs',
  'coalesceMs',
  'receiptTimeoutMs',
] as const
export type BroadcastTuning = Partial<Pick<BroadcastInit, (typeof TUNABLE)[number]>>

export class BroadcastError extends DistlabError {
  override readonly code = 'ERR_BROADCAST'
  constructor(message: string) {
    super(message)
    this.name = 'BroadcastError'
  }
}

/** What the application sees of one broadcast message. */
export interface BroadcastDelivery {
  /** Position in this node's delivery log, from 0. */
  index: number
  /** `<origin name>~<session>.<seq>`, the same on every node. */
  id: string
  /** Name of the node that broadcast it. */
  from: string
  value: unknown
  strategy: BroadcastStrategy
  kind: 'app' | 'group'
  /** Origin's clock when it was broadcast, ms since the epoch. */
  sentAt: number
  /** This node's clock when it was delivered here, ms since the epoch. */
  deliveredAt: number
  /** Node-to-node hops it took to get here (0 at the origin). */
  hops: number
}

export interface BroadcastResult {
  acknowledged: true
  id: string
  from: string
  strategy: BroadcastStrategy
  /** For durable broadcasts: the peer that confirmed holding it, if any did. */
  replicatedTo?: string
  at: number
}

export interface BroadcastStats {
  delivered: number
  /** Frames sent, by message type. */
  framesSent: Record<string, number>
  /** Sum of framesSent. */
  messagesSent: number
  /** Broadcast messages carried in those frames (a batched frame carries several). */
  payloadSent: number
  payloadReceived: number
  /** Payload copies that arrived for a message already delivered. */
  duplicates: number
  /** Bytes put on the wire (node transports plus the ip socket). */
  bytesSent: number
  grafts: number
  prunes: number
  eagerPeers: string[]
  lazyPeers: string[]
  dropped: number
  /** Announced message ids this node is waiting for (bounded by MAX_MISSING_IDS). */
  missing: number
}

/** A message on the wire: origin key, sequence, value, strategy, kind, sent-at, hops. */
const WireItem = z.strictObject({
  o: z.string().min(1).max(100),
  q: z.number().int().min(0),
  v: z.unknown(),
  s: z.enum(STRATEGIES),
  k: z.literal('g').optional(),
  t: z.number().finite().nonnegative(),
  h: z.number().int().min(0).max(10_000),
})
type WireItem = z.infer<typeof WireItem>
const MsgBody = z.strictObject({
  m: z.array(WireItem).min(1).max(10_000),
  /** Ids the receiver should confirm with a `got`. */
  r: z.array(z.string().max(128)).max(10_000).optional(),
  /**
   * Not an eager push, so duplicates from it are no reason to prune. 1: the answer to a GRAFT (the
   * receiver passes it on down the tree); 2: a repair copy (anti-entropy, a durable broadcast's
   * retry) that the receiver only delivers: passing it on would make cycles in the tree.
   */
  a: z.union([z.literal(1), z.literal(2)]).optional(),
  /** The ip strategy's cluster key. */
  c: z.string().max(300).optional(),
})
const IdList = z
  .array(z.tuple([z.string().min(1).max(100), z.number().int().min(0)]))
  .max(K.MAX_IDS_PER_FRAME)
const IhaveBody = z.strictObject({ i: IdList, h: z.array(z.number().int().min(0)).max(K.MAX_IDS_PER_FRAME) })
const GraftBody = z.strictObject({ i: IdList })
const GotBody = z.strictObject({ i: z.array(z.string().max(128)).max(10_000) })
/** Per origin: [n, ...extra] = holds every seq below n, and each extra seq. */
const DigestBody = z.strictObject({
  d: z.record(z.string().max(100), z.array(z.number().int().min(0)).min(1).max(100_000)),
  r: z.literal(1).optional(),
})

interface Item {
  origin: string
  seq: number
  value: unknown
  strategy: BroadcastStrategy
  kind: 'app' | 'group'
  sentAt: number
  hops: number
  receivedAt: number
  /** The peer it came from; undefined at the origin. */
  from?: string
  delivery: BroadcastDelivery
}

interface OriginLog {
  /** Every seq below this is held. */
  contiguous: number
  items: Map<number, Item>
}

const idOf = (origin: string, seq: number) => `${origin}.${seq}`
const nameOf = (origin: string) => origin.split('~')[0] ?? origin

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

export class Broadcast implements Protocol {
  readonly name = 'broadcast'
  private readonly log: Logger
  private running = false
  private session = ''
  private nextSeq = 0
  private readonly origins = new Map<string, OriginLog>()
  private stored = 0
  private readonly deliveries: BroadcastDelivery[] = []
  private deliveredTotal = 0
  private readonly listeners = new Set<(d: BroadcastDelivery) => void>()
  // Plumtree state.
  private readonly eager = new Set<string>()
  private readonly lazy = new Set<string>()
  private readonly known = new Set<string>()
  private readonly missing = new Map<string, { announcers: string[]; timer?: TimerHandle; hops: number }>()
  private lazyPending: Array<{ origin: string; seq: number; hops: number; except: string }> = []
  // Batching of eager pushes.
  private readonly eagerQueue = new Map<string, { items: WireItem[]; receipts: string[] }>()
  // Coalescing: when each peer was last sent a msg frame, and what waits for it.
  private readonly lastPushAt = new Map<string, number>()
  private readonly coalesced = new Map<
    string,
    { items: WireItem[]; receipts: string[]; timer: TimerHandle }
  >()
  // Gap repair: per origin, the seq below which a repair is already scheduled.
  private readonly gapPending = new Map<string, number>()
  private readonly gapTimers = new Set<TimerHandle>()
  // Anti-entropy pacing.
  /** Last time a push (not an answer to a digest or GRAFT) brought a new message. */
  private lastFreshAt = 0
  private aeRounds = 0
  private batchTimer?: TimerHandle
  private lazyTimer?: TimerHandle
  private graftTimer?: TimerHandle
  private readonly graftQueue = new Map<string, Array<[string, number]>>()
  private aeTimer?: TimerHandle
  private readonly receipts = new Map<string, (peer: string) => void>()
  private ipSocket?: Socket
  private ipOpening?: Promise<void>
  /** Frames sent per message id, for `GET /broadcast/frames?id=`. */
  private readonly tally = new FrameTally()
  private readonly counters = {
    framesSent: {} as Record<string, number>,
    payloadSent: 0,
    payloadReceived: 0,
    duplicates: 0,
    ipBytes: 0,
    grafts: 0,
    prunes: 0,
    dropped: 0,
  }

  constructor(
    private readonly c: ProtocolComponents,
    private o: BroadcastOptions,
  ) {
    this.log = named(c.logger, 'distlab:broadcast')
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
    if (this.running && aeWasOff && next.antiEntropyIntervalMs > 0) this.scheduleAntiEntropy()
    return this.tuning()
  }

  tuning(): BroadcastTuning {
    return Object.fromEntries(TUNABLE.map((k) => [k, this.o[k]])) as BroadcastTuning
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.session = randomBytes(4).toString('hex')
    this.nextSeq = 0
    // The ip socket opens only once the ip strategy is in use: configured as the default here,
    // used by a broadcast from here, or seen in a message from elsewhere.
    if (this.o.ipPort > 0 && this.o.strategy === 'ip') await this.ensureIpSocket()
    if (this.o.antiEntropyIntervalMs > 0) this.scheduleAntiEntropy()
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const t of [this.batchTimer, this.lazyTimer, this.aeTimer, this.graftTimer])
      if (t) this.c.clock.clearTimeout(t)
    this.batchTimer = this.lazyTimer = this.aeTimer = this.graftTimer = undefined
    this.graftQueue.clear()
    for (const m of this.missing.values()) if (m.timer) this.c.clock.clearTimeout(m.timer)
    this.missing.clear()
    for (const q of this.coalesced.values()) this.c.clock.clearTimeout(q.timer)
    this.coalesced.clear()
    this.lastPushAt.clear()
    for (const t of this.gapTimers) this.c.clock.clearTimeout(t)
    this.gapTimers.clear()
    this.gapPending.clear()
    this.eagerQueue.clear()
    this.lazyPending = []
    this.receipts.clear()
    const opening = this.ipOpening
    this.ipOpening = undefined
    if (opening) await opening
    const s = this.ipSocket
    this.ipSocket = undefined
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  // ---- the application's side ----

  /** Broadcasts `value` to every node; resolves once this node has it and pushed it on. */
  async broadcast(
    value: unknown,
    options: { strategy?: BroadcastStrategy; durable?: boolean; kind?: 'app' | 'group' } = {},
  ): Promise<BroadcastResult> {
    if (!this.running) throw new NotStartedError('broadcast is not started')
    const strategy = options.strategy ?? this.o.strategy
    if (!STRATEGIES.includes(strategy))
      throw new InvalidArgumentError(`strategy must be one of ${STRATEGIES.join(', ')}`, 'strategy')
    let announceIp = false
    if (strategy === 'ip' && !this.ipSocket) {
      await this.ensureIpSocket()
      if (!this.ipSocket)
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
    this.accept(w, undefined)
    if (announceIp) for (const p of this.peerNames()) this.push(p, { ...w, h: 1 }, false)
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
    const messages: BroadcastDelivery[] = []
    // The log is in index order, so a binary search finds `since`.
    let lo = 0
    let hi = this.deliveries.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.deliveries[mid]!.index < since) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.deliveries.length; i++) {
      const d = this.deliveries[i]!
      if (kind === 'all' || d.kind === kind) messages.push(d)
    }
    return { total: this.deliveredTotal, messages }
  }

  stats(): BroadcastStats {
    const framesSent = { ...this.counters.framesSent }
    return {
      delivered: this.deliveredTotal,
      framesSent,
      messagesSent: Object.values(framesSent).reduce((a, b) => a + b, 0),
      payloadSent: this.counters.payloadSent,
      payloadReceived: this.counters.payloadReceived,
      duplicates: this.counters.duplicates,
      bytesSent:
        this.c.metrics.total('distlab_bytes_sent_total', { proto: this.name }) + this.counters.ipBytes,
      grafts: this.counters.grafts,
      prunes: this.counters.prunes,
      eagerPeers: [...this.eager].sort(),
      lazyPeers: [...this.lazy].sort(),
      dropped: this.counters.dropped,
      missing: this.missing.size,
    }
  }

  // ---- receiving ----

  handle(env: Envelope, msg: InboundMessage): void {
    if (!this.running) return
    switch (env.type) {
      case 'msg':
        return this.onMsg(env, msg)
      case 'ihave':
        return this.onIhave(env)
      case 'graft':
        return this.onGraft(env)
      case 'prune':
        return this.onPrune(env)
      case 'got':
        return this.onGot(env)
      case 'digest':
        return this.onDigest(env)
      default:
        return this.drop(env, 'unknown_type')
    }
  }

  private drop(env: Envelope, reason: string): void {
    this.counters.dropped++
    this.c.dropped(env, reason)
  }

  private onMsg(env: Envelope, _msg: InboundMessage): void {
    const r = MsgBody.safeParse(env.body)
    if (!r.success) return this.drop(env, 'bad_body')
    const { m, r: wantReceipt, a } = r.data
    const sender = env.src
    this.notePeer(sender)
    let duplicate = false
    let fresh = false
    for (const w of m) {
      this.counters.payloadReceived++
      if (this.has(w.o, w.q)) {
        this.counters.duplicates++
        duplicate = true
        continue
      }
      fresh = true
      this.accept(w, sender, a === 2)
    }
    // Only pushes count as not silent: a node cut off from the tree that lives on answers to its own
    // digests keeps asking every round.
    if (fresh && !a) this.lastFreshAt = Date.now()
    if (duplicate) this.c.dropped(env, 'duplicate')
    // Plumtree: a duplicate that came by eager push means a redundant tree link; prune it.
    if (duplicate && !a && !fresh && m.some((w) => w.s === 'tree'))
      this.prune(
        sender,
        m.map((w) => idOf(w.o, w.q)),
      )
    if (wantReceipt?.length) this.sendFrame(sender, 'got', { i: wantReceipt })
  }

  /** Plumtree's PRUNE: the link to `peer` leaves the tree (it stays lazy). */
  private prune(peer: string, cause: string[]): void {
    this.tally.note('prune', cause, false)
    this.eager.delete(peer)
    this.lazy.add(peer)
    this.counters.prunes++
    this.sendFrame(peer, 'prune', {})
  }

  private has(origin: string, seq: number): boolean {
    const log = this.origins.get(origin)
    return !!log && (seq < log.contiguous || log.items.has(seq))
  }

  /** A message new to this node: store, deliver, and pass on by its strategy. */
  private accept(w: WireItem, sender: string | undefined, repairCopy = false): void {
    if (w.s === 'ip' && sender !== undefined && !this.ipSocket && this.o.ipPort > 0)
      void this.ensureIpSocket()
    const now = Date.now()
    let log = this.origins.get(w.o)
    if (!log) this.origins.set(w.o, (log = { contiguous: 0, items: new Map() }))
    const id = idOf(w.o, w.q)
    const delivery: BroadcastDelivery = {
      index: this.deliveredTotal++,
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
      strategy: w.s,
      kind: delivery.kind,
      sentAt: w.t,
      hops: w.h,
      receivedAt: now,
      from: sender,
      delivery,
    }
    log.items.set(w.q, item)
    while (log.items.has(log.contiguous)) log.contiguous++
    if (sender !== undefined && w.q > log.contiguous) this.repairGap(w.o, w.q, sender)
    this.stored++
    this.evictIfFull()
    this.deliveries.push(delivery)
    if (this.deliveries.length > this.o.maxStoredMessages) this.deliveries.shift()
    const pending = this.missing.get(id)
    if (pending) {
      if (pending.timer) this.c.clock.clearTimeout(pending.timer)
      this.missing.delete(id)
    }
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
    if (!repairCopy) this.forward(w, sender)
  }

  private evictIfFull(): void {
    if (this.stored <= this.o.maxStoredMessages) return
    // Drop the oldest message of the origin with the most stored; its seq stays counted as held.
    let worst: OriginLog | undefined
    for (const l of this.origins.values()) if (!worst || l.items.size > worst.items.size) worst = l
    if (!worst) return
    // A loop, not Math.min(...keys): a spread of 120k+ arguments overflows the stack.
    let first = Infinity
    for (const q of worst.items.keys()) if (q < first) first = q
    worst.items.delete(first)
    this.stored--
  }

  private forward(w: WireItem, sender: string | undefined): void {
    const next: WireItem = { ...w, h: w.h + 1 }
    const peers = this.peerNames()
    const others = peers.filter((p) => p !== sender)
    const id = idOf(w.o, w.q)
    const durable = sender === undefined && this.receipts.has(id)
    switch (w.s) {
      case 'flood':
        for (const p of others) this.push(p, next, durable && p === others[0])
        break
      case 'gossip': {
        const fanout = this.o.gossipFanout || Math.ceil(Math.log(peers.length + 1)) + K.GOSSIP_FANOUT_EXTRA
        const targets = shuffle(others).slice(0, fanout)
        for (const p of targets) this.push(p, next, durable && p === targets[0])
        break
      }
      case 'tree': {
        if (sender !== undefined) {
          // The link the message came by joins the tree (Plumtree: eagerPushPeers ∪ {sender}).
          this.eager.add(sender)
          this.lazy.delete(sender)
        }
        const eager = others.filter((p) => this.eager.has(p))
        for (const p of eager) this.push(p, next, durable && p === eager[0])
        if (durable && eager.length === 0 && others.length > 0) this.push(others[0]!, next, true)
        // With anti-entropy on, gap repair and digests from silent nodes find what the tree lost, at
        // no cost while nothing is lost; Plumtree's lazy IHAVEs (a frame per lazy peer per flush,
        // most of the repair traffic of a healthy tree) run only when anti-entropy is off.
        if (this.o.antiEntropyIntervalMs <= 0) {
          this.lazyPending.push({ origin: w.o, seq: w.q, hops: w.h, except: sender ?? '' })
          this.scheduleLazyFlush()
        }
        break
      }
      case 'ip':
        if (sender === undefined) {
          this.sendIp(next)
          if (durable && others.length > 0) this.push(shuffle(others)[0]!, next, true)
        }
        break
    }
  }

  // ---- sending ----

  /** Names of the other nodes, syncing the tree's peer sets with the membership. */
  private peerNames(): readonly string[] {
    const names = this.c.peers()
    for (const p of names) this.notePeer(p)
    if (this.known.size > names.length) {
      const live = new Set(names)
      for (const p of this.known)
        if (!live.has(p)) {
          this.known.delete(p)
          this.eager.delete(p)
          this.lazy.delete(p)
          this.lastPushAt.delete(p)
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
  private notePeer(p: string): void {
    if (this.known.has(p) || p === this.c.self.name) return
    // Only members: a frame's src is a name anyone can write, and these sets must stay bounded.
    if (!this.c.peers().includes(p)) return
    this.known.add(p)
    if (this.lazy.has(p) || this.eager.has(p)) return
    const hubs = this.hubs()
    if (hubs.has(p) || hubs.has(this.c.self.name)) this.eager.add(p)
    else this.lazy.add(p)
  }

  private hubCache?: { size: number; hubs: Set<string> }

  private hubs(): Set<string> {
    const members = this.c.members()
    if (this.hubCache?.size === members.length) return this.hubCache.hubs
    const all = [
      ...members.map((m) => ({ name: m.name, master: m.role === 'master' })),
      { name: this.c.self.name, master: this.c.self.name === MASTER_NAME },
    ]
    all.sort((a, b) => Number(b.master) - Number(a.master) || crc32(a.name) - crc32(b.name))
    const hubs = new Set(all.slice(0, this.o.treeHubs).map((x) => x.name))
    this.hubCache = { size: members.length, hubs }
    return hubs
  }

  private push(peer: string, w: WireItem, receipt: boolean): void {
    const id = idOf(w.o, w.q)
    if (this.o.batchMs <= 0) return this.coalesce(peer, w, receipt ? id : undefined)
    let q = this.eagerQueue.get(peer)
    if (!q) this.eagerQueue.set(peer, (q = { items: [], receipts: [] }))
    q.items.push(w)
    if (receipt) q.receipts.push(id)
    if (!this.batchTimer)
      this.batchTimer = this.c.clock.setTimeout(() => {
        this.batchTimer = undefined
        this.flushBatches()
      }, this.o.batchMs)
  }

  /** Sends at once to a quiet peer; otherwise queues until coalesceMs after the last frame there. */
  private coalesce(peer: string, w: WireItem, receipt: string | undefined): void {
    const queued = this.coalesced.get(peer)
    if (queued) {
      queued.items.push(w)
      if (receipt) queued.receipts.push(receipt)
      return
    }
    const now = Date.now()
    const wait = (this.lastPushAt.get(peer) ?? -Infinity) + this.o.coalesceMs - now
    if (wait <= 0) {
      this.lastPushAt.set(peer, now)
      this.counters.payloadSent++
      this.sendFrame(peer, 'msg', receipt ? { m: [w], r: [receipt] } : { m: [w] })
      return
    }
    const timer = this.c.clock.setTimeout(() => {
      const q = this.coalesced.get(peer)
      this.coalesced.delete(peer)
      if (!q || !this.running) return
      this.lastPushAt.set(peer, Date.now())
      this.sendItems(peer, q.items, q.receipts)
    }, wait)
    this.coalesced.set(peer, { items: [w], receipts: receipt ? [receipt] : [], timer })
  }

  private flushBatches(): void {
    if (!this.running) return
    const queues = [...this.eagerQueue]
    this.eagerQueue.clear()
    for (const [peer, q] of queues) this.sendItems(peer, q.items, q.receipts)
  }

  /** Sends items in frames of about FRAME_TARGET_BYTES each. */
  private sendItems(peer: string, items: WireItem[], receipts: string[] = [], answer: 0 | 1 | 2 = 0): void {
    let chunk: WireItem[] = []
    let bytes = 0
    const flush = () => {
      if (chunk.length === 0) return
      const ids = new Set(chunk.map((w) => idOf(w.o, w.q)))
      const r = receipts.filter((id) => ids.has(id))
      const body: Record<string, unknown> = { m: chunk }
      if (r.length) body.r = r
      if (answer) body.a = answer
      this.counters.payloadSent += chunk.length
      this.sendFrame(peer, 'msg', body)
      chunk = []
      bytes = 0
    }
    for (const w of items) {
      const size = Buffer.byteLength(JSON.stringify(w.v ?? null)) + 80
      if (bytes + size > K.FRAME_TARGET_BYTES) flush()
      chunk.push(w)
      bytes += size
    }
    flush()
  }

  private sendFrame(peer: string, type: string, body: unknown): void {
    this.counters.framesSent[type] = (this.counters.framesSent[type] ?? 0) + 1
    this.tally.note(type, idsOfBody(type, body), type === 'msg')
    this.c.send(peer, type, body, { transport: 'udp' }).catch((err: unknown) => {
      this.log.debug(`${type} to ${peer} failed: ${(err as Error).message}`)
    })
  }

  // ---- Plumtree's lazy side ----

  private scheduleLazyFlush(): void {
    if (this.lazyTimer || !this.running) return
    this.lazyTimer = this.c.clock.setTimeout(() => {
      this.lazyTimer = undefined
      this.flushLazy()
    }, this.o.lazyPushIntervalMs)
  }

  private flushLazy(): void {
    if (!this.running || this.lazyPending.length === 0) return
    const pending = this.lazyPending
    this.lazyPending = []
    this.peerNames()
    const targets = shuffle([...this.lazy]).slice(0, this.o.lazyPushFanout)
    for (const p of targets) {
      const mine = pending.filter((x) => x.except !== p && this.has(x.origin, x.seq))
      for (let at = 0; at < mine.length; at += K.MAX_IDS_PER_FRAME) {
        const part = mine.slice(at, at + K.MAX_IDS_PER_FRAME)
        this.sendFrame(p, 'ihave', { i: part.map((x) => [x.origin, x.seq]), h: part.map((x) => x.hops) })
      }
    }
  }

  private onIhave(env: Envelope): void {
    const r = IhaveBody.safeParse(env.body)
    if (!r.success || r.data.h.length !== r.data.i.length) return this.drop(env, 'bad_body')
    // An announcer the membership does not know could only be grafted from in vain (and each
    // graft to an unknown name would send the node to the master): its IHAVEs are dropped.
    if (!this.c.peers().includes(env.src)) return this.drop(env, 'unknown_peer')
    this.notePeer(env.src)
    let full = false
    r.data.i.forEach(([origin, seq], n) => {
      const hops = r.data.h[n]!
      const id = idOf(origin, seq)
      if (this.has(origin, seq)) {
        this.maybeOptimize(origin, seq, hops, env.src)
        return
      }
      let m = this.missing.get(id)
      if (!m) {
        // Bounded: beyond the cap new announcements are ignored (anti-entropy repairs what is lost).
        if (this.missing.size >= K.MAX_MISSING) {
          full = true
          return
        }
        this.missing.set(id, (m = { announcers: [], hops }))
      }
      if (!m.announcers.includes(env.src) && m.announcers.length < K.MAX_ANNOUNCERS_PER_ID)
        m.announcers.push(env.src)
      if (!m.timer)
        m.timer = this.c.clock.setTimeout(() => this.graftTimeout(origin, seq), this.o.graftTimeoutMs)
    })
    if (full) this.drop(env, 'too_many_missing')
  }

  /** Plumtree 3.8: a much shorter lazy path replaces the eager link the message came by. */
  private maybeOptimize(origin: string, seq: number, lazyHops: number, announcer: string): void {
    const item = this.origins.get(origin)?.items.get(seq)
    if (!item || item.strategy !== 'tree' || !this.lazy.has(announcer)) return
    if (item.hops - (lazyHops + 1) < K.TREE_OPTIMIZATION_THRESHOLD_HOPS) return
    this.lazy.delete(announcer)
    this.eager.add(announcer)
    this.counters.grafts++
    this.sendFrame(announcer, 'graft', { i: [] })
    this.tally.note('graft', [idOf(origin, seq)], false)
    if (item.from && item.from !== announcer && this.eager.has(item.from))
      this.prune(item.from, [idOf(origin, seq)])
  }

  private graftTimeout(origin: string, seq: number): void {
    const id = idOf(origin, seq)
    const m = this.missing.get(id)
    if (!m || !this.running) return
    m.timer = undefined
    if (this.has(origin, seq)) {
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
    this.counters.grafts++
    this.queueGraft(peer, origin, seq)
    m.timer = this.c.clock.setTimeout(() => this.graftTimeout(origin, seq), K.GRAFT_RETRY_MS)
  }

  /**
   * Seq `upTo` of `origin` came from `sender` with seqs below it missing here: after graftTimeoutMs
   * (time for reordered frames) one GRAFT asks the sender for those still missing, then the origin
   * node. The loss of an origin's last message before it goes quiet is anti-entropy's to find.
   */
  private repairGap(origin: string, upTo: number, sender: string): void {
    const log = this.origins.get(origin)
    if (!log) return
    const from = Math.max(log.contiguous, upTo - K.GAP_REPAIR_MAX, this.gapPending.get(origin) ?? 0)
    if (from >= upTo) return
    if (!this.gapPending.has(origin) && this.gapPending.size >= K.MAX_MISSING) return
    this.gapPending.set(origin, upTo)
    const askers = [sender]
    const originNode = nameOf(origin)
    if (originNode !== sender && originNode !== this.c.self.name) askers.push(originNode)
    const attempt = (delayMs: number) => {
      const timer = this.c.clock.setTimeout(() => {
        this.gapTimers.delete(timer)
        if (!this.running) return
        const still: Array<[string, number]> = []
        for (let seq = from; seq < upTo; seq++) if (!this.has(origin, seq)) still.push([origin, seq])
        const peer = askers.shift()
        if (still.length === 0 || !peer || !this.c.peers().includes(peer)) {
          if (this.gapPending.get(origin) === upTo) this.gapPending.delete(origin)
          return
        }
        this.counters.grafts++
        this.sendFrame(peer, 'graft', { i: still })
        attempt(K.GRAFT_RETRY_MS)
      }, delayMs)
      this.gapTimers.add(timer)
    }
    attempt(this.o.graftTimeoutMs)
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
    this.graftTimer = this.c.clock.setTimeout(() => {
      this.graftTimer = undefined
      const queue = [...this.graftQueue]
      this.graftQueue.clear()
      if (!this.running) return
      for (const [p, all] of queue)
        for (let at = 0; at < all.length; at += K.MAX_IDS_PER_FRAME)
          this.sendFrame(p, 'graft', { i: all.slice(at, at + K.MAX_IDS_PER_FRAME) })
    }, 0)
  }

  private onGraft(env: Envelope): void {
    const r = GraftBody.safeParse(env.body)
    if (!r.success) return this.drop(env, 'bad_body')
    if (!this.c.peers().includes(env.src)) return this.drop(env, 'unknown_peer')
    this.notePeer(env.src)
    this.lazy.delete(env.src)
    this.eager.add(env.src)
    const items: WireItem[] = []
    for (const [origin, seq] of r.data.i) {
      const item = this.origins.get(origin)?.items.get(seq)
      if (item) items.push(this.wire(item))
    }
    if (items.length) this.sendItems(env.src, items, [], 1)
  }

  private onPrune(env: Envelope): void {
    this.notePeer(env.src)
    this.eager.delete(env.src)
    this.lazy.add(env.src)
  }

  private wire(item: Item): WireItem {
    const w: WireItem = {
      o: item.origin,
      q: item.seq,
      v: item.value,
      s: item.strategy,
      t: item.sentAt,
      h: item.hops + 1,
    }
    if (item.kind === 'group') w.k = 'g'
    return w
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
        if (!this.running || !this.receipts.has(id)) return done(undefined)
        if (attempts >= K.RECEIPT_ATTEMPTS) return done(undefined)
        attempts++
        const [origin, seqText] = [id.slice(0, id.lastIndexOf('.')), id.slice(id.lastIndexOf('.') + 1)]
        const item = this.origins.get(origin)?.items.get(Number(seqText))
        const peer = shuffle([...this.peerNames()])[0]
        if (item && peer) {
          this.counters.payloadSent++
          this.sendFrame(peer, 'msg', { m: [this.wire(item)], r: [id], a: 2 })
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
    if (every <= 0 || this.aeTimer || !this.running) return
    this.aeTimer = this.c.clock.setTimeout(
      () => {
        this.aeTimer = undefined
        if (!this.running) return
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
    const peer = shuffle([...this.peerNames()])[0]
    if (!peer || this.origins.size === 0) return
    this.sendFrame(peer, 'digest', { d: this.digest() })
  }

  private digest(): Record<string, number[]> {
    // Origins are names peers sent: no prototype.
    const d = Object.create(null) as Record<string, number[]>
    for (const [origin, log] of this.origins) {
      const extra = [...log.items.keys()].filter((q) => q > log.contiguous)
      d[origin] = [log.contiguous, ...extra]
    }
    return d
  }

  private onDigest(env: Envelope): void {
    const r = DigestBody.safeParse(env.body)
    if (!r.success) return this.drop(env, 'bad_body')
    const theirs = r.data.d
    const now = Date.now()
    const give: WireItem[] = []
    let theyHaveMore = false
    for (const [origin, log] of this.origins) {
      const [contiguous = 0, ...extra] = theirs[origin] ?? [0]
      const extraSet = new Set(extra)
      for (const [seq, item] of log.items)
        if (seq >= contiguous && !extraSet.has(seq) && now - item.receivedAt >= this.o.antiEntropyGraceMs)
          give.push(this.wire(item))
    }
    for (const [origin, [contiguous = 0, ...extra]] of Object.entries(theirs)) {
      const mine = this.origins.get(origin)
      if (!mine || mine.contiguous < contiguous || extra.some((q) => !this.has(origin, q))) {
        theyHaveMore = true
        break
      }
    }
    if (give.length) this.sendItems(env.src, give, [], 2)
    if (theyHaveMore && !r.data.r) this.sendFrame(env.src, 'digest', { d: this.digest(), r: 1 })
  }

  // ---- the ip strategy: one datagram to the broadcast address ----

  private clusterKey(): string {
    const master = this.c.members().find((m) => m.role === 'master')
    return master ? master.host : this.c.self.host
  }

  /** Opens the ip socket once; concurrent callers share the attempt. */
  private ensureIpSocket(): Promise<void> {
    if (this.ipSocket || !this.running || this.o.ipPort <= 0) return Promise.resolve()
    if (!this.ipOpening)
      this.ipOpening = this.openIpSocket().finally(() => {
        this.ipOpening = undefined
      })
    return this.ipOpening
  }

  private async openIpSocket(): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    socket.on(
      'message',
      guarded(
        (buf: Buffer, rinfo: RemoteInfo) => this.onIpDatagram(buf, `${rinfo.address}:${rinfo.port}`),
        () => this.counters.dropped++,
      ),
    )
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        // Only where the node listens: its interface's broadcast address, not every interface.
        socket.bind(this.o.ipPort, ipBindAddress(this.c.self.bindHost), () => resolve())
      })
      socket.setBroadcast(true)
      socket.removeAllListeners('error')
      socket.on('error', (err) => this.log.debug(`ip broadcast socket: ${err.message}`))
      if (!this.running) {
        socket.close()
        return
      }
      this.ipSocket = socket
    } catch (err) {
      socket.close()
      this.log.warn(`no ip broadcast on UDP port ${this.o.ipPort}: ${(err as Error).message}`)
    }
  }

  private ipAddress(): string {
    if (this.o.ipAddress) return this.o.ipAddress
    return subnetBroadcastAddress(this.c.self.bindHost) ?? '255.255.255.255'
  }

  private sendIp(w: WireItem): void {
    const socket = this.ipSocket
    if (!socket) return
    const env = createEnvelope({
      proto: this.name,
      type: 'msg',
      src: this.c.self.name,
      dst: BROADCAST_DST,
      body: { m: [w], c: this.clusterKey() },
    })
    let frame: Buffer
    try {
      frame = encodeFrame(env, { maxFrameBytes: MAX_DATAGRAM_BYTES, auth: this.c.trust?.frameAuth })
    } catch (err) {
      this.log.warn(`ip broadcast not sent: ${(err as Error).message}`)
      return
    }
    this.counters.framesSent.ip = (this.counters.framesSent.ip ?? 0) + 1
    this.tally.note('ip', [idOf(w.o, w.q)], true)
    this.counters.payloadSent++
    this.counters.ipBytes += frame.length
    this.c.record({
      proto: this.name,
      kind: 'send',
      msgId: env.id,
      src: this.c.self.name,
      dst: BROADCAST_DST,
      bytes: frame.length,
      transport: 'udp',
      type: 'ip',
    })
    socket.send(frame, this.o.ipPort, this.ipAddress(), (err) => {
      if (err) this.log.debug(`ip broadcast failed: ${err.message}`)
    })
  }

  private onIpDatagram(buf: Buffer, from: string): void {
    if (!this.running) return
    let env: Envelope
    try {
      // The cluster key covers this socket too: the MAC is checked before anything is parsed.
      env = decodeFrame(buf, { maxFrameBytes: MAX_DATAGRAM_BYTES, auth: this.c.trust?.frameAuth })
    } catch (err) {
      this.counters.dropped++
      this.c.metrics.inc('distlab_frames_dropped_total', 'Frames dropped, by reason.', {
        proto: this.name,
        reason: err instanceof FrameDecodeError ? err.reason : 'bad_header',
        direction: 'in',
        transport: 'udp',
      })
      this.c.record({
        proto: this.name,
        kind: 'drop',
        msgId: '',
        src: from,
        dst: this.c.self.name,
        bytes: buf.length,
        transport: 'udp',
        reason: err instanceof FrameDecodeError ? err.reason : 'bad_header',
      })
      return
    }
    if (env.src === this.c.self.name || env.proto !== this.name) return
    const body = env.body as { c?: unknown } | null
    if (body?.c !== this.clusterKey() || !this.c.peers().includes(env.src))
      return this.drop(env, 'not_for_me')
    // The link emulator does not see this socket: apply this node's rule and partition for the sender.
    if (this.c.links.partitioned(env.src)) return this.drop(env, 'partition')
    const rule = this.c.links.ruleFor(env.src)
    if (rule.loss > 0 && Math.random() < rule.loss) return this.drop(env, 'loss')
    this.c.record({
      proto: this.name,
      kind: 'recv',
      msgId: env.id,
      src: env.src,
      dst: BROADCAST_DST,
      bytes: buf.length,
      transport: 'udp',
      type: 'ip',
    })
    const deliver = () =>
      this.onMsg(env, { env, from: { host: from, port: 0 }, bytes: buf.length, transport: 'udp' })
    if (rule.delayMs > 0) this.c.clock.setTimeout(deliver, rule.delayMs)
    else deliver()
  }

  // ---- HTTP ----

  routes(app: FastifyInstance): void {
    const Body = z.strictObject({
      msg: z.unknown(),
      strategy: z.enum(STRATEGIES).optional(),
      durable: z.boolean().default(false),
    })
    app.post('/broadcast', async (req) => {
      const { msg, strategy, durable } = parseBody(Body, req.body)
      return this.broadcast(msg, { strategy, durable })
    })
    app.get('/broadcast/delivered', async (req) => {
      const q = req.query as { since?: string; kind?: string; id?: string }
      const since = Number(q.since ?? 0)
      const kind = q.kind === 'group' || q.kind === 'all' ? q.kind : 'app'
      const r = this.delivered(Number.isFinite(since) && since > 0 ? since : 0, kind)
      if (typeof q.id === 'string') r.messages = r.messages.filter((m) => m.id === q.id)
      return r
    })
    app.get('/broadcast/stats', async () => this.stats())
    app.get('/broadcast/frames', async (req) => {
      const { id } = parseBody(z.object({ id: z.string().min(1).max(256) }), req.query)
      return this.tally.get(id)
    })
    app.get('/broadcast/read', async () => {
      const values = this.delivered(0, 'app').messages.map((m) => m.value)
      return { count: values.length, values }
    })
    const Tuning = z.strictObject({
      strategy: z.enum(STRATEGIES).optional(),
      gossipFanout: z.number().int().min(0).max(1000).optional(),
      lazyPushIntervalMs: z.number().min(1).max(600_000).optional(),
      lazyPushFanout: z.number().int().min(0).max(10_000).optional(),
      graftTimeoutMs: z.number().min(1).max(600_000).optional(),
      antiEntropyIntervalMs: z.number().min(0).max(3_600_000).optional(),
      antiEntropyGraceMs: z.number().min(0).max(3_600_000).optional(),
      batchMs: z.number().min(0).max(60_000).optional(),
      coalesceMs: z.number().min(0).max(60_000).optional(),
      receiptTimeoutMs: z.number().min(1).max(600_000).optional(),
    })
    app.get('/broadcast/config', async () => this.tuning())
    app.put('/broadcast/config', async (req) => this.configure(parseBody(Tuning, req.body)))
  }
}

/** The IPv4 broadcast address of the subnet `host` is on: 127.255.255.255 on loopback. */
export function subnetBroadcastAddress(host: string): string | undefined {
  if (host.startsWith('127.')) return K.LOOPBACK_BROADCAST_ADDRESS
  if (!isIPv4(host) || host === '0.0.0.0') return undefined
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.address !== host) continue
      const ip = a.address.split('.').map(Number)
      const mask = a.netmask.split('.').map(Number)
      return ip.map((b, i) => (b | (~mask[i]! & 0xff)) & 0xff).join('.')
    }
  return undefined
}

/**
 * Where the ip socket binds: the broadcast address of the node's interface (so it hears the
 * subnet's broadcasts and nothing sent to the machine's other addresses); 0.0.0.0 only for a node
 * told to listen on every interface; the node's own address when no interface holds it.
 */
export function ipBindAddress(bindHost: string): string {
  if (bindHost === '0.0.0.0') return '0.0.0.0'
  return subnetBroadcastAddress(bindHost) ?? bindHost
}
