// Charts of bench harnesses that live in the protocol folders (a floor below): drawn here, where
// the plotting is, from the results the harness returns.
import type { DownloadBenchResult } from '../protocols/download/bench.js'
import { lineChart, concatCharts, type TopLevelSpec } from './plot.js'

/** At most `max` points of a timeline, evenly spaced in index, the last one kept. */
function thin<T>(points: readonly T[], max: number): T[] {
  if (points.length <= max) return [...points]
  const step = points.length / max
  const out: T[] = []
  for (let i = 0; i < max; i++) out.push(points[Math.floor(i * step)]!)
  out.push(points[points.length - 1]!)
  return out
}

/** Two panels like the seed's graphs: time against clients with the ideal T(1)/N, and lines over time. */
export function downloadBenchCharts(result: DownloadBenchResult): TopLevelSpec {
  const runs = [...result.runs].sort((a, b) => a.clients - b.clients)
  const t1 = runs[0] ? runs[0].seconds * runs[0].clients : 0
  const time = lineChart({
    title: `Download time of ${result.lines} lines at ${result.ratePerSecond} lines/s per client`,
    xTitle: 'clients',
    yTitle: 'seconds',
    xTickMinStep: 1,
    pointMarkers: true,
    series: [
      { name: 'measured', points: runs.map((r) => ({ x: r.clients, y: r.seconds })) },
      { name: 'ideal T(1)/N', dashed: true, points: runs.map((r) => ({ x: r.clients, y: t1 / r.clients })) },
    ],
  })
  const collected = lineChart({
    title: 'Distinct lines collected over time',
    xTitle: 'seconds',
    yTitle: 'lines collected',
    series: runs.map((r) => ({
      name: `${r.clients} client${r.clients === 1 ? '' : 's'}`,
      points: thin([{ t: 0, lines: 0 }, ...r.timeline], 300).map((p) => ({ x: p.t, y: p.lines })),
    })),
  })
  return concatCharts([time, collected], 'h')
}
