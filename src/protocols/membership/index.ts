// The membership protocol: seed 002's bootstrap registry and peer views, gossip discovery and
// SWIM failure detection. `membership(init)` is the factory a node plugs in.
import type { ProtocolComponents } from '../../core/interfaces.js'
import { Membership } from './membership.js'
import { resolveMembershipOptions, type MembershipInit } from './options.js'

export {
  Membership,
  type MemberInfo,
  type MemberKind,
  type MemberStatus,
  type MembershipStats,
} from './membership.js'
export { normalizePeerUrl, InvalidPeerUrlError, TokenBucket } from './registry.js'
export { RegistryDirectory } from './local-registry.js'
export { suspicionBounds, type SuspicionBounds } from './suspicion.js'
export * from './constants.js'
export type { ResolvedMembershipOptions } from './types.js'
export {
  MEMBERSHIP_PROFILES,
  TUNABLE_OPTIONS,
  membershipFlags,
  membershipProfile,
  membershipTimings,
  parseMembershipOption,
  resolveMembershipOptions,
  type MembershipInit,
  type MembershipProfileName,
  type MembershipTimings,
} from './options.js'

/**
 * The membership protocol for a node: `membership({ profile: 'local', bootstrapUrl })`. Options
 * are checked here, so a bad one throws before any node starts (InvalidArgumentError naming it).
 */
export function membership(init: MembershipInit = {}): (c: ProtocolComponents) => Membership {
  const options = resolveMembershipOptions(init)
  return (c) => new Membership(c, options)
}
