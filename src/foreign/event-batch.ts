// The telemetry a foreign cluster's observers make (the relays, the bridge capture) goes to the
// run in batches: at most MAX_EVENT_BATCH events or EVENT_FLUSH_MS at a time, never one by one.
import type { TelemetryEvent } from '../core/telemetry.js'

/** Events handed to the sink in one batch at most. */
export const MAX_EVENT_BATCH = 2000
/** Longest an event waits for its batch, in ms. */
export const EVENT_FLUSH_MS = 200

export class EventBatcher {
  private events: TelemetryEvent[] = []
  private timer?: ReturnType<typeof setTimeout>

  constructor(private readonly sink: (events: TelemetryEvent[]) => void) {}

  push(e: TelemetryEvent): void {
    this.events.push(e)
    if (this.events.length >= MAX_EVENT_BATCH) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), EVENT_FLUSH_MS)
  }

  /** Hands over what is queued now; a sink that throws loses its batch, never the observer. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.events
    this.events = []
    if (batch.length === 0) return
    try {
      this.sink(batch)
    } catch {
      // telemetry never breaks the relay or the capture
    }
  }
}
