// The master's collector: takes batches from every node, counts what was lost on the way, keeps
// the most recent events for late subscribers and passes each event to live subscribers
// (the monitor stream, the store). A slow subscriber never slows ingestion.
import type {
  CollectorNodeCounts,
  CollectorStats,
  TelemetryBatch,
  TelemetryCollector,
  TelemetryEvent,
  TelemetrySubscriber,
} from '../core/telemetry.js'
import { checkInteger } from '../core/options.js'

export interface CollectorInit {
  /** Recent events kept in memory. @default 5000 */
  recentEvents?: number
  /**
   * Distinct node names counted on their own; batches from further names (anyone can POST
   * /telemetry to an open master) are counted under OTHER_NODES. @default 70000
   */
  maxNodes?: number
}

/** The bucket for batches from node names past maxNodes. */
export const OTHER_NODES = '(other)'

type NodeCounts = CollectorNodeCounts

export type { CollectorStats }
export type Subscriber = TelemetrySubscriber

export class Collector implements TelemetryCollector {
  private readonly recent: TelemetryEvent[] = []
  private readonly subscribers = new Set<Subscriber>()
  private readonly lastSeq = new Map<string, number>()
  private readonly max: number
  private readonly maxNodes: number
  // Keyed by what nodes send: a Map, so that a node named `__proto__` is only a name.
  private readonly nodes = new Map<string, NodeCounts>()
  private readonly totals = { events: 0, batches: 0, lostEvents: 0, missingBatches: 0 }

  constructor(init: CollectorInit = {}) {
    this.max = checkInteger('recentEvents', init.recentEvents ?? 5000, 0)
    this.maxNodes = checkInteger('maxNodes', init.maxNodes ?? 70_000, 1)
  }

  ingest(batch: TelemetryBatch): void {
    const s = this.totals
    s.batches++
    s.events += batch.events.length
    s.lostEvents += batch.lost
    const name = this.nodes.has(batch.node) || this.nodes.size < this.maxNodes ? batch.node : OTHER_NODES
    let node = this.nodes.get(name)
    if (!node) this.nodes.set(name, (node = { events: 0, lost: 0, lastBatchAt: 0 }))
    node.events += batch.events.length
    node.lost += batch.lost
    node.lastBatchAt = Date.now()
    if (name !== OTHER_NODES) {
      const prev = this.lastSeq.get(name)
      // A restarted node starts again at 1; only a forward gap is a missing batch.
      if (prev !== undefined && batch.seq > prev + 1) s.missingBatches += batch.seq - prev - 1
      this.lastSeq.set(name, batch.seq)
    }

    if (this.max > 0) {
      // No spread: a batch may hold 100,000 events.
      const from = Math.max(0, batch.events.length - this.max)
      for (let i = from; i < batch.events.length; i++) this.recent.push(batch.events[i]!)
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
    // Object.fromEntries defines own properties: `__proto__` stays a key, never a prototype.
    return {
      ...this.totals,
      nodes: Object.fromEntries(Array.from(this.nodes, ([k, v]) => [k, { ...v }])),
    }
  }
}
