// Charts for reports, drawn without a browser (plot.ts: Vega-Lite → SVG → PNG): throughput over
// time per protocol, the latency CDF per protocol, and messages per protocol and node.
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { lineChart, writeChart, type TopLevelSpec } from './plot.js'
import type { AnalysisReport, AnalysisSeries } from './analyzer.js'
import { protocolColor, protocolColorScale } from './palette.js'
import { COUNT_FORMAT, MS_FORMAT } from './format.js'

/** At most this many points per CDF line: enough for a smooth curve, small enough for an SVG. */
const CDF_POINTS = 200

export function throughputSpec(series: AnalysisSeries, run: string): TopLevelSpec {
  return lineChart({
    title: `Throughput over time (run ${run})`,
    xTitle: 'seconds since the first event',
    yTitle: 'messages sent per second',
    xFormat: COUNT_FORMAT,
    yFormat: COUNT_FORMAT,
    width: 560,
    height: 300,
    series: Object.entries(series.throughput)
      .filter(([, v]) => v.some((x) => x > 0))
      .map(([name, v]) => ({ name, color: protocolColor(name), points: v.map((y, x) => ({ x, y })) })),
  })
}

export function latencyCdfSpec(series: AnalysisSeries, run: string): TopLevelSpec {
  return lineChart({
    title: `One-way latency CDF (run ${run})`,
    xTitle: 'latency (ms)',
    yTitle: 'fraction of messages',
    xFormat: MS_FORMAT,
    yFormat: '.0%',
    width: 560,
    height: 300,
    series: Object.entries(series.latencies)
      .filter(([, v]) => v.length > 0)
      .map(([name, sorted]) => {
        const step = Math.max(1, Math.floor(sorted.length / CDF_POINTS))
        const points: Array<{ x: number; y: number }> = []
        for (let i = 0; i < sorted.length; i += step)
          points.push({ x: sorted[i]!, y: (i + 1) / sorted.length })
        points.push({ x: sorted[sorted.length - 1]!, y: 1 })
        return { name, color: protocolColor(name), points }
      }),
  })
}

export function messagesSpec(report: AnalysisReport, series: AnalysisSeries): TopLevelSpec {
  const byProto = Object.entries(report.protocols).map(([proto, p]) => ({ proto, messages: p.sent }))
  const byNode = Object.entries(series.sentByNode).flatMap(([node, protos]) =>
    Object.entries(protos).map(([proto, messages]) => ({ node, proto, messages })),
  )
  const nodeOrder = Object.keys(report.nodes)
  const color = {
    field: 'proto',
    type: 'nominal',
    title: 'protocol',
    scale: protocolColorScale(Object.keys(report.protocols)),
  }
  const messagesAxis = { format: COUNT_FORMAT }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Messages sent per protocol and per node (run ${report.run})`,
    hconcat: [
      {
        width: 300,
        height: 300,
        data: { values: byProto },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'proto', type: 'nominal', title: 'protocol', sort: '-y' },
          y: { field: 'messages', type: 'quantitative', title: 'messages sent', axis: messagesAxis },
          color,
        },
      },
      {
        width: Math.max(240, nodeOrder.length * 26),
        height: 300,
        data: { values: byNode },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'node', type: 'nominal', title: 'node', sort: nodeOrder },
          y: {
            field: 'messages',
            type: 'quantitative',
            title: 'messages sent',
            stack: 'zero',
            axis: messagesAxis,
          },
          color,
        },
      },
    ],
  } as TopLevelSpec
}

export interface PlotFiles {
  throughput: { png: string; svg: string }
  latencyCdf: { png: string; svg: string }
  messages: { png: string; svg: string }
}

/** Writes the three charts as PNG and SVG into `dir`. */
export async function writeRunPlots(
  report: AnalysisReport & { series?: AnalysisSeries },
  dir: string,
): Promise<PlotFiles> {
  await mkdir(dir, { recursive: true })
  const series = report.series ?? { t0: 0, throughput: {}, latencies: {}, sentByNode: {} }
  const one = async (spec: TopLevelSpec, name: string) => {
    const r = await writeChart(spec, join(dir, `${name}.png`))
    return { png: r.pngPath, svg: r.svgPath }
  }
  return {
    throughput: await one(throughputSpec(series, report.run), 'throughput'),
    latencyCdf: await one(latencyCdfSpec(series, report.run), 'latency-cdf'),
    messages: await one(messagesSpec(report, series), 'messages'),
  }
}
