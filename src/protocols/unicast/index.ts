import type { ProtocolComponents } from '../../core/interfaces.js'
import { Unicast, resolveUnicastOptions, type UnicastInit } from './unicast.js'

export {
  Unicast,
  UnicastSendError,
  resolveUnicastOptions,
  type UnicastInit,
  type UnicastOptions,
  type UnicastSendResult,
  type UnicastDelivery,
  type UnicastStats,
  type UnicastTransport,
} from './unicast.js'
export * from './constants.js'

/** Reliable, in-order, exactly-once unicast over the node's UDP or TCP frames. */
export function unicast(init: UnicastInit = {}): (c: ProtocolComponents) => Unicast {
  const options = resolveUnicastOptions(init)
  return (c) => new Unicast(c, options)
}
