// Go-Back-N over UDP (seed 004's gbnnode) as a library: goBackN(init)(components) gives an endpoint
// whose send(bytes) resolves when the peer has acknowledged every packet and whose 'data' event
// hands over each whole message.
export { goBackN, GoBackN, resolveGoBackNOptions } from './gbn.js'
export type { GoBackNInit, GoBackNOptions, GoBackNComponents, GoBackNStats } from './gbn.js'
export type { GbnEvent, GbnEventListener, GbnTransferSummary } from './events.js'
export { GbnSender, type GbnSenderOptions } from './sender.js'
export { GbnReceiver, type GbnReceiverOptions } from './receiver.js'
export { LossEmulator, resolveLossSpec, type LossSpec } from './loss.js'
export { encodePacket, decodePacket, PacketType, type Packet } from './wire.js'
export { RejectCounter } from './endpoint.js'
export { udpNetwork, memoryNetwork, MemoryDatagramNetwork } from './datagram.js'
export { SimulationClock } from './simclock.js'
export type { DatagramNetwork, DatagramSocket, DatagramHandler } from './datagram.js'
export { formatTimestamp, formatGbnEvent } from './format.js'
export * from './constants.js'
