// The floors of src/ (docs/architecture.md): a folder may import from its own floor and the floors
// below, never from above, and no file may take part in an import circle (type imports count: a
// type circle still ties two modules together). The debt lists name what the code does today
// against the rule; they may only shrink. A new folder must be given a floor here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { binPath } from '../helpers.js'

const root = join(binPath(), '..', '..')
const src = join(root, 'src')

/** Floor of each top folder of src/, bottom up. Same number: same floor, may import each other. */
export const FLOORS: Readonly<Record<string, number>> = {
  core: 0,
  transport: 1,
  link: 1,
  node: 2,
  client: 2,
  protocols: 3,
  monitor: 4,
  cluster: 5,
  scenario: 6,
  maelstrom: 6,
  foreign: 6,
  check: 7,
  cli: 8,
  'index.ts': 9,
}

/** Arrows that run up a floor today (value or type imports), as `from -> to`. Only shrinks (it is empty: keep it so). */
const UPWARD_DEBT = new Set<string>([])

/** Import circles today, each as its sorted member list joined by ' '. Only shrinks. */
const CIRCLE_DEBT = new Set<string>([])

interface Edge {
  from: string
  to: string
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) sourceFiles(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(relative(src, p))
  }
  return out
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g

function importGraph(): Edge[] {
  const edges: Edge[] = []
  for (const file of sourceFiles(src)) {
    const text = readFileSync(join(src, file), 'utf8')
    for (const m of text.matchAll(IMPORT)) {
      const to = normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts')
      edges.push({ from: file, to })
    }
  }
  return edges
}

const floorOf = (file: string): number | undefined => FLOORS[file.split('/')[0]!]

test('every folder of src/ has a floor', () => {
  const unknown = [...new Set(sourceFiles(src).map((f) => f.split('/')[0]!))].filter((f) => !(f in FLOORS))
  assert.deepEqual(
    unknown,
    [],
    `give these a floor in test/architecture/layers.test.ts: ${unknown.join(', ')}`,
  )
})

test('no import runs up a floor, beyond the listed debt', () => {
  const upward = importGraph()
    .filter((e) => (floorOf(e.to) ?? 0) > (floorOf(e.from) ?? 0))
    .map((e) => `${e.from} -> ${e.to}`)
  const fresh = upward.filter((e) => !UPWARD_DEBT.has(e))
  assert.deepEqual(fresh, [], 'new imports that run up a floor')
  const paid = [...UPWARD_DEBT].filter((e) => !upward.includes(e))
  assert.deepEqual(paid, [], 'debt paid off: remove these lines from UPWARD_DEBT')
})

test('no protocol imports the node HTTP server or the monitor, beyond the listed debt', () => {
  const bad = importGraph()
    .filter(
      (e) => e.from.startsWith('protocols/') && (e.to === 'node/http.ts' || e.to.startsWith('monitor/')),
    )
    .map((e) => `${e.from} -> ${e.to}`)
  const allowed = new Set<string>([])
  assert.deepEqual(
    bad.filter((e) => !allowed.has(e)),
    [],
    'protocols add routes through RouteHost and parse bodies with parseBody, both in core/routes.ts',
  )
  assert.deepEqual(
    [...allowed].filter((e) => !bad.includes(e)),
    [],
    'debt paid off: remove these lines from the allowed list',
  )
})

/** Strongly connected components with more than one file (Tarjan, iterative). */
function circles(edges: Edge[]): string[][] {
  const files = new Set(sourceFiles(src))
  const next = new Map<string, string[]>()
  for (const f of files) next.set(f, [])
  for (const e of edges) if (files.has(e.to)) next.get(e.from)!.push(e.to)
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const out: string[][] = []
  let counter = 0
  for (const start of files) {
    if (index.has(start)) continue
    const work: Array<{ v: string; i: number }> = [{ v: start, i: 0 }]
    index.set(start, counter)
    low.set(start, counter++)
    stack.push(start)
    onStack.add(start)
    while (work.length > 0) {
      const top = work[work.length - 1]!
      const succ = next.get(top.v)!
      if (top.i < succ.length) {
        const w = succ[top.i++]!
        if (!index.has(w)) {
          index.set(w, counter)
          low.set(w, counter++)
          stack.push(w)
          onStack.add(w)
          work.push({ v: w, i: 0 })
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!))
        continue
      }
      work.pop()
      if (work.length > 0) {
        const parent = work[work.length - 1]!.v
        low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!))
      }
      if (low.get(top.v) === index.get(top.v)) {
        const comp: string[] = []
        for (;;) {
          const w = stack.pop()!
          onStack.delete(w)
          comp.push(w)
          if (w === top.v) break
        }
        if (comp.length > 1) out.push(comp.sort())
      }
    }
  }
  return out
}

test('no import circles in src/, beyond the listed debt', () => {
  const found = circles(importGraph()).map((c) => c.join(' '))
  assert.deepEqual(
    found.filter((c) => !CIRCLE_DEBT.has(c)),
    [],
    'new import circles',
  )
  assert.deepEqual(
    [...CIRCLE_DEBT].filter((c) => !found.includes(c)),
    [],
    'circles gone: remove them from CIRCLE_DEBT',
  )
})
