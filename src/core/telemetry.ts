// What telemetry is, as every floor sees it: the event a node records for each send, recv,
// delivery, drop and error, the batch it ships them in, and the collector it ships them to (seen
// by its shape). The buffer that ships them is node/telemetry.ts; the collector itself and what
// reads runs (store, analyzer, dashboard, plots) are in monitor/. Types only.

/** The transports a frame goes by. */
export type TransportKind = 'udp' | 'tcp' | 'memory'

export type TelemetryKind = 'send' | 'recv' | 'deliver' | 'drop' | 'error'

export interface TelemetryEvent {
  /** Milliseconds since the epoch. */
  ts: number
  node: string
  proto: string
  kind: TelemetryKind
  msgId: string
  src: string
  dst: string
  bytes: number
  transport: TransportKind | 'http' | 'none'
  /** For drops and errors: why. */
  reason?: string
  /** The protocol's message type (`data`, `ack`, ...). */
  type?: string
}

export interface TelemetryBatch {
  node: string
  /** Increases by one per batch from this node. */
  seq: number
  /** Events this node lost since the previous batch. */
  lost: number
  events: TelemetryEvent[]
}

/** Where a node's batches go: a function that resolves when the batch is taken. */
export type TelemetrySink = (batch: TelemetryBatch) => Promise<void>

/** Counts of one node's batches, as the collector keeps them. */
export interface CollectorNodeCounts {
  events: number
  lost: number
  lastBatchAt: number
}

export interface CollectorStats {
  events: number
  batches: number
  /** Events nodes reported lost before sending, plus batches missing from a node's sequence. */
  lostEvents: number
  /** Batches that went missing between a node and the collector. */
  missingBatches: number
  /** Per node name; an own-property record (names like `__proto__` are plain keys here). */
  nodes: Record<string, CollectorNodeCounts>
}

/** Receives the events of one batch, as they arrive. */
export type TelemetrySubscriber = (events: TelemetryEvent[]) => void

/**
 * The master's telemetry collector, as the master node serves it (`POST /telemetry`,
 * `/telemetry/stats`, `/telemetry/recent`, `/telemetry/stream`). monitor/collector.ts's
 * `Collector` is one; whoever starts a master hands it in (`NodeInit.collector`).
 */
export interface TelemetryCollector {
  ingest(batch: TelemetryBatch): void
  /** Calls `fn` with every batch's events from now on; returns the function that stops it. */
  subscribe(fn: TelemetrySubscriber): () => void
  /** The most recent events, oldest first, at most `limit`. */
  recentEvents(limit?: number): TelemetryEvent[]
  stats(): CollectorStats
}
