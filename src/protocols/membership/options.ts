// The membership protocol's options: every tunable with its default, unit and range, the named
// profiles (`lan`, `local`) that set many at once, and the text form (`name=value`) launchers hand
// to node processes on their command line. Nothing here reads the environment.
import { checkInteger, checkNumber } from '../../core/options.js'
import { InvalidArgumentError } from '../../core/errors.js'
import type { MembershipProfileName, ResolvedMembershipOptions } from './types.js'
import { normalizePeerUrl } from './registry.js'
import { RegistryDirectory } from './local-registry.js'
import * as K from './constants.js'

export type { MembershipProfileName }

/** The numeric options: what a profile, a launcher flag or `DISTLAB_MEMBERSHIP` may set. */
export interface MembershipTimings {
  /** How often each member probes one other member, in ms (memberlist ProbeInterval). @default 1000 ms */
  probeIntervalMs?: number
  /** How long a direct probe waits for its ack before asking others, in ms; below probeIntervalMs. @default 500 ms */
  probeTimeoutMs?: number
  /** Members asked to probe a silent member on our behalf (0-16). @default 3 */
  indirectChecks?: number
  /** Suspicion lasts suspicionMult × log10(max(n, 10)) × probeIntervalMs before death. @default 4 */
  suspicionMult?: number
  /** A suspicion starts at this multiple of its minimum timeout (Lifeguard). @default 6 */
  suspicionMaxTimeoutMult?: number
  /** An update is piggybacked retransmitMult × ceil(log10(n + 1)) times. @default 4 */
  retransmitMult?: number
  /** How often queued updates are gossiped, in ms. @default 200 ms */
  gossipIntervalMs?: number
  /** Random members each gossip round goes to (1-64). @default 3 */
  gossipFanout?: number
  /** How often a member swaps its view with a random one, in ms (scaled up beyond 32 members). @default 5000 ms */
  pushPullIntervalMs?: number
  /** Bytes of updates piggybacked on one frame (256-60000). @default 8192 bytes */
  maxPiggybackBytes?: number
  /** How long a dead member's tombstone is kept, in ms. @default 30000 ms */
  deadRetentionMs?: number
  /** How often a peer registers again with the bootstrap, in ms; 0 turns it off. @default 30000 ms */
  reregisterIntervalMs?: number
  /** Registrations tried at start before the node gives up joining. @default 30 */
  joinAttempts?: number
  /** Wait between two registration attempts, in ms. @default 1000 ms */
  joinRetryMs?: number
  /** Timeout of one HTTP call to a peer or the registry, in ms. @default 5000 ms */
  httpTimeoutMs?: number
  /** Registrations the registry accepts per second (a token bucket's rate). @default 500 per second */
  registrationsPerSecond?: number
  /** Registrations the registry accepts at once (the bucket's size). @default 1000 */
  registrationBurst?: number
  /** Registrations waiting for their frame check at the registry. @default 256 */
  maxPendingVerifications?: number
  /** Registration frame checks run at once. @default 64 */
  verifyConcurrency?: number
  /** Frame pings a registration check sends before it refuses. @default 3 */
  verifyAttempts?: number
  /** Wait between two registration check pings, in ms. @default 1000 ms */
  verifyRetryMs?: number
}

export interface MembershipInit extends MembershipTimings {
  /**
   * Named timings applied first; the options given beside it override them (`{ profile: 'local',
   * suspicionMult: 3 }`). @default 'lan'
   */
  profile?: MembershipProfileName
  /** The bootstrap registry's URL; the node registers there at start. @default none */
  bootstrapUrl?: string
  /** A live peer to join through as well (or instead, when the bootstrap is gone). @default none */
  seedUrl?: string
  /** This node is a registry only: it keeps a view but is never listed as a peer. @default false */
  registry?: boolean
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number
  /**
   * The registries of this process (an in-process launcher's): a registry adds itself, and a peer
   * registers with one found there by a call instead of POST /register (local-registry.ts).
   * @default none
   */
  directory?: RegistryDirectory
}

type Tunable = keyof MembershipTimings

/** Each numeric option: default, smallest and largest value, whether it must be an integer. */
const RANGES: ReadonlyMap<Tunable, readonly [number, number, number, boolean]> = new Map([
  ['probeIntervalMs', [K.PROBE_INTERVAL_MS, 10, 600_000, true]],
  ['probeTimeoutMs', [K.PROBE_TIMEOUT_MS, 5, 600_000, true]],
  ['indirectChecks', [K.INDIRECT_CHECKS, 0, 16, true]],
  ['suspicionMult', [K.SUSPICION_MULT, 0.1, 100, false]],
  ['suspicionMaxTimeoutMult', [K.SUSPICION_MAX_TIMEOUT_MULT, 1, 100, false]],
  ['retransmitMult', [K.RETRANSMIT_MULT, 1, 100, true]],
  ['gossipIntervalMs', [K.GOSSIP_INTERVAL_MS, 5, 600_000, true]],
  ['gossipFanout', [K.GOSSIP_FANOUT, 1, 64, true]],
  ['pushPullIntervalMs', [K.PUSH_PULL_INTERVAL_MS, 10, 3_600_000, true]],
  ['maxPiggybackBytes', [K.MAX_PIGGYBACK_BYTES, 256, 60_000, true]],
  ['deadRetentionMs', [K.DEAD_RETENTION_MS, 0, 86_400_000, true]],
  ['reregisterIntervalMs', [K.REREGISTER_INTERVAL_MS, 0, 86_400_000, true]],
  ['joinAttempts', [K.JOIN_ATTEMPTS, 1, 10_000, true]],
  ['joinRetryMs', [K.JOIN_RETRY_MS, 1, 600_000, true]],
  ['httpTimeoutMs', [K.HTTP_TIMEOUT_MS, 10, 600_000, true]],
  ['registrationsPerSecond', [K.REGISTRATIONS_PER_SECOND, 0.001, 1e6, false]],
  ['registrationBurst', [K.REGISTRATION_BURST, 1, 1e6, true]],
  ['maxPendingVerifications', [K.MAX_PENDING_VERIFICATIONS, 1, 100_000, true]],
  ['verifyConcurrency', [K.VERIFY_CONCURRENCY, 1, 1024, true]],
  ['verifyAttempts', [K.VERIFY_ATTEMPTS, 1, 100, true]],
  ['verifyRetryMs', [K.VERIFY_RETRY_MS, 1, 600_000, true]],
])

/** The numeric option names, in documentation order. */
export const TUNABLE_OPTIONS: readonly Tunable[] = Object.freeze([...RANGES.keys()])

/**
 * The profiles. `lan` is the defaults above (memberlist's LAN timings). `local` is what the
 * membership tests share for up to a hundred nodes in one process on a loaded two-core machine:
 * probes every 250 ms (timeout 120 ms), gossip every 60 ms, push-pull every 1.5 s, registration
 * and its check retried every 200 ms. Suspicion and HTTP timeouts stay the LAN ones: shortened,
 * busy processes are declared dead or their late answers count as none.
 */
export const MEMBERSHIP_PROFILES: ReadonlyMap<MembershipProfileName, Readonly<MembershipTimings>> = new Map<
  MembershipProfileName,
  Readonly<MembershipTimings>
>([
  ['lan', Object.freeze({})],
  [
    'local',
    Object.freeze({
      probeIntervalMs: 250,
      probeTimeoutMs: 120,
      gossipIntervalMs: 60,
      pushPullIntervalMs: 1500,
      joinRetryMs: 200,
      verifyRetryMs: 200,
    }),
  ],
])

const PROFILE_NAMES = [...MEMBERSHIP_PROFILES.keys()].join(', ')

/** A profile by name; an unknown name is an InvalidArgumentError naming the known ones. */
export function membershipProfile(name: unknown, field = 'profile'): Readonly<MembershipTimings> {
  const p = typeof name === 'string' ? MEMBERSHIP_PROFILES.get(name as MembershipProfileName) : undefined
  if (!p)
    throw new InvalidArgumentError(
      `${field} must be one of ${PROFILE_NAMES}, got ${JSON.stringify(name)?.slice(0, 60)}`,
      field,
    )
  return p
}

function url(field: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined
  try {
    return normalizePeerUrl(v, field)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message, field)
  }
}

/** Every option checked and defaulted: the profile first, then the options given beside it. */
export function resolveMembershipOptions(init: MembershipInit = {}): ResolvedMembershipOptions {
  const profile = init.profile ?? 'lan'
  const preset = membershipProfile(profile)
  const n = {} as Record<Tunable, number>
  for (const [name, [def, min, max, integer]] of RANGES) {
    const v = init[name] ?? preset[name] ?? def
    n[name] = integer ? checkInteger(name, v, min, max) : checkNumber(name, v, min, max)
  }
  if (n.probeTimeoutMs >= n.probeIntervalMs)
    throw new InvalidArgumentError(
      `probeTimeoutMs (${n.probeTimeoutMs}) must be shorter than probeIntervalMs (${n.probeIntervalMs})`,
      'probeTimeoutMs',
    )
  const random = init.random ?? Math.random
  if (typeof random !== 'function') throw new InvalidArgumentError('random must be a function', 'random')
  if (init.directory !== undefined && !(init.directory instanceof RegistryDirectory))
    throw new InvalidArgumentError('directory must be a RegistryDirectory', 'directory')
  return Object.freeze({
    profile,
    bootstrapUrl: url('bootstrapUrl', init.bootstrapUrl),
    seedUrl: url('seedUrl', init.seedUrl),
    registry: init.registry ?? false,
    ...n,
    random,
    directory: init.directory,
  })
}

const isTunable = (name: string): name is Tunable => RANGES.has(name as Tunable)

/** `probeIntervalMs=200` → its name and number; a bad name or value names the field. */
export function parseMembershipOption(text: string, field = '--membership-option'): [Tunable, number] {
  const m = /^\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(text)
  if (!m)
    throw new InvalidArgumentError(
      `${field} must be name=value, got ${JSON.stringify(text.slice(0, 60))}`,
      field,
    )
  const [, name, value] = m as unknown as [string, string, string]
  if (!isTunable(name))
    throw new InvalidArgumentError(
      `${field}: unknown option ${name} (known: ${TUNABLE_OPTIONS.join(', ')})`,
      field,
    )
  const v = Number(value)
  if (value === '' || !Number.isFinite(v))
    throw new InvalidArgumentError(
      `${field}: ${name} must be a number, got ${JSON.stringify(value.slice(0, 30))}`,
      field,
    )
  return [name, v]
}

/**
 * The profile and numeric options of `init` as the command-line flags `distlab node`, `master` and
 * `bootstrap` take (`--membership-profile local --membership-option probeIntervalMs=200`): how a
 * launcher hands them to the node processes it starts.
 */
export function membershipFlags(init: MembershipInit): string[] {
  const out: string[] = []
  if (init.profile !== undefined) out.push('--membership-profile', init.profile)
  for (const name of TUNABLE_OPTIONS) {
    const v = init[name]
    if (v !== undefined) out.push('--membership-option', `${name}=${v}`)
  }
  return out
}

/** Only the profile and numeric options of `init` (no URLs, role or random source). */
export function membershipTimings(init: MembershipInit): MembershipInit {
  const out: MembershipInit = {}
  if (init.profile !== undefined) out.profile = init.profile
  for (const name of TUNABLE_OPTIONS) if (init[name] !== undefined) out[name] = init[name]
  return out
}
