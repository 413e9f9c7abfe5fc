// A node's metrics, served at GET /metrics in the Prometheus text format by prom-client: the
// counters the node and its protocols count (distlab_*), three latency histograms (unicast round
// trip, broadcast delivery, membership probe) and the process's default metrics (CPU, memory, event
// loop lag, GC), which every node of one process shares.
//
// Counters are kept here, in plain Maps, and handed to prom-client only when /metrics is read
// (each family's `collect`): a frame counted costs a Map lookup on the hot path, `get` and `total`
// answer tests and reports without parsing text, and the cap on label sets stays in one place.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

type Labels = Record<string, string>

/**
 * Label sets one counter may hold. Nodes already fold label values that peers choose; this is the
 * backstop: past it, new label sets are counted under one set whose every value is `other`.
 */
export const MAX_SERIES_PER_FAMILY = 2000

/** Buckets of the latency histograms, in seconds: 1 ms to 30 s. */
export const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

interface Family {
  help: string
  values: Map<string, { labels: Labels; value: number }>
  /** Every label name used so far: prom-client fixes a metric's label names when it is made. */
  labelNames: Set<string>
  counter?: Counter
}

function keyOf(labels: Labels): string {
  let key = ''
  for (const k in labels) key += `${k}=${labels[k]},`
  return key
}

/** Resolution of the event loop delay histogram (nodejs_eventloop_lag_p50_seconds, ...), in ms. */
export const EVENT_LOOP_SAMPLE_MS = 100

/** The process's default metrics, registered once per process and merged into every node's. */
let processRegistry: Registry | undefined
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    // The event loop delay histogram samples every EVENT_LOOP_SAMPLE_MS: prom-client's 10 ms woke
    // every idle node 100 times a second, about 2.5 ms of CPU a second each (a quarter of an idle
    // node's CPU in a cluster of 100 processes on one machine).
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  }
  return processRegistry
}

export class Metrics {
  private readonly registry = new Registry()
  private readonly families = new Map<string, Family>()
  private readonly histograms = new Map<string, Histogram>()

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    let family = this.families.get(name)
    if (!family) this.families.set(name, (family = { help, values: new Map(), labelNames: new Set() }))
    let key = keyOf(labels)
    let cell = family.values.get(key)
    if (!cell && family.values.size >= MAX_SERIES_PER_FAMILY) {
      labels = Object.fromEntries(Object.keys(labels).map((k) => [k, 'other']))
      key = keyOf(labels)
      cell = family.values.get(key)
    }
    if (cell) {
      cell.value += by
      return
    }
    family.values.set(key, { labels, value: by })
    for (const k in labels)
      if (!family.labelNames.has(k)) {
        family.labelNames.add(k)
        family.counter = undefined
      }
    if (!family.counter) this.register(name, family)
  }

  /**
   * One observation of a latency histogram, in seconds (negative values, from clocks that
   * disagree, count as 0).
   */
  observe(name: string, help: string, seconds: number, buckets: number[] = LATENCY_BUCKETS_S): void {
    let h = this.histograms.get(name)
    if (!h) {
      h = new Histogram({ name, help, buckets, registers: [this.registry] })
      this.histograms.set(name, h)
    }
    h.observe(Number.isFinite(seconds) && seconds > 0 ? seconds : 0)
  }

  get(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.values.get(keyOf(labels))?.value ?? 0
  }

  /** Sum of a counter over every label set, optionally filtered. */
  total(name: string, where: Labels = {}): number {
    let sum = 0
    for (const { labels, value } of this.families.get(name)?.values.values() ?? [])
      if (Object.entries(where).every(([k, v]) => labels[k] === v)) sum += value
    return sum
  }

  /** The Prometheus text: counters, histograms, `extra` values of the moment, and the process's metrics. */
  async render(
    extra: Array<{ name: string; help: string; type: 'gauge' | 'counter'; value: number }> = [],
  ): Promise<string> {
    const now = new Registry()
    for (const m of extra) {
      if (m.type === 'counter')
        new Counter({ name: m.name, help: m.help, registers: [now] }).inc(Math.max(0, m.value))
      else new Gauge({ name: m.name, help: m.help, registers: [now] }).set(m.value)
    }
    return Registry.merge([this.registry, now, processMetrics()]).metrics()
  }

  /** Makes (or remakes, with more label names) the prom-client counter that shows a family. */
  private register(name: string, family: Family): void {
    this.registry.removeSingleMetric(name)
    family.counter = new Counter({
      name,
      help: family.help,
      labelNames: [...family.labelNames],
      registers: [this.registry],
      collect() {
        this.reset()
        for (const { labels, value } of family.values.values()) this.inc(labels, value)
      },
    })
  }
}
