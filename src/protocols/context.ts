// What a launcher tells the default protocols about the node it starts: its role, its name, where
// the bootstrap is, and the membership options (profile and overrides) every node shares.
import type { MembershipInit } from './membership/options.js'

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
}
