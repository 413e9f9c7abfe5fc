import type { ProtocolComponents } from '../../core/interfaces.js'
import { Broadcast } from './broadcast.js'
import { resolveBroadcastOptions, type BroadcastInit } from './options.js'

export { Broadcast } from './broadcast.js'
export {
  BroadcastError,
  STRATEGIES,
  TUNABLE,
  type BroadcastTuning,
  resolveBroadcastOptions,
  type BroadcastInit,
  type BroadcastOptions,
  type BroadcastStrategy,
  type BroadcastDelivery,
  type BroadcastResult,
  type BroadcastStats,
} from './options.js'
export * as broadcastDefaults from './constants.js'

/** Broadcast to every node: flood, gossip, tree (Plumtree) or ip, with anti-entropy repair. */
export function broadcast(init: BroadcastInit = {}): (c: ProtocolComponents) => Broadcast {
  const options = resolveBroadcastOptions(init)
  return (c) => new Broadcast(c, options)
}
