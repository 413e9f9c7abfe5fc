// Unicast, broadcast, overlay multicast and anycast (issue 3): the factories every node runs.
// Overlay multicast carries its membership over the same node's broadcast protocol.
import type { ProtocolFactory } from '../core/interfaces.js'
import type { ProtocolContext } from './context.js'
import { unicast } from './unicast/index.js'
import { broadcast, type Broadcast } from './broadcast/index.js'
import { groupMulticast } from './multicast/index.js'
import { anycast } from './anycast/index.js'

export function messagingProtocols(_ctx: ProtocolContext): ProtocolFactory[] {
  let b: Broadcast | undefined
  const makeBroadcast = broadcast()
  return [unicast(), (c) => (b = makeBroadcast(c)), groupMulticast({ broadcast: () => b }), anycast()]
}
