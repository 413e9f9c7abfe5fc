// The membership protocol: seed 002's bootstrap registry and peer views, gossip discovery and
// SWIM failure detection. `membership(init)` is the factory a node plugs in.
import type { ProtocolComponents } from '../../core/interfaces.js'
import { checkInteger, checkNumber } from '../../core/options.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { Membership } from './membership.js'
import type { ResolvedMembershipOptions } from './types.js'
import { normalizePeerUrl } from './registry.js'
import * as K from './constants.js'

export {
  Membership,
  type MemberInfo,
  type MemberKind,
  type MemberStatus,
  type MembershipStats,
} from './membership.js'
export { normalizePeerUrl, InvalidPeerUrlError, TokenBucket } from './registry.js'
export { suspicionBounds, type SuspicionBounds } from './suspicion.js'
export * from './constants.js'
export type { ResolvedMembershipOptions } from './types.js'

export interface MembershipInit {
  /** The bootstrap registry's URL; the node registers there at start. @default none */
  bootstrapUrl?: string
  /** A live peer to join through as well (or instead, when the bootstrap is gone). @default none */
  seedUrl?: string
  /** This node is a registry only: it keeps a view but is never listed as a peer. @default false */
  registry?: boolean
  /** @default 1000 ms */
  probeIntervalMs?: number
  /** @default 500 ms */
  probeTimeoutMs?: number
  /** @default 3 */
  indirectChecks?: number
  /** @default 4 */
  suspicionMult?: number
  /** A suspicion starts at this multiple of its minimum timeout (Lifeguard). @default 6 */
  suspicionMaxTimeoutMult?: number
  /** @default 4 */
  retransmitMult?: number
  /** @default 200 ms */
  gossipIntervalMs?: number
  /** @default 3 */
  gossipFanout?: number
  /** @default 5000 ms (scaled up beyond 32 members) */
  pushPullIntervalMs?: number
  /** @default 8192 bytes */
  maxPiggybackBytes?: number
  /** @default 30000 ms */
  deadRetentionMs?: number
  /** 0 turns re-registration off. @default 30000 ms */
  reregisterIntervalMs?: number
  /** @default 30 */
  joinAttempts?: number
  /** @default 1000 ms */
  joinRetryMs?: number
  /** @default 5000 ms */
  httpTimeoutMs?: number
  /** @default 500 per second */
  registrationsPerSecond?: number
  /** @default 1000 */
  registrationBurst?: number
  /** @default 256 */
  maxPendingVerifications?: number
  /** @default 64 */
  verifyConcurrency?: number
  /** @default 3 */
  verifyAttempts?: number
  /** @default 1000 ms */
  verifyRetryMs?: number
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number
}

/** The option names `DISTLAB_MEMBERSHIP` may set (numbers only). */
export const TUNABLE_OPTIONS = [
  'probeIntervalMs',
  'probeTimeoutMs',
  'indirectChecks',
  'suspicionMult',
  'suspicionMaxTimeoutMult',
  'retransmitMult',
  'gossipIntervalMs',
  'gossipFanout',
  'pushPullIntervalMs',
  'maxPiggybackBytes',
  'deadRetentionMs',
  'reregisterIntervalMs',
  'joinAttempts',
  'joinRetryMs',
  'httpTimeoutMs',
  'registrationsPerSecond',
  'registrationBurst',
  'maxPendingVerifications',
  'verifyConcurrency',
  'verifyAttempts',
  'verifyRetryMs',
] as const

function url(field: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined
  try {
    return normalizePeerUrl(v, field)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message, field)
  }
}

export function resolveMembershipOptions(init: MembershipInit = {}): ResolvedMembershipOptions {
  const probeIntervalMs = checkInteger(
    'probeIntervalMs',
    init.probeIntervalMs ?? K.PROBE_INTERVAL_MS,
    10,
    600_000,
  )
  const probeTimeoutMs = checkInteger('probeTimeoutMs', init.probeTimeoutMs ?? K.PROBE_TIMEOUT_MS, 5, 600_000)
  if (probeTimeoutMs >= probeIntervalMs)
    throw new InvalidArgumentError(
      `probeTimeoutMs (${probeTimeoutMs}) must be shorter than probeIntervalMs (${probeIntervalMs})`,
      'probeTimeoutMs',
    )
  const random = init.random ?? Math.random
  if (typeof random !== 'function') throw new InvalidArgumentError('random must be a function', 'random')
  return Object.freeze({
    bootstrapUrl: url('bootstrapUrl', init.bootstrapUrl),
    seedUrl: url('seedUrl', init.seedUrl),
    registry: init.registry ?? false,
    probeIntervalMs,
    probeTimeoutMs,
    indirectChecks: checkInteger('indirectChecks', init.indirectChecks ?? K.INDIRECT_CHECKS, 0, 16),
    suspicionMult: checkNumber('suspicionMult', init.suspicionMult ?? K.SUSPICION_MULT, 0.1, 100),
    suspicionMaxTimeoutMult: checkNumber(
      'suspicionMaxTimeoutMult',
      init.suspicionMaxTimeoutMult ?? K.SUSPICION_MAX_TIMEOUT_MULT,
      1,
      100,
    ),
    retransmitMult: checkInteger('retransmitMult', init.retransmitMult ?? K.RETRANSMIT_MULT, 1, 100),
    gossipIntervalMs: checkInteger(
      'gossipIntervalMs',
      init.gossipIntervalMs ?? K.GOSSIP_INTERVAL_MS,
      5,
      600_000,
    ),
    gossipFanout: checkInteger('gossipFanout', init.gossipFanout ?? K.GOSSIP_FANOUT, 1, 64),
    pushPullIntervalMs: checkInteger(
      'pushPullIntervalMs',
      init.pushPullIntervalMs ?? K.PUSH_PULL_INTERVAL_MS,
      10,
      3_600_000,
    ),
    maxPiggybackBytes: checkInteger(
      'maxPiggybackBytes',
      init.maxPiggybackBytes ?? K.MAX_PIGGYBACK_BYTES,
      256,
      60_000,
    ),
    deadRetentionMs: checkInteger(
      'deadRetentionMs',
      init.deadRetentionMs ?? K.DEAD_RETENTION_MS,
      0,
      86_400_000,
    ),
    reregisterIntervalMs: checkInteger(
      'reregisterIntervalMs',
      init.reregisterIntervalMs ?? K.REREGISTER_INTERVAL_MS,
      0,
      86_400_000,
    ),
    joinAttempts: checkInteger('joinAttempts', init.joinAttempts ?? K.JOIN_ATTEMPTS, 1, 10_000),
    joinRetryMs: checkInteger('joinRetryMs', init.joinRetryMs ?? K.JOIN_RETRY_MS, 1, 600_000),
    httpTimeoutMs: checkInteger('httpTimeoutMs', init.httpTimeoutMs ?? K.HTTP_TIMEOUT_MS, 10, 600_000),
    registrationsPerSecond: checkNumber(
      'registrationsPerSecond',
      init.registrationsPerSecond ?? K.REGISTRATIONS_PER_SECOND,
      0.001,
      1e6,
    ),
    registrationBurst: checkInteger(
      'registrationBurst',
      init.registrationBurst ?? K.REGISTRATION_BURST,
      1,
      1e6,
    ),
    maxPendingVerifications: checkInteger(
      'maxPendingVerifications',
      init.maxPendingVerifications ?? K.MAX_PENDING_VERIFICATIONS,
      1,
      100_000,
    ),
    verifyConcurrency: checkInteger(
      'verifyConcurrency',
      init.verifyConcurrency ?? K.VERIFY_CONCURRENCY,
      1,
      1024,
    ),
    verifyAttempts: checkInteger('verifyAttempts', init.verifyAttempts ?? K.VERIFY_ATTEMPTS, 1, 100),
    verifyRetryMs: checkInteger('verifyRetryMs', init.verifyRetryMs ?? K.VERIFY_RETRY_MS, 1, 600_000),
    random,
  })
}

export function membership(init: MembershipInit = {}): (c: ProtocolComponents) => Membership {
  const options = resolveMembershipOptions(init)
  return (c) => new Membership(c, options)
}
