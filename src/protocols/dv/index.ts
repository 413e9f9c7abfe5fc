// Distance-vector routing (seed 004's dvnode): distributed Bellman-Ford with poisoned reverse over
// UDP on 127.0.0.1, each router named by its port.
export { dvNode, DvNode, resolveDvNodeOptions, checkCost } from './dv.js'
export type { DvNodeInit, DvNodeOptions, DvNodeComponents, DvNeighbor, DvEvent, DvStats } from './dv.js'
export { DistanceVectorTable, type Route, type DistanceVectorOptions } from './vector.js'
export { encodeVector, decodeVector, encodeCost, decodeCost, type VectorMessage } from './wire.js'
export { formatRoutingTable, formatDvEvent, formatDistance } from './format.js'
export * from './constants.js'
