// Plots without a browser: a Vega-Lite spec is compiled to Vega, rendered headless to SVG by Vega's
// own scenegraph, and rasterised to PNG by resvg (a Rust SVG renderer; no canvas, no Chromium).
//
// The API is three functions, shared by every command that draws:
//   renderChart(spec)            → { svg, png }              any Vega-Lite spec
//   writeChart(spec, 'out.png')  → writes out.png and out.svg
//   lineChart({ series, ... })   → a Vega-Lite spec for x/y line series (optionally dashed)
//   concatCharts([a, b])         → one spec with several charts side by side (or stacked)
// Text is drawn with the system's sans-serif font (DejaVu Sans on Debian: the fonts-dejavu-core
// package); with no font installed the PNG still renders, without its labels.
import { writeFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { TopLevelSpec } from 'vega-lite'
import type * as VegaLite from 'vega-lite'
import type * as Vega from 'vega'
import type * as ResvgJs from '@resvg/resvg-js'
import { InvalidArgumentError } from '../core/errors.js'

export type { TopLevelSpec }

export interface RenderOptions {
  /** PNG pixels per SVG pixel. @default 2 */
  scale?: number
  /** Background colour of the PNG and the SVG (CSS colour). @default 'white' */
  background?: string
}

export interface RenderedChart {
  svg: string
  png: Buffer
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif'

/**
 * import() of a package. A command runs from a bundle that bin/code-cache.cjs takes from V8's code
 * cache, where an import() of the bundle's own fails on Node 20; the loader hands in one of its own
 * (IMPORT_ESM there). Run from the modules, or as a library, this module's own import() serves.
 */
function importEsm<T>(specifier: string): Promise<T> {
  const loader = (globalThis as Record<symbol, unknown>)[Symbol.for('distlab.importEsm')]
  return typeof loader === 'function'
    ? (loader as (s: string) => Promise<T>)(specifier)
    : (import(specifier) as Promise<T>)
}

/** Compiles and renders a Vega-Lite spec; rejects with InvalidArgumentError when the spec is invalid. */
export async function renderChart(spec: TopLevelSpec, options: RenderOptions = {}): Promise<RenderedChart> {
  const scale = options.scale ?? 2
  if (!(scale > 0 && scale <= 8)) throw new InvalidArgumentError('scale must be in (0, 8]', 'scale')
  const background = options.background ?? 'white'
  const withDefaults = {
    background,
    ...spec,
    config: { font: FONT, ...(spec as { config?: object }).config },
  } as TopLevelSpec
  // Loaded on the first chart, not with every command: Vega and resvg are a large part of what a
  // command would otherwise load at start (resvg also asks the OS which libc it runs on).
  const [{ compile }, { parse, View }, { Resvg }] = await Promise.all([
    importEsm<typeof VegaLite>('vega-lite'),
    importEsm<typeof Vega>('vega'),
    importEsm<typeof ResvgJs>('@resvg/resvg-js'),
  ])
  let svg: string
  try {
    const vegaSpec = compile(withDefaults).spec
    const view = new View(parse(vegaSpec), { renderer: 'none' })
    svg = await view.toSVG()
    view.finalize()
  } catch (err) {
    throw new InvalidArgumentError(`cannot render chart: ${(err as Error).message}`, 'spec')
  }
  const resvg = new Resvg(svg, {
    background,
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    logLevel: 'off',
  })
  const png = resvg.render().asPng()
  return { svg, png }
}

/** Renders `spec` and writes the PNG to `pngPath` and the SVG beside it (same name, `.svg`). */
export async function writeChart(
  spec: TopLevelSpec,
  pngPath: string,
  options: RenderOptions = {},
): Promise<{ pngPath: string; svgPath: string }> {
  const { svg, png } = await renderChart(spec, options)
  const svgPath = pngPath.replace(/\.png$/i, '') + '.svg'
  await mkdir(dirname(pngPath), { recursive: true })
  await writeFile(pngPath, png)
  await writeFile(svgPath, svg)
  return { pngPath, svgPath }
}

export interface LineSeries {
  /** Legend label. */
  name: string
  points: ReadonlyArray<{ x: number; y: number }>
  /** Draw dashed (e.g. an ideal or reference line). @default false */
  dashed?: boolean
  /** Line colour (CSS); give it to every series or to none. @default Vega's category colours */
  color?: string
}

export interface LineChartInit {
  series: ReadonlyArray<LineSeries>
  title?: string
  xTitle?: string
  yTitle?: string
  /** Plot area size in pixels. @default 420 x 280 */
  width?: number
  height?: number
  /** Draw a dot at each point. @default false */
  pointMarkers?: boolean
  /** Use a log scale on y. @default false */
  logY?: boolean
  /** Smallest step between x ticks (1 for counts such as clients). @default none */
  xTickMinStep?: number
  /** D3 number formats of the axes' labels (format.ts has distlab's). @default Vega's */
  xFormat?: string
  yFormat?: string
}

/** A Vega-Lite spec with one coloured line per series, a legend, and optional dashed reference lines. */
export function lineChart(init: LineChartInit): TopLevelSpec {
  const values = init.series.flatMap((s) =>
    s.points.map((p) => ({ x: p.x, y: p.y, series: s.name, dashed: s.dashed ? 'dashed' : 'solid' })),
  )
  const order = init.series.map((s) => s.name)
  const colored = init.series.length > 0 && init.series.every((s) => s.color)
  const axis = (format: string | undefined, extra: object = {}) =>
    format || Object.keys(extra).length ? { axis: { ...extra, ...(format ? { format } : {}) } } : {}
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(init.title ? { title: init.title } : {}),
    width: init.width ?? 420,
    height: init.height ?? 280,
    data: { values },
    mark: { type: 'line', point: init.pointMarkers ?? false, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: init.xTitle ?? 'x',
        ...axis(init.xFormat, init.xTickMinStep ? { tickMinStep: init.xTickMinStep } : {}),
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: init.yTitle ?? 'y',
        ...axis(init.yFormat),
        ...(init.logY ? { scale: { type: 'log' } } : {}),
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        sort: order,
        ...(colored
          ? {
              scale: {
                domain: [...new Set(order)],
                range: [...new Set(order)].map((n) => colorOf(init.series, n)),
              },
            }
          : {}),
      },
      strokeDash: {
        field: 'dashed',
        type: 'nominal',
        legend: null,
        scale: {
          domain: ['solid', 'dashed'],
          range: [
            [1, 0],
            [6, 4],
          ],
        },
      },
      order: { field: 'x', type: 'quantitative' },
    },
  } as TopLevelSpec
}

function colorOf(series: ReadonlyArray<LineSeries>, name: string): string {
  return series.find((s) => s.name === name)!.color!
}

/** Several charts in one picture, side by side (`'h'`) or stacked (`'v'`), each with its own scales. */
export function concatCharts(
  charts: ReadonlyArray<TopLevelSpec>,
  direction: 'h' | 'v' = 'h',
  title?: string,
): TopLevelSpec {
  const parts = charts.map((c) => {
    const { $schema: _s, ...rest } = c as { $schema?: string }
    return rest
  })
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(title ? { title } : {}),
    ...(direction === 'h' ? { hconcat: parts } : { vconcat: parts }),
    resolve: { scale: { color: 'independent', strokeDash: 'independent' } },
  } as TopLevelSpec
}
