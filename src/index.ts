/**
 * distlab as a library: the pieces the `distlab` command is built from, for programs that want to
 * start nodes, shape links, run protocols or read runs themselves.
 *
 * ```ts
 * import { createNode, unicast, udpTransport } from 'distlab'
 * ```
 *
 * The layers, bottom up, are those of the source tree (see docs/architecture.md): core (frames,
 * envelopes, errors, authentication, telemetry events), transport, link (the link emulator), node,
 * protocols, monitor (collector, run store, analyzer), cluster (launchers), scenario. Everything here is
 * ESM and needs Node 20.15 or later.
 *
 * @packageDocumentation
 */

// core: envelopes, frames, errors, authentication
export {
  createEnvelope,
  BROADCAST_DST,
  ENVELOPE_VERSION,
  type Envelope,
  type EnvelopeInit,
  type Body,
} from './core/envelope.js'
export {
  encodeFrame,
  decodeFrame,
  FrameReader,
  lengthPrefixed,
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  MAX_DATAGRAM_BYTES,
  type CodecLimits,
} from './core/frame.js'
export * from './core/errors.js'
export {
  Keyring,
  keyring,
  parseKeySpec,
  keyIdOf,
  AuthTransport,
  KeyError,
  UnauthorizedError,
} from './core/auth.js'
export type {
  Startable,
  Transport,
  TransportKind,
  TransportHandler,
  PeerAddress,
  InboundMessage,
  DropInfo,
  DropReason,
  SendOptions,
  ProtocolComponents,
} from './core/interfaces.js'

// transports and the link emulator
export { udpTransport, UdpTransport, type UdpTransportInit } from './transport/udp.js'
export { tcpTransport, TcpTransport, type TcpTransportInit } from './transport/tcp.js'
export {
  memoryTransport,
  MemoryTransport,
  MemoryNetwork,
  type MemoryTransportInit,
} from './transport/memory.js'
export * from './link/index.js'

// the node
export { Node, resolveNodeInit, type NodeInit, type Role, type Member } from './node/node.js'
/** The node distlab starts: a Node with heartbeat and ping, and on the master a telemetry collector. */
export { createNode } from './cluster/node-assembly.js'
export { Collector, type CollectorInit } from './monitor/collector.js'
export type { TelemetryEvent, TelemetryBatch, TelemetryCollector } from './core/telemetry.js'
// client: the typed client for a node's (or master's) HTTP API; its errors are NodeApiError
export {
  NodeClient,
  NODE_CALL_TIMEOUT_MS,
  MAX_ANSWER_BYTES,
  type NodeClientInit,
  type CallOptions,
  type HttpMethod,
} from './client/node-client.js'
export { HealthAnswer, MemberListAnswer, ErrorAnswer } from './node/api-schemas.js'

// protocols: one factory each, `(init) => (components) => protocol`
export * from './protocols/unicast/index.js'
export * from './protocols/broadcast/index.js'
export * from './protocols/multicast/index.js'
export * from './protocols/anycast/index.js'
export * from './protocols/membership/index.js'
export * from './protocols/heartbeat/index.js'
export * from './protocols/ping/index.js'
export * from './protocols/download/index.js'
export * from './protocols/gbn/index.js'
export * from './protocols/dv/index.js'
export {
  cnNode,
  CnNode,
  resolveCnNodeOptions,
  formatCnEvent,
  parseTopology,
  runTopology,
  TopologyRun,
  type CnNodeInit,
  type CnNodeOptions,
  type CnEvent,
  type CnStats,
  type TopologySpec,
  type TopologyResult,
} from './protocols/cn/index.js'

// launchers
export { LocalCluster, type LocalClusterInit } from './cluster/local.js'
export { SwarmCluster, type SwarmClusterInit } from './cluster/swarm.js'
export { k8sManifests, writeK8sManifests, type K8sInit } from './cluster/k8s.js'
export { planCluster, type PlannedNode } from './cluster/plan.js'

// runs: the store and the analyzer
export { RunStore, RunReader, listRuns, resolveRun, runsDir, type RunSummary } from './monitor/store.js'
export { analyzeEvents, type AnalysisReport } from './monitor/analyzer.js'
export { readCapture, PcapWriter } from './monitor/pcap.js'
export { downloadBenchCharts } from './monitor/bench-charts.js'

// scenarios: workloads under faults, with a verdict
export * from './scenario/index.js'
