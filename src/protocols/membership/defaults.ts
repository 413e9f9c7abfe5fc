// The membership protocol (bootstrap registry, gossip discovery, failure detection; issue 4) plugs in here.
import type { ProtocolFactory } from '../../core/interfaces.js'
import type { ProtocolContext } from '../defaults.js'

export function membershipProtocols(_ctx: ProtocolContext): ProtocolFactory[] {
  return []
}
