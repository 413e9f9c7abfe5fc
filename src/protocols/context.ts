// What a launcher tells the default protocols about the node it starts: its role, its name, where
// the bootstrap is, and the membership options (profile and overrides) every node shares.
import type { MembershipInit } from './membership/options.js'
import type { RegistryDirectory } from './membership/local-registry.js'

export interface ProtocolContext {
  role: 'master' | 'node'
  name: string
  /** The master's (bootstrap's) URL; undefined on the master itself. */
  masterUrl?: string
  /** A live peer to join through when the bootstrap is gone (`distlab node --seed`). */
  seedUrl?: string
  /**
   * Membership profile and timings (`{ profile: 'local' }`); URLs and role come from the fields
   * above. @default the `lan` profile
   */
  membership?: MembershipInit
  /**
   * The membership registries of this process, when the launcher starts many nodes in one (the
   * in-process launcher): peers register with one of them by a call, not over HTTP.
   */
  registries?: RegistryDirectory
}
