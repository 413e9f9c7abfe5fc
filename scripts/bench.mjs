#!/usr/bin/env node
// `npm run bench [-- name ...]`: runs each compiled bench file (dist/bench/*.js), each of which
// writes bench/results/<name>.json, then writes BENCHMARKS.md from every result file.
//
// A result file: { title, description, generatedAt, sections: [{ heading?, text?, columns, rows, notes? }] }
// Figures are ratios measured side by side in one run where the target is a ratio: these
// machines are shared, so absolute times vary from run to run.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import os from 'node:os'

const filters = process.argv.slice(2)
mkdirSync('bench/results', { recursive: true })
const benches = existsSync('dist/bench')
  ? readdirSync('dist/bench')
      // lib.js is the benches' shared code, not a bench.
      .filter((f) => f.endsWith('.js') && f !== 'lib.js')
      .sort()
  : []
const selected = filters.length ? benches.filter((b) => filters.some((f) => b.includes(f))) : benches
let failed = 0
for (const b of selected) {
  process.stderr.write(`\n== bench ${b}\n`)
  const r = spawnSync(process.execPath, ['--expose-gc', join('dist/bench', b)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    process.stderr.write(`bench ${b} failed with exit ${r.status}\n`)
  }
}

const results = readdirSync('bench/results')
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(join('bench/results', f), 'utf8')) }))

const cell = (v) =>
  typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 3 : 1)) : String(v ?? '')
const out = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` from \`bench/results/*.json\`. Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
  'Where a target is a ratio, both sides were measured in the same run; absolute times on a shared machine vary.',
  '',
]
for (const r of results) {
  out.push(`## ${r.title}`, '', `_${r.file}, ${r.generatedAt}_`, '')
  if (r.description) out.push(r.description, '')
  for (const s of r.sections ?? []) {
    if (s.heading) out.push(`### ${s.heading}`, '')
    if (s.text) out.push(s.text, '')
    if (s.columns && s.rows) {
      out.push(`| ${s.columns.join(' | ')} |`, `|${s.columns.map(() => '---').join('|')}|`)
      for (const row of s.rows) out.push(`| ${row.map(cell).join(' | ')} |`)
      out.push('')
    }
    for (const n of s.notes ?? []) out.push(`- ${n}`)
    if (s.notes?.length) out.push('')
  }
}
writeFileSync('BENCHMARKS.md', out.join('\n'))
process.stderr.write(`\nwrote BENCHMARKS.md (${results.length} result files)\n`)
process.exit(failed ? 1 : 0)
