// The options of `distlab maelstrom test`, independent of the CLI: their types, defaults and
// checks (Maelstrom's names and defaults where it has them), including --consistency-models.
import { InvalidArgumentError } from '../core/errors.js'
import { checkInteger, checkNumber } from '../core/options.js'
import {
  CLIENT_TIMEOUT_MS,
  DEFAULT_NEMESIS_INTERVAL_S,
  DEFAULT_NODE_COUNT,
  DEFAULT_RATE,
  DEFAULT_RECOVERY_MS,
  DEFAULT_TIME_LIMIT_S,
} from './constants.js'
import { isWorkloadName, type Topology, type WorkloadName } from './workloads.js'
import type { NemesisFault } from './nemesis.js'
import { CONSISTENCY_MODELS } from './checkers/index.js'

export const MAELSTROM_MODES = ['inproc', 'process', 'docker'] as const
/** inproc: distlab nodes in this process; process: one node process per program; docker: inproc nodes whose programs run in containers. */
export type MaelstromMode = (typeof MAELSTROM_MODES)[number]

export interface MaelstromTestInit {
  workload: WorkloadName
  /** The node program: an executable or a command line. */
  bin: string
  /** @default 5 */
  nodeCount?: number
  /** Seconds the clients run. @default 10 */
  timeLimitS?: number
  /** Operations per second, all clients together. @default 5 */
  rate?: number
  /** Extra delay on every message, in ms (Maelstrom's --latency). @default 0 */
  latencyMs?: number
  /** Clients. @default nodeCount */
  concurrency?: number
  /** @default 'grid' */
  topology?: Topology
  nemesis?: NemesisFault[]
  /** Seconds between nemesis actions. @default 10 */
  nemesisIntervalS?: number
  /** 'total': every operation must succeed; a number: the share of ok operations required. @default none */
  availability?: 'total' | number
  /** @default 'inproc' */
  mode?: MaelstromMode
  /** Keys for lin-kv, kafka and the txn workloads. @default 3 */
  keyCount?: number
  maxTxnLength?: number
  /** Client request timeout in ms. @default 5000 */
  timeoutMs?: number
  /** Wait after healing before the final reads, in ms. @default 3000 */
  recoveryMs?: number
  /** @default 'tcp' */
  transport?: 'udp' | 'tcp'
  /** The local cluster's state dir (its record and logs). */
  stateDir: string
  /** Second octet of every address. @default 0 */
  block?: number
  /** @default 0 (the OS picks) */
  dashboardPort?: number
  /** The node programs' working directory. @default process.cwd() */
  cwd?: string
  /** Where run files and results go. @default runsDir() */
  runsDir?: string
  /** Models the txn checkers judge against (Maelstrom's --consistency-models). @default ['serializable'] for txn workloads */
  consistencyModels?: string[]
  /** Docker mode: the image the programs run in. @default a runtime image built from this machine's python3 and node */
  image?: string
  /** Time budget for the checker, in ms. @default 30000 */
  checkerBudgetMs?: number
  onProgress?: (line: string) => void
}

/** Checks and fills in a test's options; throws InvalidArgumentError for a bad one. */
export function resolveTestOptions(i: MaelstromTestInit) {
  if (!isWorkloadName(i.workload))
    throw new InvalidArgumentError(`unknown workload ${i.workload}`, 'workload')
  if (typeof i.bin !== 'string' || i.bin.trim() === '')
    throw new InvalidArgumentError('--bin is required', 'bin')
  const nodeCount = checkInteger('nodeCount', i.nodeCount ?? DEFAULT_NODE_COUNT, 1, 1000)
  const mode = i.mode ?? 'inproc'
  if (!(MAELSTROM_MODES as readonly string[]).includes(mode))
    throw new InvalidArgumentError(`mode must be ${MAELSTROM_MODES.join(', ')}, got ${String(mode)}`, 'mode')
  const availability = i.availability
  if (availability !== undefined && availability !== 'total') checkNumber('availability', availability, 0, 1)
  return {
    nodeCount,
    mode,
    timeLimitS: checkNumber('timeLimitS', i.timeLimitS ?? DEFAULT_TIME_LIMIT_S, 0, 86_400),
    rate: checkNumber('rate', i.rate ?? DEFAULT_RATE, 0.001, 100_000),
    latencyMs: checkNumber('latencyMs', i.latencyMs ?? 0, 0, 60_000),
    concurrency: checkInteger('concurrency', i.concurrency ?? nodeCount, 1, 10_000),
    nemesisIntervalS: checkNumber(
      'nemesisIntervalS',
      i.nemesisIntervalS ?? DEFAULT_NEMESIS_INTERVAL_S,
      0.1,
      86_400,
    ),
    timeoutMs: checkInteger('timeoutMs', i.timeoutMs ?? CLIENT_TIMEOUT_MS, 1, 600_000),
    recoveryMs: checkInteger('recoveryMs', i.recoveryMs ?? DEFAULT_RECOVERY_MS, 0, 600_000),
    transport: i.transport ?? 'tcp',
    block: checkInteger('block', i.block ?? 0, 0, 255),
    availability,
    consistencyModels: resolveConsistencyModels(i.workload, i.consistencyModels),
  }
}

/** Models Maelstrom (Elle) knows that distlab's txn checker does not judge: named in the error. */
const OTHER_ELLE_MODELS = new Set([
  'consistent-view',
  'cursor-stability',
  'forward-consistent-view',
  'monotonic-atomic-view',
  'monotonic-snapshot-read',
  'monotonic-view',
  'parallel-snapshot-isolation',
  'repeatable-read',
  'snapshot-isolation',
  'strong-session-serializable',
  'strong-session-snapshot-isolation',
  'strong-snapshot-isolation',
  'update-serializable',
])

const TXN_WORKLOADS: readonly string[] = ['txn-rw-register', 'txn-list-append']

/**
 * Maelstrom's --consistency-models: a list (or a comma-separated string) of model names. The txn
 * workloads default to serializable; other workloads do not use it (null unless given).
 */
export function resolveConsistencyModels(
  workload: string,
  given: readonly string[] | string | undefined,
): string[] | null {
  const list =
    typeof given === 'string'
      ? given
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : given
  if (list === undefined) return TXN_WORKLOADS.includes(workload) ? ['serializable'] : null
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidArgumentError('--consistency-models needs at least one model', 'consistencyModels')
  const out: string[] = []
  for (const m of list) {
    if (typeof m !== 'string' || !(CONSISTENCY_MODELS as readonly string[]).includes(m)) {
      const name = String(m).slice(0, 60)
      const known = CONSISTENCY_MODELS.join(', ')
      throw new InvalidArgumentError(
        OTHER_ELLE_MODELS.has(name)
          ? `--consistency-models: ${name} is a Maelstrom model distlab's checker does not judge; it judges ${known}`
          : `--consistency-models: unknown model ${name}; distlab judges ${known}`,
        'consistencyModels',
      )
    }
    if (!out.includes(m)) out.push(m)
  }
  return out
}
