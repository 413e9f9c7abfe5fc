// The combined emulator (seed 004's cnnode): distance vectors over link costs that Go-Back-N probes
// measure as loss rates; and the topology runner that starts a whole dv or cn graph at once.
export { cnNode, CnNode, resolveCnNodeOptions } from './cn.js'
export type { CnNodeInit, CnNodeOptions, CnNodeComponents, CnEvent, CnStats, LinkStatus } from './cn.js'
export { formatCnEvent } from './format.js'
export { parseTopology, runTopology, TopologyRun } from './topology.js'
export type { TopologySpec, TopologyLink, TopologyRunInit, TopologyResult, RouteTable } from './topology.js'
export * from './constants.js'
