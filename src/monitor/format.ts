// How distlab writes numbers for people, one rule per kind, the same in `analyze`'s tables, the
// dashboard and the charts' axes (the D3 format strings below are the same rules for Vega-Lite):
//   counts        whole numbers with thousands separators      1,234
//   percentages   one decimal                                   78.6%
//   durations     milliseconds, one decimal, separators         1,234.5   (column titles say "ms")
//   bytes         B below 1 KiB, else KiB/MiB/GiB, one decimal  12.5 KiB
// A missing value is '-'.

export const COUNT_FORMAT = ',d'
export const PERCENT_FORMAT = '.1%'
export const MS_FORMAT = ',.1f'

const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const tenths = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })

export const MISSING = '-'

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? MISSING : counts.format(Math.round(n))
}

/** `ratio` in [0, 1] (or more) as a percentage. */
export function formatPercent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? MISSING : `${(ratio * 100).toFixed(1)}%`
}

/** Milliseconds, without the unit (the column or axis title carries it). */
export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? MISSING : tenths.format(ms)
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return MISSING
  if (n < 1024) return `${Math.round(n)} B`
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(1)} ${UNITS[u]}`
}
