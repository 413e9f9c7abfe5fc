import type { ProtocolComponents } from '../../core/interfaces.js'
import { Heartbeat, type HeartbeatInit } from './heartbeat.js'

export { Heartbeat, type HeartbeatInit } from './heartbeat.js'
export * from './constants.js'

export function heartbeat(init: HeartbeatInit = {}): (c: ProtocolComponents) => Heartbeat {
  return (c) => new Heartbeat(c, init)
}
