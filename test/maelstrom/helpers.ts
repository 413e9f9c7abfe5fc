// Shared by the Maelstrom tests: where the test node programs are, and a short run of one.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { scratchDir } from '../helpers.js'
import { runMaelstromTest, type MaelstromTestInit, type MaelstromResults } from '../../src/maelstrom/run.js'
import type { History } from '../../src/maelstrom/history.js'

/** test/maelstrom/nodes in the source tree, whether the test runs compiled (dist/test) or not. */
export function nodesDir(): string {
  const here = fileURLToPath(import.meta.url)
  const root = here.includes('/dist/test/') ? here.split('/dist/test/')[0]! : here.split('/test/')[0]!
  return join(root, 'test', 'maelstrom', 'nodes')
}

export const py = (file: string) => `python3 ${join(nodesDir(), file)}`
export const js = (file: string) => `${process.execPath} ${join(nodesDir(), file)}`

/** The loopback block of these tests: 127.22.0.0/16 (second octet 22). */
export const BLOCK = 22

/**
 * Loopback blocks for runs side by side in one file: `withBlock` lends one for the length of `fn`
 * (a run that mostly waits on its time limit need not wait on another's). One after the other,
 * every run gets the first block.
 */
export function blockPool(blocks: number[]): <T>(fn: (block: number) => Promise<T>) => Promise<T> {
  const free = [...blocks]
  const waiting: Array<(block: number) => void> = []
  return async (fn) => {
    const block = free.shift() ?? (await new Promise<number>((r) => waiting.push(r)))
    try {
      return await fn(block)
    } finally {
      const next = waiting.shift()
      if (next) next(block)
      else free.unshift(block)
    }
  }
}

/** shortRun's blocks: 127.22, then 127.160 and 127.161 for runs beside it. */
const withBlock = blockPool([BLOCK, 160, 161])

/** Runs a short test in its own scratch state and runs dirs (on a block of its own unless `block`). */
export async function shortRun(
  init: Omit<MaelstromTestInit, 'stateDir'> & { stateDir?: string },
): Promise<MaelstromResults> {
  const dir = scratchDir('distlab-maelstrom-')
  const run = (block: number) =>
    runMaelstromTest({
      nodeCount: 3,
      // Six seconds: on a loaded machine (a fresh clone's full suite) three gave the unique-ids and
      // lin-kv tests fewer than ten successful operations each, once.
      timeLimitS: 6,
      rate: 20,
      recoveryMs: 1500,
      block,
      ...init,
      stateDir: init.stateDir ?? join(dir, 'state'),
      runsDir: init.runsDir ?? join(dir, 'runs'),
    })
  return init.block === undefined ? withBlock(run) : run(init.block)
}

/** A finished run's history (history.json). */
export const historyOf = (r: MaelstromResults): History =>
  JSON.parse(readFileSync(r.run.history, 'utf8')) as History

/** The operations of function `f` that completed with ok. */
export const oks = (h: History, f: string): History => h.filter((o) => o.type === 'ok' && o.f === f)
