// Defaults of the membership protocol. The failure detector's come from memberlist's
// DefaultLANConfig (the library under Serf and Consul), which follows SWIM (Das, Gupta and
// Motivala, DSN 2002) with Lifeguard's suspicion timeouts; the gossip's from the same config.

/** How often each member probes one other member, in ms (memberlist ProbeInterval: 1 s). */
export const PROBE_INTERVAL_MS = 1000
/** How long a direct probe waits for its ack before asking others, in ms (memberlist ProbeTimeout: 500 ms). */
export const PROBE_TIMEOUT_MS = 500
/**
 * Ceiling of Lifeguard's local health multiplier: the score stays in 0..MAX_HEALTH − 1 and timeouts
 * scale by score + 1, so at most 8 times (memberlist AwarenessMaxMultiplier: 8).
 */
export const MAX_HEALTH = 8
/**
 * A suspicion starts at this multiple of the minimum suspicion timeout and shrinks to the minimum
 * with independent confirmations (Lifeguard; memberlist SuspicionMaxTimeoutMult: 6).
 */
export const SUSPICION_MAX_TIMEOUT_MULT = 6
/**
 * A member asked to probe on another's behalf (ping-req) sends a nack when no ack came within this
 * fraction of its probe timeout, so that the nack reaches the asker before its own deadline
 * (Lifeguard's nacks: the asker counts missing nacks against its own health).
 */
export const NACK_TIMEOUT_FRACTION = 0.8
/**
 * Times an ack timer that fired late (the process was busy) waits once more before the probe fails;
 * a suspicion timer too (suspicion.ts, SUSPICION_LATE_MS).
 */
export const MAX_LATE_REARMS = 3
/**
 * Rounds of pings a member sends a suspect before its suspicion removes it (begun so that they end
 * when it is due), and the registry a member another member reports dead (each round waits a probe
 * timeout, scaled by local health); an ack keeps the member.
 */
export const DEATH_CHECK_ROUNDS = 4
/**
 * Pings a round sends at once. At 30% loss each way a ping and its ack both arrive about half the
 * time: four single pings let one false removal in fifteen through (seen in CI-like runs, as a live
 * member removed by the registry), four rounds of three one in three thousand, in the same time.
 */
export const DEATH_CHECK_BURST = 3
/**
 * Reported deaths the registry checks at once, and suspects a member checks at once; past that a
 * report is believed as it comes, and a suspicion runs out unchecked.
 */
export const MAX_DEATH_CHECKS = 64
/** Members asked to probe a silent member on our behalf (memberlist IndirectChecks: 3). */
export const INDIRECT_CHECKS = 3
/**
 * Suspicion lasts SUSPICION_MULT × log10(max(n, 10)) × probe interval before a member is declared
 * dead (memberlist SuspicionMult: 4; about 7 s at 50 members and 12 s at 1000).
 */
export const SUSPICION_MULT = 4
/** An update is piggybacked RETRANSMIT_MULT × ceil(log10(n + 1)) times (memberlist RetransmitMult: 4). */
export const RETRANSMIT_MULT = 4
/** How often queued updates are gossiped, in ms (memberlist GossipInterval: 200 ms). */
export const GOSSIP_INTERVAL_MS = 200
/** Random members each gossip round goes to (memberlist GossipNodes: 3). */
export const GOSSIP_FANOUT = 3
/**
 * How often a member swaps its view with one random member (push-pull anti-entropy), in ms.
 * memberlist uses 30 s; views of a classroom-sized overlay converge faster at 5 s, and the interval
 * grows with the cluster as memberlist's pushPullScale does (beyond 32 members). A swap sends a
 * digest first and whole views only when the digests differ. (Measured with 30 s: 500 peers in one
 * process took twice as long to converge after a mass join.)
 */
export const PUSH_PULL_INTERVAL_MS = 5000
/**
 * Members a new member swaps views with right after it registers, besides the registry's answer
 * (memberlist pushes and pulls with its join addresses only). One: with three, a mass join of a
 * thousand peers moved thousands of whole views at once.
 */
export const JOIN_PUSH_PULLS = 1
/** Members a new member swaps views with when the registry's answer lists at most PUSH_PULL_SCALE_THRESHOLD. */
export const JOIN_PUSH_PULLS_SMALL = 3
/** Views up to this size push-pull at the base interval; beyond it the interval grows with log2 n (memberlist's pushPullScaleThreshold). */
export const PUSH_PULL_SCALE_THRESHOLD = 32
/**
 * Reads of the registry's list after a registration by call (peers in the registry's process), one
 * a join retry apart, while the list keeps growing (join.ts's catchUp): ten cover a mass join whose
 * registrations spread over ten seconds of a busy process.
 */
export const CATCH_UP_ROUNDS = 10
/** Join retries back off up to this multiple of joinRetryMs (with ±50% jitter). */
export const JOIN_BACKOFF_MAX_FACTOR = 8
/**
 * Bytes of piggybacked updates in one datagram. memberlist keeps to one Ethernet frame (1400);
 * 8 KB (IP fragments it on a 1500-byte MTU) carries about 55 updates a frame, so a mass join
 * drains six times faster for the same per-frame cost.
 */
export const MAX_PIGGYBACK_BYTES = 8192
/** How long a dead member is remembered so that stale gossip cannot bring it back, in ms (memberlist GossipToTheDeadTime: 30 s). */
export const DEAD_RETENTION_MS = 30_000
/** How often a member registers again with the bootstrap, in ms (0: only at start); scaled beyond 32 members like push-pull. */
export const REREGISTER_INTERVAL_MS = 30_000
/** Attempts to register with the bootstrap (or the seed) at start before giving up. */
export const JOIN_ATTEMPTS = 30
/** Wait between two registration attempts at start, in ms. */
export const JOIN_RETRY_MS = 1000
/** Timeout of every HTTP call the protocol makes (registration, verification, messages), in ms. */
export const HTTP_TIMEOUT_MS = 5000

/** Most members one view holds; registrations beyond it are refused. */
export const MAX_MEMBERS = 10_000
/** Removals GET /membership lists (the newest), so that who removed whom, and why, can be read back. */
export const RECENT_REMOVALS = 32
/** Registrations a node accepts per second (token bucket rate); more get 429. */
export const REGISTRATIONS_PER_SECOND = 500
/** Burst of the registration token bucket. */
export const REGISTRATION_BURST = 1000
/** Registered URLs waiting to be checked at once; more get 429. */
export const MAX_PENDING_VERIFICATIONS = 256
/** Verification HTTP calls in flight at once. */
export const VERIFY_CONCURRENCY = 64
/** A registered URL is checked this many times before it is dropped. */
export const VERIFY_ATTEMPTS = 3
/** Wait between two checks of a registered URL, in ms. */
export const VERIFY_RETRY_MS = 1000
/** Longest URL accepted in a registration. */
export const MAX_URL_LENGTH = 512
/** Largest body POST /register accepts, in bytes. */
export const MAX_REGISTER_BODY_BYTES = 16 * 1024
/** Largest registry answer (its member list) a registering peer reads, in bytes: MAX_MEMBERS of about 200 bytes, twice over. */
export const MAX_REGISTER_ANSWER_BYTES = 4 * 1024 * 1024
/** Longest message `p2p send` or `p2p broadcast` carries, in characters. */
export const MAX_MESSAGE_CHARS = 4096
/** Broadcast message ids remembered to drop duplicates. */
export const SEEN_MESSAGES = 4096
/** Updates accepted in one gossip frame, and members in one push-pull. */
export const MAX_UPDATES_PER_FRAME = 64
/**
 * How stale the member list a registry hands out with POST /register may be, in ms: during a mass
 * join the view changes with every registration, and one list serialized per window serves them all
 * (gossip and push-pull fill in what a slightly older list misses).
 */
export const STATE_JSON_MAX_AGE_MS = 250
/** Peer addresses learned from other peers being checked by the URL guard at once; more wait for the next sighting. */
export const MAX_URL_CHECKS = 1024
/** Peer addresses remembered as checked (then the memory starts over). */
export const MAX_ALLOWED_ADDRESSES = 4 * MAX_MEMBERS
/**
 * Registrations (POST /register) in flight at once from the peers of one process. They share
 * keep-alive connections to the registry, so this is also about how many connections it must
 * accept; a busy Node process accepts one pending connection per listener per turn of its event
 * loop (measured: with 128, ~90 connections sat unaccepted in the registry's backlog for seconds
 * while its loop turned every 0.5-1 s, and their requests timed out).
 */
export const REGISTER_CONCURRENCY = 48
/** Frame types of the broadcast module carried by this protocol for `p2p broadcast` start with this. */
export const BROADCAST_TYPE_PREFIX = 'b:'
/** A registration may take this many times httpTimeoutMs. */
export const REGISTER_TIMEOUT_FACTOR = 3
/**
 * Updates queued beyond which a known update heard again from another peer counts against its
 * retransmissions (a backlog, as in a mass join; one join or one failure queues one or two).
 */
export const FEEDBACK_MIN_QUEUED = 16
/**
 * In a backlog, an update heard again this many times stops being sent (each hearing costs a
 * FEEDBACK_HEARINGS-th of the retransmit limit): Demers et al.'s feedback with a counter, where
 * k = 4 leaves about 0.4% of peers uninformed, for push-pull to repair.
 */
export const FEEDBACK_HEARINGS = 4
