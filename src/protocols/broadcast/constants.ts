// Defaults of the broadcast strategies. Where a value comes from a paper it says which.

/** The strategy a broadcast uses when none is named. */
export const DEFAULT_STRATEGY = 'tree'
/** UDP port of the IP broadcast strategy (one datagram to the broadcast address reaches every node). */
export const IP_BROADCAST_PORT = 7001
/** The broadcast address on loopback (DESIGN.md: verified to reach sockets bound to 0.0.0.0). */
export const LOOPBACK_BROADCAST_ADDRESS = '127.255.255.255'
/**
 * Extra gossip targets beyond ln(N): with fanout ln(N) + c, infect-and-die push reaches every node
 * with probability about exp(-exp(-c)) (Kermarrec, Massoulié and Ganesh 2003); c = 2 gives ~0.87,
 * and anti-entropy repairs the rest.
 */
export const GOSSIP_FANOUT_EXTRA = 2
/** Time between flushes of the lazy IHAVE announcements (Plumtree's lazy push), in ms. */
export const LAZY_PUSH_INTERVAL_MS = 500
/**
 * Lazy peers each flush goes to. Plumtree (Leitão, Pereira and Rodrigues 2007) announces to every
 * lazy peer of a partial view of about log(N) + 1 peers; distlab's view is the whole membership,
 * so it samples that many instead.
 */
export const LAZY_PUSH_FANOUT = 3
/** Time an IHAVE may stay unanswered by the eager tree before a GRAFT asks for the message, in ms. */
export const GRAFT_TIMEOUT_MS = 1000
/** Time before asking the next announcer when a GRAFT brings nothing, in ms (Plumtree's timeout2). */
export const GRAFT_RETRY_MS = 500
/**
 * Plumtree's optimisation (section 3.8): when an IHAVE shows a path this many hops shorter than the
 * eager one the message came by, the lazy link replaces the eager one.
 */
export const TREE_OPTIMIZATION_THRESHOLD_HOPS = 3
/** Time between anti-entropy rounds (Demers et al. 1987), each with one random peer, in ms. */
export const ANTI_ENTROPY_INTERVAL_MS = 2000
/** Messages younger than this at the answering node are left to the push path, in ms. */
export const ANTI_ENTROPY_GRACE_MS = 1500
/** Eager pushes wait this long to travel together in one frame; 0 sends each at once, in ms. */
export const BATCH_MS = 0
/**
 * Nagle-style coalescing (RFC 896's idea applied to eager pushes): a push to a peer that was sent a
 * frame less than this long ago waits until this long after that frame, with whatever else is going
 * there; a push to a quiet peer goes at once. At the hub of a star tree carrying 50 broadcasts/s it
 * turns about 50 frames per peer per second into 1000 / COALESCE_MS, for at most that much delay on
 * one hop. 0 turns it off. In ms.
 */
export const COALESCE_MS = 50
/**
 * Anti-entropy when nothing is lost costs almost nothing: a round sends its digest only when this
 * node heard no new message for a whole interval (it may be cut off), or on every this-many-th round
 * otherwise (a lost last message of an origin that stays quiet).
 */
export const ANTI_ENTROPY_BUSY_EVERY = 5
/** Missing seqs below a newly received one that a node asks the sender for at once (gap repair). */
export const GAP_REPAIR_MAX = 256
/** Messages a node tracks as missing (announced or behind a gap) at once; beyond, anti-entropy repairs. */
export const MAX_MISSING = 10_000
/** Messages kept for delivery reads and anti-entropy; the oldest go first beyond this. */
export const MAX_STORED_MESSAGES = 200_000
/**
 * Origins (`name~session`) the store keeps messages for; beyond this the oldest origin of a node
 * that is no longer a member goes first (then the oldest of all), so invented names cannot grow it.
 */
export const MAX_ORIGINS = 10_000
/**
 * Stored messages one anti-entropy answer sends at most; an answer that stops short says so, and the
 * asker sends its next digest at once (ANTI_ENTROPY_PULL_MS later), so a node far behind catches up
 * over a few round trips while one digest never draws back the whole store.
 */
export const ANTI_ENTROPY_MAX_ITEMS = 1000
/** Wait before the next digest to a peer whose answer stopped short, in ms. */
export const ANTI_ENTROPY_PULL_MS = 200
/** Largest broadcast message, in bytes of JSON. */
export const MAX_MESSAGE_BYTES = 16_384
/** Target size of one frame of pushed messages, in bytes of JSON. */
export const FRAME_TARGET_BYTES = 32_768
/** A durable broadcast waits this long for the first peer's receipt before asking another, in ms. */
export const RECEIPT_TIMEOUT_MS = 500
/** Peers a durable broadcast tries before it answers without a receipt. */
export const RECEIPT_ATTEMPTS = 6
/** Nodes every node starts with as eager tree peers: the tree that emerges is a star around them. */
export const TREE_HUBS = 1
/**
 * Message ids one IHAVE or GRAFT frame may carry; a sender splits longer lists. 1024 ids of up to
 * ~110 bytes of JSON fit a UDP datagram with room to spare.
 */
export const MAX_IDS_PER_FRAME = 1024
/** Announcers remembered per missing id (GRAFT tries them in turn). */
export const MAX_ANNOUNCERS_PER_ID = 8
/** Evictions (store over its budget) are logged at most once per this interval, with totals; in ms. */
export const EVICTION_LOG_INTERVAL_MS = 10_000
/** The byte budgets of what a node keeps from its peers (store, delivery log, duplicate table). */
export * from './budget.js'
