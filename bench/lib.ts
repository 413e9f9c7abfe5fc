// Shared by the bench files: the shape of bench/results/<name>.json and how to write it.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface BenchSection {
  heading?: string
  text?: string
  columns?: string[]
  rows?: Array<Array<string | number>>
  notes?: string[]
}

export interface BenchResult {
  title: string
  description?: string
  sections: BenchSection[]
  /** Anything else a reader or a script may want. */
  data?: unknown
}

export function writeResult(name: string, result: BenchResult): void {
  mkdirSync('bench/results', { recursive: true })
  const file = join('bench/results', `${name}.json`)
  writeFileSync(file, JSON.stringify({ ...result, generatedAt: new Date().toISOString() }, null, 2) + '\n')
  process.stderr.write(`wrote ${file}\n`)
}
