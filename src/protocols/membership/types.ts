// The membership protocol's types: what a member is in a view, the counters, the answers of its
// HTTP routes, the resolved options, and the order of two states of one member.
import type { Suspicion } from './suspicion.js'
import type { Update } from './wire.js'
import type { RegistryDirectory } from './local-registry.js'

export type MemberStatus = 'alive' | 'suspect'

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

/** A member this node removed from its view as dead, and why (GET /membership's `removals`). */
export interface Removal {
  name: string
  url: string
  /** The incarnation it was removed at. */
  inc: number
  /** When, on this node's clock (ms since the epoch for a real clock). */
  at: number
  why: string
}

export interface Member extends MemberInfo {
  suspicion?: Suspicion
  httpFailures: number
  /** This member's share of the view's digest, kept until its version or status changes (pushpull.ts). */
  digestPart?: DigestPart
}

/** One member's two hashes in a view's digest, and the state they were taken of. */
export interface DigestPart {
  gen: number
  inc: number
  status: MemberStatus
  h1: number
  h2: number
}

/** A member removed as dead, remembered for deadRetentionMs (and passed on in push-pulls). */
export interface Tombstone {
  name: string
  id: string
  host: string
  port: number
  gen: number
  inc: number
  at: number
}

export interface Queued {
  update: Update
  /** Characters of the update as JSON (its share of a frame's piggyback budget). */
  bytes: number
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

export interface SendResult {
  status: 'sent'
  to: string
  url: string
  reply: unknown
}

export type Version = { g: number; c: number } | { gen: number; inc: number }
/**
 * Orders two states of a member: by generation (a restart), then by incarnation (a refutation).
 * Called millions of times in a mass join (every update a peer hears is compared), so it reads the
 * fields in place rather than building a pair for each side.
 */
export const cmp = (a: Version, b: Version): number => {
  const ag = 'g' in a ? a.g : a.gen
  const bg = 'g' in b ? b.g : b.gen
  if (ag !== bg) return ag - bg
  return ('g' in a ? a.c : a.inc) - ('g' in b ? b.c : b.inc)
}

/**
 * A named set of timings (as memberlist's DefaultLANConfig and DefaultLocalConfig):
 * - `lan` (the default): memberlist's LAN timings, for nodes on separate machines or containers.
 * - `local`: fast timings for tens to hundreds of nodes on one machine (the loopback tests).
 */
export type MembershipProfileName = 'lan' | 'local'

export interface ResolvedMembershipOptions {
  readonly profile: MembershipProfileName
  readonly bootstrapUrl?: string
  readonly seedUrl?: string
  readonly registry: boolean
  readonly probeIntervalMs: number
  readonly probeTimeoutMs: number
  readonly indirectChecks: number
  readonly suspicionMult: number
  readonly suspicionMaxTimeoutMult: number
  readonly retransmitMult: number
  readonly gossipIntervalMs: number
  readonly gossipFanout: number
  readonly pushPullIntervalMs: number
  readonly maxPiggybackBytes: number
  readonly deadRetentionMs: number
  readonly reregisterIntervalMs: number
  readonly joinAttempts: number
  readonly joinRetryMs: number
  readonly httpTimeoutMs: number
  readonly registrationsPerSecond: number
  readonly registrationBurst: number
  readonly maxPendingVerifications: number
  readonly verifyConcurrency: number
  readonly verifyAttempts: number
  readonly verifyRetryMs: number
  readonly random: () => number
  readonly directory?: RegistryDirectory
}
