// The scenario file: a cluster, the workloads that run on it, and the faults injected while they
// run, in YAML. One schema (zod) checks it; a bad file is a clear error naming the field.
import { readFileSync } from 'node:fs'
import { parseYamlText } from '../core/yaml.js'
import { z } from 'zod'
import { ScenarioFileError } from '../core/errors.js'
import { parseDuration } from '../core/options.js'

export { ScenarioFileError }

const NODE = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a node name such as node2')
const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  try {
    return parseDuration('duration', v)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
    return z.NEVER
  }
})
const probability = z.number().min(0).max(1)

const LinkStep = z.strictObject({
  from: NODE,
  /** Peer the rule applies to; every peer when left out. */
  to: NODE.optional(),
  /** Apply the same rule in the other direction too. */
  both: z.boolean().default(false),
  loss: probability.optional(),
  duplicate: probability.optional(),
  reorder: probability.optional(),
  delayMs: z.number().min(0).max(60_000).optional(),
  jitterMs: z.number().min(0).max(60_000).optional(),
})

export const StepSchema = z.union([
  z.strictObject({ wait: duration }),
  z.strictObject({ kill: NODE }),
  z.strictObject({ restart: NODE }),
  z.strictObject({ partition: z.array(z.array(NODE).min(1)).min(2) }),
  z.strictObject({ heal: z.literal(true) }),
  z.strictObject({ link: LinkStep }),
  z.strictObject({ slow: z.strictObject({ node: NODE, delayMs: z.number().min(1).max(60_000) }) }),
  /** Crash a client of the cooperative download (its sockets drop, no goodbye): its master, or a rank. */
  z.strictObject({ crashClient: z.union([z.literal('master'), z.number().int().min(0).max(999)]) }),
  /** Stop the download's line server (every client connection drops) and start it again on its port. */
  z.strictObject({ restartLineServer: z.literal(true) }),
])
export type Step = z.infer<typeof StepSchema>

const common = {
  /** Messages to send. */
  messages: z.number().int().min(1).max(100_000).default(50),
  /** Pause between two sends, e.g. 50ms. */
  interval: duration.default(50),
  /** How long one send may wait for its acknowledgement. */
  timeout: duration.default(5000),
}

export const WorkloadSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('unicast'),
    /** [sender, receiver] pairs; messages go round-robin over them. */
    pairs: z.array(z.tuple([NODE, NODE])).min(1),
    transport: z.enum(['udp', 'tcp']).default('udp'),
    ...common,
  }),
  z.strictObject({
    kind: z.literal('broadcast'),
    /** Nodes that broadcast, round-robin. */
    from: z.array(NODE).min(1),
    strategy: z.enum(['flood', 'gossip', 'tree', 'plumtree', 'ip']).optional(),
    durable: z.boolean().default(true),
    ...common,
  }),
  z.strictObject({
    kind: z.literal('multicast'),
    group: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
    /** Nodes that join the group before the workload starts. */
    members: z.array(NODE).min(1),
    from: z.array(NODE).min(1),
    ...common,
  }),
  z.strictObject({
    kind: z.literal('download'),
    /** Cooperating clients (seed 003), each on its own address beside the cluster. */
    clients: z.number().int().min(1).max(50).default(4),
    /** Lines of the text the line server serves. */
    lines: z.number().int().min(1).max(1000).default(1000),
    /** The line server's limit, lines per second per client address. */
    rate: z.number().min(1).max(10_000).default(100),
    /** The master journals every line it merges; its successor reads the journal back. */
    journal: z.boolean().default(true),
    /** How long the whole download may take. */
    timeout: duration.default(120_000),
  }),
  z.strictObject({
    kind: z.literal('anycast'),
    /** Nodes whose anycast replica (seed 001's greeting server) serves the requests. */
    servers: z.array(NODE).min(1),
    policy: z.enum(['random', 'nearest', 'least-loaded']).default('random'),
    /** Requests to make. */
    messages: z.number().int().min(1).max(100_000).default(50),
    /** Pause between two requests. */
    interval: duration.default(50),
    /** How long one request may take across failovers. */
    timeout: duration.default(15_000),
  }),
  z.strictObject({
    kind: z.literal('p2p'),
    /** [sender, receiver] pairs for POST /p2p/send (seed 002's messages between peers). */
    pairs: z.array(z.tuple([NODE, NODE])).min(1),
    ...common,
  }),
])
export type Workload = z.infer<typeof WorkloadSchema>

export const ScenarioSchema = z.strictObject({
  name: z.string().min(1).max(128),
  description: z.string().max(4096).optional(),
  cluster: z
    .strictObject({
      nodes: z.number().int().min(1).max(200).default(4),
      /** Where the nodes run: docker needs the engine and the node image (`distlab deploy image`). */
      mode: z.enum(['process', 'inproc', 'docker']).default('inproc'),
      /** Second octet of every address (127.<block>.x.y). */
      block: z.number().int().min(0).max(255).default(0),
      /** Cluster key; frames authenticated and the API guarded during the run. */
      key: z.string().min(8).optional(),
    })
    .prefault({}),
  workloads: z.array(WorkloadSchema).min(1),
  steps: z.array(StepSchema).default([]),
  /** After the last step and send: everything healed, time allowed for deliveries to settle. */
  settle: duration.default(10_000),
})
export type Scenario = z.infer<typeof ScenarioSchema>

/** Checks a parsed scenario: the schema, then that every node it names exists in its cluster. */
export function resolveScenario(raw: unknown): Scenario {
  const r = ScenarioSchema.safeParse(raw)
  if (!r.success) {
    const issue = r.error.issues[0]
    const field = issue?.path.join('.') || 'scenario'
    throw new ScenarioFileError(`${field}: ${issue?.message ?? 'invalid'}`, field)
  }
  const s = r.data
  const names = new Set(['master', ...Array.from({ length: s.cluster.nodes }, (_, i) => `node${i + 1}`)])
  const check = (name: string, field: string) => {
    if (!names.has(name))
      throw new ScenarioFileError(
        `${field}: no node named ${name} in a cluster of ${s.cluster.nodes} nodes (master, node1..node${s.cluster.nodes})`,
        field,
      )
  }
  s.workloads.forEach((w, i) => {
    const f = `workloads.${i}`
    if (w.kind === 'unicast' || w.kind === 'p2p') w.pairs.flat().forEach((n) => check(n, `${f}.pairs`))
    else if (w.kind === 'anycast') w.servers.forEach((n) => check(n, `${f}.servers`))
    else if (w.kind !== 'download') w.from.forEach((n) => check(n, `${f}.from`))
    if (w.kind === 'multicast') w.members.forEach((n) => check(n, `${f}.members`))
  })
  s.steps.forEach((st, i) => {
    const f = `steps.${i}`
    if ('kill' in st) check(st.kill, `${f}.kill`)
    if ('restart' in st) check(st.restart, `${f}.restart`)
    if ('partition' in st) st.partition.flat().forEach((n) => check(n, `${f}.partition`))
    if ('link' in st) {
      check(st.link.from, `${f}.link.from`)
      if (st.link.to) check(st.link.to, `${f}.link.to`)
    }
    if ('slow' in st) check(st.slow.node, `${f}.slow.node`)
    if ('crashClient' in st || 'restartLineServer' in st) {
      const downloads = s.workloads.filter((w) => w.kind === 'download')
      const field = `${f}.${'crashClient' in st ? 'crashClient' : 'restartLineServer'}`
      if (downloads.length === 0)
        throw new ScenarioFileError(`${field}: the scenario has no download workload`, field)
      const rank = 'crashClient' in st ? st.crashClient : 'master'
      if (typeof rank === 'number' && downloads.some((w) => rank >= w.clients))
        throw new ScenarioFileError(`${field}: no client of rank ${rank} (ranks start at 0)`, field)
    }
  })
  return s
}

export function parseScenario(text: string): Scenario {
  let raw: unknown
  try {
    raw = parseYamlText(text, 'the scenario')
  } catch (err) {
    throw new ScenarioFileError((err as Error).message)
  }
  return resolveScenario(raw)
}

export function loadScenario(file: string): Scenario {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ScenarioFileError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  return parseScenario(text)
}

/** Steps that inject a fault (everything but wait). */
export function faultCount(s: Scenario): number {
  return s.steps.filter((st) => !('wait' in st)).length
}
