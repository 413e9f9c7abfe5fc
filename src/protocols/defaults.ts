// The protocols every node runs, whichever launcher started it (`distlab node`, the in-process
// launcher, a container). Each protocol family contributes its factories from its own module.
import type { ProtocolFactory } from '../core/interfaces.js'
import { messagingProtocols } from './messaging.js'
import { membershipProtocols } from './membership/defaults.js'

export interface ProtocolContext {
  role: 'master' | 'node'
  name: string
  /** The master's (bootstrap's) URL; undefined on the master itself. */
  masterUrl?: string
  /** A live peer to join through when the bootstrap is gone (`distlab node --seed`). */
  seedUrl?: string
}

export function defaultProtocols(ctx: ProtocolContext): ProtocolFactory[] {
  return [...messagingProtocols(ctx), ...membershipProtocols(ctx)]
}
