// Unicast, broadcast, overlay multicast and anycast (issue 3) plug in here.
import type { ProtocolFactory } from '../core/interfaces.js'
import type { ProtocolContext } from './defaults.js'

export function messagingProtocols(_ctx: ProtocolContext): ProtocolFactory[] {
  return []
}
