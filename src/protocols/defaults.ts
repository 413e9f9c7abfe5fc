// The protocols every node runs, whichever launcher started it (`distlab node`, the in-process
// launcher, a container). Each protocol family contributes its factories from its own module.
import type { ProtocolFactory } from '../core/interfaces.js'
import type { ProtocolContext } from './context.js'
import { messagingProtocols } from './messaging.js'
import { membershipProtocols } from './membership/defaults.js'

export type { ProtocolContext } from './context.js'
export { membershipFlags } from './membership/options.js'

export function defaultProtocols(ctx: ProtocolContext): ProtocolFactory[] {
  return [...messagingProtocols(ctx), ...membershipProtocols(ctx)]
}
