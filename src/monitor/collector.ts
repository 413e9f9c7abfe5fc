// The master's collector: takes batches from every node, counts what was lost on the way, keeps
// the most recent events for late subscribers and passes each event to live subscribers
// (the monitor stream, the store). A slow subscriber never slows ingestion.
import type { TelemetryBatch, TelemetryEvent } from './telemetry.js'
import { checkInteger } from '../core/options.js'

export interface CollectorInit {
  /** Recent events kept in memory. @default 5000 */
  recentEvents?: number
}

export interface CollectorStats {
  events: number
  batches: number
  /** Events nodes reported lost before sending, plus batches missing from a node's sequence. */
  lostEvents: number
  /** Batches that went missing between a node and the collector. */
  missingBatches: number
  nodes: Record<string, { events: number; lost: number; lastBatchAt: number }>
}

export type Subscriber = (events: TelemetryEvent[]) => void

export class Collector {
  private readonly recent: TelemetryEvent[] = []
  private readonly subscribers = new Set<Subscriber>()
  private readonly lastSeq = new Map<string, number>()
  private readonly max: number
  private readonly state: CollectorStats = {
    events: 0,
    batches: 0,
    lostEvents: 0,
    missingBatches: 0,
    nodes: {},
  }

  constructor(init: CollectorInit = {}) {
    this.max = checkInteger('recentEvents', init.recentEvents ?? 5000, 0)
  }

  ingest(batch: TelemetryBatch): void {
    const s = this.state
    s.batches++
    s.events += batch.events.length
    s.lostEvents += batch.lost
    const node = (s.nodes[batch.node] ??= { events: 0, lost: 0, lastBatchAt: 0 })
    node.events += batch.events.length
    node.lost += batch.lost
    node.lastBatchAt = Date.now()
    const prev = this.lastSeq.get(batch.node)
    // A restarted node starts again at 1; only a forward gap is a missing batch.
    if (prev !== undefined && batch.seq > prev + 1) s.missingBatches += batch.seq - prev - 1
    this.lastSeq.set(batch.node, batch.seq)

    if (this.max > 0) {
      this.recent.push(...batch.events)
      if (this.recent.length > this.max) this.recent.splice(0, this.recent.length - this.max)
    }
    for (const sub of this.subscribers) {
      try {
        sub(batch.events)
      } catch {
        // A broken subscriber must not stop collection.
      }
    }
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn)
    return () => this.subscribers.delete(fn)
  }

  recentEvents(limit = this.max): TelemetryEvent[] {
    return this.recent.slice(-limit)
  }

  stats(): CollectorStats {
    return structuredClone(this.state)
  }
}
