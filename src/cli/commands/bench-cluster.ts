// The harness of `distlab bench broadcast|unicast|multicast|anycast`: a fresh local cluster of the
// bench's own (state dir, address block) that every node has joined, the options every bench takes
// (--nodes, --mode, --block, --json; link faults), and --kill's count-or-percentage.
import type { Command } from 'commander'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeUrl } from '../../cluster/state.js'
import type { LocalCluster } from '../../cluster/local.js'
import { Keyring } from '../../core/auth.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { parseDuration } from '../../core/options.js'
import type { LinkRuleInit } from '../../link/emulator.js'
import type { WorkloadNode } from '../../protocols/workload.js'
import { callNode, intFlag, numberFlag } from '../context.js'
import { modeOption } from './messaging-options.js'

export interface BenchClusterInit {
  nodes: number
  mode: 'inproc' | 'process'
  block: number
  /** Cluster key: frames authenticated, and every workload call carries its bearer token. */
  key?: string
  /** With no `key`: a fresh random key for this cluster. */
  keyed?: boolean
}

/**
 * Runs `fn` on a fresh local cluster of its own (its own state dir and address block), then stops
 * it. The cluster's telemetry runs are recorded in that state dir and go with it, not into ./runs
 * (DISTLAB_RUNS_DIR still names a folder that keeps them).
 */
export async function withBenchCluster<T>(
  init: BenchClusterInit,
  fn: (nodes: WorkloadNode[], kill: (name: string) => Promise<void>, cluster: LocalCluster) => Promise<T>,
): Promise<T> {
  const stateDir = mkdtempSync(join(tmpdir(), 'distlab-bench-'))
  const key = init.key ?? (init.keyed ? randomBytes(24).toString('base64url') : undefined)
  // Loaded here, not at the top: `distlab bench` registers its options with the other messaging
  // commands, and `send` or `group` need no cluster of their own.
  const { LocalCluster } = await import('../../cluster/local.js')
  const cluster = new LocalCluster({
    nodes: init.nodes,
    mode: init.mode,
    stateDir,
    // Passed, not set in the environment: a later cluster of the same process would record into
    // this folder after it is gone, and make it again.
    runsDir: process.env.DISTLAB_RUNS_DIR || join(stateDir, 'runs'),
    block: init.block,
    dashboardPort: 0,
    key,
  })
  await cluster.start()
  try {
    const authorization = key === undefined ? undefined : new Keyring(key).bearer()
    const nodes: WorkloadNode[] = cluster
      .list()
      .map((n) => ({ name: n.name, url: nodeUrl(n), ...(authorization ? { authorization } : {}) }))
    // Every node must know every other before the run.
    await waitMembers(nodes)
    return await fn(nodes, (name) => cluster.kill(name, 'SIGKILL'), cluster)
  } finally {
    await cluster.stop()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

async function waitMembers(nodes: WorkloadNode[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all(
      nodes.map((n) =>
        callNode<{ members: number }>(n.url, 'GET', '/health', undefined, 30_000)
          .then((h) => h.members)
          .catch(() => 0),
      ),
    )
    if (counts.every((c) => c >= nodes.length) || Date.now() > deadline) return
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** `20%` of `of`, or a plain count. */
export function parseKill(text: string, of: number): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim())
  if (!m) throw new InvalidArgumentError(`--kill must be a count or a percentage such as 20%, got ${text}`)
  const n = m[2] ? Math.round((Number(m[1]) / 100) * of) : Number(m[1])
  if (!Number.isInteger(n) || n < 0 || n >= of)
    throw new InvalidArgumentError(`--kill must leave at least one node alive, got ${text} of ${of}`)
  return n
}

export interface BenchCommonOptions {
  nodes: number
  mode: 'inproc' | 'process'
  block: number
  keyed?: boolean
  json?: boolean
}

export function linkRule(o: {
  loss: number
  duplicate: number
  reorder: number
  latency: string
}): LinkRuleInit {
  const delayMs = parseDuration('--latency', o.latency)
  return { loss: o.loss, duplicate: o.duplicate, reorder: o.reorder, delayMs, jitterMs: delayMs / 5 }
}

export function benchCluster(cmd: Command, nodes: number): Command {
  return cmd
    .addOption(intFlag('--nodes <n>', 'nodes besides the master', [2, 1000], nodes))
    .option('--mode <mode>', 'inproc (one process) or process (kill -9 for real)', modeOption, 'inproc')
    .addOption(intFlag('--block <n>', 'address block of the bench cluster (127.<n>.x.y)', [0, 255], 200))
    .option(
      '--keyed',
      'start the bench cluster with a fresh random key (frames authenticated, calls with its token)',
    )
    .option('--json', 'print the report as JSON')
}

export function faultOptions(cmd: Command, loss: number): Command {
  return cmd
    .addOption(numberFlag('--loss <p>', 'loss probability on every link', [0, 0.95], loss))
    .addOption(numberFlag('--duplicate <p>', 'duplication probability', [0, 1], loss ? 0.1 : 0))
    .addOption(numberFlag('--reorder <p>', 'reordering probability', [0, 1], loss ? 0.1 : 0))
    .option('--latency <d>', 'one-way link delay (jitter: a fifth of it)', '10ms')
}
