import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { renderChart, writeChart, lineChart, concatCharts } from '../../src/monitor/plot.js'

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'PNG signature')
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR')
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

const chart = lineChart({
  title: 'Download time',
  xTitle: 'clients',
  yTitle: 'seconds',
  pointMarkers: true,
  xTickMinStep: 1,
  series: [
    { name: 'measured', points: [1, 2, 3, 4].map((n) => ({ x: n, y: 10 / n + 0.2 })) },
    { name: 'ideal', dashed: true, points: [1, 2, 3, 4].map((n) => ({ x: n, y: 10.2 / n })) },
  ],
})

describe('plot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distlab-plot-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('renderChart gives an SVG with the titles and lines, and a PNG of the scaled size', async () => {
    const { svg, png } = await renderChart(chart, { scale: 2 })
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    assert.match(svg, /Download time/)
    assert.match(svg, /clients/)
    assert.match(svg, /measured/)
    assert.match(svg, /stroke-dasharray="6,4"/, 'the dashed series is dashed')
    const w = Number(/width="(\d+)"/.exec(svg)![1])
    const { width, height } = pngSize(png)
    assert.equal(width, w * 2)
    assert.ok(height > 100)
  })

  test('writeChart writes the PNG and an SVG beside it', async () => {
    const both = concatCharts([chart, chart], 'h', 'two panels')
    const out = await writeChart(both, join(dir, 'sub', 'chart.png'), { scale: 1 })
    assert.equal(out.svgPath, join(dir, 'sub', 'chart.svg'))
    pngSize(readFileSync(out.pngPath))
    assert.match(readFileSync(out.svgPath, 'utf8'), /two panels/)
  })

  test('an invalid spec is rejected with ERR_INVALID_ARGUMENT', async () => {
    await assert.rejects(
      renderChart({ mark: 'nonsense', data: { values: [] } } as never),
      (err: { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT',
    )
  })
})
