import type { ProtocolComponents } from '../../core/interfaces.js'
import { Broadcast, resolveBroadcastOptions, type BroadcastInit } from './broadcast.js'

export {
  Broadcast,
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
} from './broadcast.js'
export * as broadcastDefaults from './constants.js'

/** Broadcast to every node: flood, gossip, tree (Plumtree) or ip, with anti-entropy repair. */
export function broadcast(init: BroadcastInit = {}): (c: ProtocolComponents) => Broadcast {
  const options = resolveBroadcastOptions(init)
  return (c) => new Broadcast(c, options)
}
