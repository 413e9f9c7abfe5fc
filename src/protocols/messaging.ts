// Unicast, broadcast, overlay multicast and anycast (issue 3): the factories every node runs.
import type { ProtocolFactory } from '../core/interfaces.js'
import type { ProtocolContext } from './defaults.js'
import { unicast } from './unicast/index.js'
import { broadcast } from './broadcast/index.js'

export function messagingProtocols(_ctx: ProtocolContext): ProtocolFactory[] {
  return [unicast(), broadcast()]
}
