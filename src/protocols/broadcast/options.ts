// The broadcast protocol's public types: strategies, options (resolved and checked in one place),
// the tuning knobs that change at run time, what a delivery, a result and the stats look like.
import { InvalidArgumentError, BroadcastError } from '../../core/errors.js'
import { checkInteger, checkNumber, checkPort, checkString } from '../../core/options.js'
import * as K from './constants.js'

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
  /**
   * Estimated bytes of messages kept, in the payload store and in the delivery log each (the oldest
   * go first beyond it). @default 4 MiB (MAX_STORED_BYTES)
   */
  maxStoredBytes?: number
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
    maxStoredBytes: checkInteger('maxStoredBytes', init.maxStoredBytes ?? K.MAX_STORED_BYTES, 1),
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

export { BroadcastError }

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
  /**
   * Frames this node put on the wire for every protocol it runs (membership probes, unicast, ...,
   * and this one's): what Maelstrom's servers-only count would see.
   */
  nodeFramesSent: number
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
  /** Messages held for anti-entropy and GRAFT answers (bounded by maxStoredMessages). */
  stored: number
  /** Origins (`name~session`) messages are held for (bounded by MAX_ORIGINS). */
  origins: number
  /** Origins dropped to stay within MAX_ORIGINS, those of non-members first. */
  originsEvicted: number
  /** Estimated bytes of the messages held (bounded by maxStoredBytes). */
  storedBytes: number
  /** Payloads evicted to stay within maxStoredMessages / maxStoredBytes (still known as delivered). */
  payloadsEvicted: number
  /** Deliveries dropped from the delivery log to stay within the same bounds. */
  deliveriesEvicted: number
  /** Seqs given up on below seqs far ahead (MAX_SEEN_AHEAD): never delivered here. */
  seqsAbandoned: number
  /** Messages a peer's digest lacked that this node had delivered but no longer held: not sent. */
  unservable: number
  /** Messages refused for a value over MAX_MESSAGE_BYTES of JSON. */
  oversized: number
}
