import type { ProtocolComponents } from '../../core/interfaces.js'
import { Ping } from './ping.js'

export { Ping, type PingResult } from './ping.js'
export * from './constants.js'

export function ping(): (c: ProtocolComponents) => Ping {
  return (c) => new Ping(c)
}
