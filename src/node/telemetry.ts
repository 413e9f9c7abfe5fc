// A node's telemetry buffer: every send, recv, deliver, drop and error becomes an event
// (core/telemetry.ts), queued in a bounded buffer and shipped to the master's collector in batches.
// Recording never blocks and never throws: when the buffer is full or the collector is away,
// events are counted as lost and the count travels with the next batch.
import type { Startable } from '../core/interfaces.js'
import { checkInteger } from '../core/options.js'
import { NodeClient } from '../client/node-client.js'
import type { TelemetryBatch, TelemetryEvent, TelemetrySink } from '../core/telemetry.js'

export interface TelemetryEmitterInit {
  node: string
  /** Where batches go; none yet means events wait in the buffer. */
  sink?: TelemetrySink
  /** Events held before new ones are counted as lost. @default 20000 */
  maxQueue?: number
  /** Events per batch. @default 2000 */
  maxBatch?: number
  /**
   * Time between flushes, in milliseconds; a buffer half a batch full goes at once. A second keeps
   * a master with hundreds of nodes to a few hundred batches a second. @default 1000
   */
  flushIntervalMs?: number
}

export class TelemetryEmitter implements Startable {
  private queue: TelemetryEvent[] = []
  private lost = 0
  private lostTotal = 0
  private recorded = 0
  private seq = 0
  private timer?: ReturnType<typeof setInterval>
  private inflight?: Promise<void>
  private sink?: TelemetrySink
  private readonly maxQueue: number
  private readonly maxBatch: number
  private readonly flushIntervalMs: number

  constructor(private readonly init: TelemetryEmitterInit) {
    this.sink = init.sink
    this.maxQueue = checkInteger('maxQueue', init.maxQueue ?? 20_000, 1)
    this.maxBatch = checkInteger('maxBatch', init.maxBatch ?? 2000, 1)
    this.flushIntervalMs = checkInteger('flushIntervalMs', init.flushIntervalMs ?? 1000, 1)
  }

  setSink(sink: TelemetrySink | undefined): void {
    this.sink = sink
  }

  record(ev: TelemetryEvent): void {
    this.recorded++
    if (this.queue.length >= this.maxQueue) {
      this.lost++
      this.lostTotal++
      return
    }
    this.queue.push(ev)
    if (this.timer && this.queue.length === this.maxBatch >> 1) queueMicrotask(() => void this.flush())
  }

  stats(): { recorded: number; queued: number; lost: number } {
    return { recorded: this.recorded, queued: this.queue.length, lost: this.lostTotal }
  }

  async start(): Promise<void> {
    if (this.timer) return
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs)
    this.timer.unref()
  }

  /** Sends what is queued (one batch at a time); resolves when the queue is empty or the sink fails. */
  async flush(): Promise<void> {
    if (this.inflight) return this.inflight
    this.inflight = (async () => {
      while (this.sink && (this.queue.length > 0 || this.lost > 0)) {
        const events = this.queue.splice(0, this.maxBatch)
        const batch: TelemetryBatch = { node: this.init.node, seq: ++this.seq, lost: this.lost, events }
        this.lost = 0
        try {
          await this.sink(batch)
        } catch {
          // The collector is away: these events are gone, and say so in the next batch.
          this.lost += batch.lost + events.length
          this.lostTotal += events.length
          break
        }
      }
    })().finally(() => (this.inflight = undefined))
    return this.inflight
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.flush().catch(() => {})
  }
}

/**
 * A sink that POSTs batches as JSON to a collector URL (the master's `/telemetry`) through
 * NodeClient; a refusal or a timeout is a NodeApiError naming the master, which the emitter counts
 * as lost events.
 */
export function httpSink(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): TelemetrySink {
  const target = new URL(url)
  const client = new NodeClient({ url: target.origin, name: 'the master', headers, timeoutMs })
  const path = `${target.pathname}${target.search}`
  return async (batch) => {
    await client.text('POST', path, { body: batch, action: 'the telemetry batch' })
  }
}
