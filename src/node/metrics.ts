// A node's metrics, served at GET /metrics in the Prometheus text format by prom-client: the
// counters the node and its protocols count (distlab_*), three latency histograms (unicast round
// trip, broadcast delivery, membership probe) and the process's default metrics (CPU, memory, event
// loop lag, GC), which every node of one process shares.
//
// Counters and histograms are kept here, counters in plain Maps and histograms as bucket counts, and
// prom-client is loaded only when /metrics is first read: a frame counted costs a Map lookup on the
// hot path, `get` and `total` answer tests and reports without parsing text, the cap on label sets
// stays in one place, and a node's start does not load prom-client (about 4% of it) for a page
// that few read. The histograms are written in the text format here (they have no labels but `le`).
import type * as PromClientModule from 'prom-client'
import type { Registry } from 'prom-client'

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
  /** Every label name used so far, in the order first seen. */
  labelNames: Set<string>
}

/** A latency histogram: observations per bucket (not cumulative; the last is +Inf), their sum and count. */
interface Histo {
  help: string
  buckets: readonly number[]
  counts: number[]
  sum: number
  count: number
}

function keyOf(labels: Labels): string {
  let key = ''
  for (const k in labels) key += `${k}=${labels[k]},`
  return key
}

/** Resolution of the event loop delay histogram (nodejs_eventloop_lag_p50_seconds, ...), in ms. */
export const EVENT_LOOP_SAMPLE_MS = 100

type PromClient = typeof PromClientModule

/** The process's default metrics, registered once per process and merged into every node's. */
let processRegistry: Registry | undefined
function processMetrics({ Registry, collectDefaultMetrics }: PromClient): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    // The event loop delay histogram samples every EVENT_LOOP_SAMPLE_MS: prom-client's 10 ms woke
    // every idle node 100 times a second, about 2.5 ms of CPU a second each (a quarter of an idle
    // node's CPU in a cluster of 100 processes on one machine).
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  }
  return processRegistry
}

/** A number as the text format writes it. */
function sampleValue(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v)
}

/** HELP text escaped as the text format asks (backslash and line feed). */
function helpText(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

export class Metrics {
  private readonly families = new Map<string, Family>()
  private readonly histograms = new Map<string, Histo>()

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
    for (const k in labels) family.labelNames.add(k)
  }

  /**
   * One observation of a latency histogram, in seconds (negative values, from clocks that
   * disagree, count as 0).
   */
  observe(name: string, help: string, seconds: number, buckets: number[] = LATENCY_BUCKETS_S): void {
    let h = this.histograms.get(name)
    if (!h) {
      const sorted = [...new Set(buckets.filter((b) => Number.isFinite(b)))].sort((a, b) => a - b)
      h = { help, buckets: sorted, counts: new Array<number>(sorted.length + 1).fill(0), sum: 0, count: 0 }
      this.histograms.set(name, h)
    }
    const v = Number.isFinite(seconds) && seconds > 0 ? seconds : 0
    let i = 0
    while (i < h.buckets.length && v > h.buckets[i]!) i++
    h.counts[i]!++
    h.sum += v
    h.count++
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
    const prom = await import('prom-client')
    const { Counter, Gauge, Registry } = prom
    const now = new Registry()
    for (const [name, family] of this.families) {
      const counter = new Counter({
        name,
        help: family.help,
        labelNames: [...family.labelNames],
        registers: [now],
      })
      for (const { labels, value } of family.values.values()) counter.inc(labels, value)
    }
    for (const m of extra) {
      if (m.type === 'counter')
        new Counter({ name: m.name, help: m.help, registers: [now] }).inc(Math.max(0, m.value))
      else new Gauge({ name: m.name, help: m.help, registers: [now] }).set(m.value)
    }
    const text = await Registry.merge([now, processMetrics(prom)]).metrics()
    return text + this.histogramText()
  }

  /** The histograms in the text format: cumulative buckets ending at +Inf, then _sum and _count. */
  private histogramText(): string {
    let out = ''
    for (const [name, h] of this.histograms) {
      out += `# HELP ${name} ${helpText(h.help)}\n# TYPE ${name} histogram\n`
      let seen = 0
      h.buckets.forEach((b, i) => {
        seen += h.counts[i]!
        out += `${name}_bucket{le="${sampleValue(b)}"} ${seen}\n`
      })
      out += `${name}_bucket{le="+Inf"} ${h.count}\n${name}_sum ${sampleValue(h.sum)}\n${name}_count ${h.count}\n\n`
    }
    return out
  }
}
