import type { ProtocolComponents } from '../../core/interfaces.js'
import { Anycast, type AnycastInit } from './anycast.js'

export * from './constants.js'
export { GREETING, formatAnswer, parseAnswer } from './wire.js'
export { Anycast, type AnycastInit, type AnycastInfo } from './anycast.js'
export { AnycastServer, type AnycastServerInit } from './server.js'
export {
  AnycastClient,
  POLICIES,
  parseTargets,
  fetchAnswer,
  type AnycastPolicy,
  type AnycastTarget,
  type AnycastAnswer,
  type AnycastClientInit,
} from './client.js'

/** The anycast replica of a cluster node. */
export function anycast(init: AnycastInit = {}): (c: ProtocolComponents) => Anycast {
  return (c) => new Anycast(c, init)
}
