// `distlab maelstrom test` and `maelstrom node` flags as the command line gives them (strings,
// as commander hands them over) turned into the library's options, each checked with an error
// that names the flag. The CLI only declares the flags and calls these.
import { InvalidArgumentError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Node } from '../node/node.js'
import { createNode } from '../cluster/node-assembly.js'
import { maelstromNode } from './node.js'
import { parseNemesis } from './nemesis.js'
import {
  MAELSTROM_MODES,
  resolveConsistencyModels,
  type MaelstromMode,
  type MaelstromTestInit,
} from './options.js'
import { isWorkloadName, TOPOLOGIES, WORKLOAD_NAMES, type Topology } from './workloads.js'

/** `maelstrom test`'s flags, as parsed by the command line. */
export interface MaelstromTestFlags {
  workload?: string
  bin?: string
  nodeCount: number
  timeLimit: string
  rate: string
  latency: string
  concurrency?: number
  topology: string
  nemesis?: string
  nemesisInterval: string
  availability?: string
  mode: string
  keyCount?: number
  maxTxnLength?: number
  recovery: string
  timeout: number
  transport: string
  consistencyModels?: string
  image?: string
  block: number
  dashboardPort: number
}

function positive(flag: string, v: string, min = 0): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < min)
    throw new InvalidArgumentError(`${flag} must be a number >= ${min}, got ${JSON.stringify(v)}`, flag)
  return n
}

function availabilityFlag(v: string | undefined): 'total' | number | undefined {
  if (v === undefined) return undefined
  const a = v === 'total' ? 'total' : positive('--availability', v)
  if (typeof a === 'number' && a > 1)
    throw new InvalidArgumentError('--availability must be total or a share between 0 and 1', 'availability')
  return a
}

function transportFlag(t: string): 'tcp' | 'udp' {
  if (t !== 'tcp' && t !== 'udp')
    throw new InvalidArgumentError(`--transport must be tcp or udp, got ${t}`, 'transport')
  return t
}

/** A test's options from its flags; throws InvalidArgumentError naming the first bad flag. */
export function testInitFromFlags(
  o: MaelstromTestFlags,
  extra: Pick<MaelstromTestInit, 'stateDir' | 'onProgress'>,
): MaelstromTestInit {
  if (!o.workload || !isWorkloadName(o.workload))
    throw new InvalidArgumentError(`-w/--workload must be one of ${WORKLOAD_NAMES.join(', ')}`, 'workload')
  if (!o.bin) throw new InvalidArgumentError('--bin <program> is required', 'bin')
  if (!(MAELSTROM_MODES as readonly string[]).includes(o.mode))
    throw new InvalidArgumentError(`--mode must be ${MAELSTROM_MODES.join(', ')}, got ${o.mode}`, 'mode')
  if (o.image !== undefined && o.mode !== 'docker')
    throw new InvalidArgumentError('--image is for --mode docker', 'image')
  const consistencyModels = resolveConsistencyModels(o.workload, o.consistencyModels)
  const transport = transportFlag(o.transport)
  if (!(TOPOLOGIES as readonly string[]).includes(o.topology))
    throw new InvalidArgumentError(`--topology must be one of ${TOPOLOGIES.join(', ')}`, 'topology')
  const availability = availabilityFlag(o.availability)
  return {
    workload: o.workload,
    bin: o.bin,
    nodeCount: o.nodeCount,
    timeLimitS: positive('--time-limit', o.timeLimit),
    rate: positive('--rate', o.rate, 0.001),
    latencyMs: positive('--latency', o.latency),
    concurrency: o.concurrency,
    topology: o.topology as Topology,
    nemesis: parseNemesis(o.nemesis),
    nemesisIntervalS: positive('--nemesis-interval', o.nemesisInterval, 0.1),
    availability,
    mode: o.mode as MaelstromMode,
    image: o.image,
    consistencyModels: consistencyModels ?? undefined,
    keyCount: o.keyCount,
    maxTxnLength: o.maxTxnLength,
    recoveryMs: positive('--recovery', o.recovery),
    timeoutMs: o.timeout,
    transport,
    block: o.block,
    dashboardPort: o.dashboardPort,
    ...extra,
  }
}

/** `maelstrom node`'s flags. */
export interface MaelstromNodeFlags {
  bin: string
  nodeCount: number
  transport: string
  name: string
  host: string
  port: number
  framePort: number
  bootstrap?: string
}

/** The distlab node a `maelstrom node` process runs (one program wrapped), not started; `key` signs its frames. */
export function wrapperNodeFromFlags(o: MaelstromNodeFlags, key: string | undefined, logger: Logger): Node {
  const transport = transportFlag(o.transport)
  return createNode({
    name: o.name,
    host: o.host,
    httpPort: o.port,
    framePort: o.framePort,
    masterUrl: o.bootstrap,
    key,
    membersRefreshMs: 1000,
    logger,
    protocols: [maelstromNode({ bin: o.bin, nodeCount: o.nodeCount, transport })],
  })
}
