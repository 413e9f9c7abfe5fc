// Seed 004: the student's gbnnode (Go-Back-N with -d/-p loss emulation), dvnode (distance vector)
// and cnnode (GBN probes measure loss rates that become DV costs), run with the handout's command
// lines on free UDP ports of 127.0.0.1. Ground truth comes from distlab: the message typed, the
// shortest paths of the topology (Floyd–Warshall), the configured loss rates.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError } from '../core/errors.js'
import { parseTopology, type TopologySpec } from '../protocols/cn/topology.js'
import { ProcessLauncher, type Instance } from './instances.js'
import { freeUdpPorts, waitUdpBound } from './ports.js'
import { fail, pass, type ItemOutcome, type RubricItem, type SeedRubric } from './rubric.js'

export const DEFAULT_DV_TOPOLOGY = fileURLToPath(
  new URL('../../../topologies/course-dv-4.yaml', import.meta.url),
)
export const DEFAULT_CN_TOPOLOGY = fileURLToPath(
  new URL('../../../topologies/course-cn-4.yaml', import.meta.url),
)

export interface Seed004Options {
  /** Command prefix; the handout's arguments are appended (`python3 gbnnode.py`). */
  gbnnode?: string
  dvnode?: string
  cnnode?: string
  /** dv topology file (YAML, as `distlab topology run` reads). @default topologies/course-dv-4.yaml */
  dvTopology?: string
  /** cn topology file. @default topologies/course-cn-4.yaml */
  cnTopology?: string
  cwd?: string
  /** Time a gbn transfer may take. @default 40 s */
  gbnTimeoutMs?: number
  /** Time the dv nodes may take to go quiet. @default 30 s */
  dvTimeoutMs?: number
  /** How long the cn nodes probe before their loss rates are read. @default 10 s */
  cnRunMs?: number
  /** Largest accepted difference between a reported and a configured loss rate. @default 0.15 */
  cnTolerance?: number
}

interface GbnRun {
  label: string
  sender: string[]
  receiver: string[]
}

export interface Seed004Context {
  o: Seed004Options
  launchers: ProcessLauncher[]
  gbnRuns: GbnRun[]
  dvLines?: Map<number, string[]>
}

const TS = String.raw`\[\d+\.\d{3}\]`
const GBN_FORMATS: Array<[string, RegExp]> = [
  ['packet sent', new RegExp(`^${TS} packet(\\d+) (.) sent$`)],
  ['ACK received', new RegExp(`^${TS} ACK(-?\\d+) received, window moves to (\\d+)$`)],
  ['ACK discarded', new RegExp(`^${TS} ACK(-?\\d+) discarded$`)],
  ['timeout', new RegExp(`^${TS} packet(\\d+) timeout$`)],
  ['packet received', new RegExp(`^${TS} packet(\\d+) (.) received$`)],
  ['packet discarded', new RegExp(`^${TS} packet(\\d+) (.) discarded$`)],
  ['ACK sent', new RegExp(`^${TS} ACK(-?\\d+) sent, expecting packet(\\d+)$`)],
  ['summary', /^\[Summary\] (\d+)\/(\d+) packets discarded, loss rate = (\d+(?:\.\d+)?)$/],
]
const RECEIVED = GBN_FORMATS[4]![1]
const SUMMARY = GBN_FORMATS[7]![1]
const TABLE_HEAD = new RegExp(`^${TS} Node (\\d+) Routing Table$`)
const ROUTE = /^- \((\d+(?:\.\d+)?)\) -> Node (\d+)(?: ; Next hop -> Node (\d+))?$/
const DV_FORMATS: RegExp[] = [
  TABLE_HEAD,
  ROUTE,
  new RegExp(`^${TS} Message sent from Node \\d+ to Node \\d+$`),
  new RegExp(`^${TS} Message received at Node \\d+ from Node \\d+$`),
]
const LINK = new RegExp(
  `^${TS} Link to (\\d+): (\\d+) packets sent, (\\d+) packets lost, loss rate (\\d+(?:\\.\\d+)?)$`,
)

/** A line without the `node> ` prompts a program printed before it. */
const clean = (line: string) => line.replace(/^(\s*node>\s*)+/, '').trimEnd()

/** The message the receiver accepted: the character of every packet received when it was expected. */
export function deliveredMessage(receiverLines: readonly string[]): string {
  let expected = 0
  let message = ''
  for (const raw of receiverLines) {
    const m = RECEIVED.exec(clean(raw))
    if (m && Number(m[1]) === expected) {
      message += m[2]
      expected++
    }
  }
  return message
}

function need(cmd: string | undefined, flag: string): string {
  if (!cmd?.trim()) throw new InvalidArgumentError(`this item needs your program: give ${flag}`, flag)
  return cmd
}

async function runGbn(
  ctx: Seed004Context,
  mode: '-d' | '-p',
  value: number,
  message: string,
): Promise<GbnRun> {
  const cmd = need(ctx.o.gbnnode, '--gbnnode')
  const [a, b] = await freeUdpPorts(2)
  const launcher = new ProcessLauncher({ cwd: ctx.o.cwd })
  ctx.launchers.push(launcher)
  const label = `gbnnode ${a} ${b} 5 ${mode} ${value}`
  // One gbnnode on `own` that talks to `peer`, once it has bound its UDP port.
  const gbnnode = async (role: string, index: number, own: number, peer: number) => {
    const started = launcher.start({
      name: `${role}:${own}`,
      index,
      port: own,
      command: `${cmd} ${own} ${peer} 5 ${mode} ${value}`,
      stdin: true,
    })
    if (!(await waitUdpBound(own, 15_000))) throw new Error(`the ${role} never bound UDP ${own}`)
    return started
  }
  try {
    const receiver = await gbnnode('receiver', 2, b!, a!)
    const sender = await gbnnode('sender', 1, a!, b!)
    sender.process.type(`send ${message}`)
    const timeout = ctx.o.gbnTimeoutMs ?? 40_000
    await sender.process
      .waitUntil(
        () =>
          deliveredMessage(receiver.process.text()).length >= message.length &&
          sender.process.text().some((l) => SUMMARY.test(clean(l)))
            ? true
            : undefined,
        timeout,
        () => `the transfer did not finish within ${timeout} ms`,
      )
      .catch(() => undefined)
    // a receiver's summary may follow its last ACK by a moment
    await receiver.process.waitForLine(/\[Summary\]/, 1000).catch(() => undefined)
    return { label, sender: sender.process.text(), receiver: receiver.process.text() }
  } finally {
    await launcher.stopAll()
  }
}

function summaries(lines: readonly string[]): RegExpExecArray[] {
  return lines.map((l) => SUMMARY.exec(clean(l))).filter((m): m is RegExpExecArray => m !== null)
}

function transferVerdict(
  run: GbnRun,
  message: string,
  expectRate: (rate: number, m: RegExpExecArray) => string | undefined,
): ItemOutcome {
  const delivered = deliveredMessage(run.receiver)
  const evidence = [`ran \`${run.label}\` and its peer, typed "send ${message}"`]
  evidence.push(`receiver accepted in order: "${delivered}"`)
  const senderSummary = summaries(run.sender)
  const receiverSummary = summaries(run.receiver)
  for (const m of senderSummary.slice(-1)) evidence.push(`sender: ${m[0]}`)
  for (const m of receiverSummary.slice(-1)) evidence.push(`receiver: ${m[0]}`)
  const problems: string[] = []
  if (delivered !== message) problems.push(`delivered "${delivered}" instead of "${message}"`)
  if (senderSummary.length === 0 && receiverSummary.length === 0) problems.push('no [Summary] line')
  const discardedAtReceiver = run.receiver.some((l) => GBN_FORMATS[5]![1].test(clean(l)))
  if (!discardedAtReceiver)
    problems.push('the receiver printed no "packet<n> <c> discarded" line: is the loss emulated?')
  const rm = receiverSummary.at(-1)
  if (rm) {
    const why = expectRate(Number(rm[1]) / Math.max(1, Number(rm[2])), rm)
    if (why) problems.push(why)
  }
  if (problems.length === 0) return pass(...evidence)
  return fail(...evidence, ...problems, ...run.receiver.slice(-4).map((l) => `receiver| ${l}`))
}

async function checkGbnDeterministic(ctx: Seed004Context): Promise<ItemOutcome> {
  const message = 'gbn-check!'
  const run = await runGbn(ctx, '-d', 3, message)
  ctx.gbnRuns.push(run)
  return transferVerdict(run, message, (_rate, m) => {
    const discarded = Number(m[1])
    const total = Number(m[2])
    return Math.abs(discarded - Math.floor(total / 3)) <= 1
      ? undefined
      : `with -d 3 every third packet is dropped: ${discarded}/${total} is not about a third`
  })
}

async function checkGbnProbabilistic(ctx: Seed004Context): Promise<ItemOutcome> {
  const message = 'go-back-n under random loss'
  const run = await runGbn(ctx, '-p', 0.2, message)
  ctx.gbnRuns.push(run)
  return transferVerdict(run, message, (rate) =>
    Math.abs(rate - 0.2) <= 0.2 ? undefined : `loss rate ${rate.toFixed(2)} is far from -p 0.2`,
  )
}

async function checkGbnLines(ctx: Seed004Context): Promise<ItemOutcome> {
  if (ctx.gbnRuns.length === 0) ctx.gbnRuns.push(await runGbn(ctx, '-d', 3, 'gbn-check!'))
  const seen = new Set<string>()
  const bad: string[] = []
  let checked = 0
  for (const run of ctx.gbnRuns)
    for (const raw of [...run.sender, ...run.receiver]) {
      const line = clean(raw)
      if (!/packet|ACK|Summary/.test(line)) continue
      checked++
      const kind = GBN_FORMATS.find(([, re]) => re.test(line))?.[0]
      if (kind) seen.add(kind)
      else if (bad.length < 5) bad.push(`not a handout line: "${line}"`)
    }
  // timeouts and discards depend on what was lost; these five appear in every transfer
  const missing = ['packet sent', 'ACK received', 'packet received', 'ACK sent', 'summary'].filter(
    (k) => !seen.has(k),
  )
  const evidence = [`${checked} lines checked; kinds seen: ${[...seen].join(', ')}`]
  if (bad.length === 0 && missing.length === 0) return pass(...evidence)
  if (missing.length) evidence.push(`never printed: ${missing.join(', ')}`)
  return fail(...evidence, ...bad)
}

/** All-pairs shortest distances (Floyd–Warshall) of an undirected graph. */
export function shortestPaths(
  nodes: number[],
  links: TopologySpec['links'],
): Map<number, Map<number, number>> {
  const d = new Map<number, Map<number, number>>()
  for (const a of nodes) d.set(a, new Map(nodes.map((b) => [b, a === b ? 0 : Infinity])))
  for (const l of links) {
    d.get(l.a)!.set(l.b, Math.min(d.get(l.a)!.get(l.b)!, l.cost))
    d.get(l.b)!.set(l.a, Math.min(d.get(l.b)!.get(l.a)!, l.cost))
  }
  for (const k of nodes)
    for (const i of nodes)
      for (const j of nodes) {
        const via = d.get(i)!.get(k)! + d.get(k)!.get(j)!
        if (via < d.get(i)!.get(j)!) d.get(i)!.set(j, via)
      }
  return d
}

/** The last routing table a node printed: destination → distance and next hop. */
export function lastTable(
  lines: readonly string[],
): Map<number, { distance: number; nextHop: number }> | undefined {
  let table: Map<number, { distance: number; nextHop: number }> | undefined
  let current: Map<number, { distance: number; nextHop: number }> | undefined
  for (const raw of lines) {
    const line = clean(raw)
    if (TABLE_HEAD.test(line)) {
      current = new Map()
      table = current
      continue
    }
    const m = ROUTE.exec(line)
    if (m && current) current.set(Number(m[2]), { distance: Number(m[1]), nextHop: Number(m[3] ?? m[2]) })
    else current = undefined
  }
  return table
}

function loadTopology(file: string, kind: 'dv' | 'cn'): TopologySpec {
  const spec = parseTopology(readFileSync(file, 'utf8'))
  if (spec.kind !== kind)
    throw new InvalidArgumentError(`${file} is a ${spec.kind} topology, not ${kind}`, 'topology')
  return spec
}

/** The topology with its ports replaced by free ones, so a check never collides with anything. */
async function remap(spec: TopologySpec): Promise<TopologySpec> {
  const ports = await freeUdpPorts(spec.nodes.length)
  const to = new Map(spec.nodes.map((p, i) => [p, ports[i]!]))
  return {
    ...spec,
    nodes: spec.nodes.map((p) => to.get(p)!),
    names: {},
    links: spec.links.map((l) => ({ a: to.get(l.a)!, b: to.get(l.b)!, cost: l.cost })),
    last: to.get(spec.last)!,
  }
}

/** Starts every node (the `last` one after the others are bound) and waits until all go quiet. */
async function runGraph(
  ctx: Seed004Context,
  spec: TopologySpec,
  argsOf: (port: number) => string,
  command: string,
  settle: (instances: Instance[]) => Promise<void>,
): Promise<Map<number, string[]>> {
  const launcher = new ProcessLauncher({ cwd: ctx.o.cwd })
  ctx.launchers.push(launcher)
  try {
    const started: Instance[] = []
    const order = [...spec.nodes.filter((n) => n !== spec.last), spec.last]
    for (const [i, port] of order.entries()) {
      if (port === spec.last)
        for (const s of started)
          if (!(await waitUdpBound(s.port, 15_000))) throw new Error(`${s.name} never bound UDP ${s.port}`)
      started.push(
        launcher.start({
          name: `node ${port}`,
          index: i + 1,
          port,
          command: `${command} ${argsOf(port)}`,
          stdin: true,
        }),
      )
    }
    await settle(started)
    return new Map(started.map((s) => [s.port, s.process.text()]))
  } finally {
    await launcher.stopAll()
  }
}

/** Resolves when no instance printed anything for `quietMs`, or after `timeoutMs`. */
async function quiet(instances: Instance[], quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let count = -1
  let since = Date.now()
  while (Date.now() < deadline) {
    const now = instances.reduce((s, i) => s + i.process.lines.length, 0)
    if (now !== count) {
      count = now
      since = Date.now()
    } else if (now > 0 && Date.now() - since >= quietMs) return
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function runDv(ctx: Seed004Context): Promise<{ spec: TopologySpec; lines: Map<number, string[]> }> {
  const command = need(ctx.o.dvnode, '--dvnode')
  const spec = await remap(loadTopology(ctx.o.dvTopology ?? DEFAULT_DV_TOPOLOGY, 'dv'))
  const args = (port: number) => {
    const parts = [String(port)]
    for (const l of spec.links) {
      if (l.a === port) parts.push(String(l.b), String(l.cost))
      else if (l.b === port) parts.push(String(l.a), String(l.cost))
    }
    if (port === spec.last) parts.push('last')
    return parts.join(' ')
  }
  const lines = await runGraph(ctx, spec, args, command, (inst) =>
    quiet(inst, 3000, ctx.o.dvTimeoutMs ?? 30_000),
  )
  ctx.dvLines = lines
  return { spec, lines }
}

async function checkDvRoutes(ctx: Seed004Context): Promise<ItemOutcome> {
  const { spec, lines } = await runDv(ctx)
  const truth = shortestPaths(spec.nodes, spec.links)
  const cost = (a: number, b: number) =>
    spec.links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a))?.cost
  const evidence = [
    `${spec.nodes.length} dvnodes on ports ${spec.nodes.join(', ')} (last: ${spec.last}), links ${spec.links.map((l) => `${l.a}-${l.b}:${l.cost}`).join(' ')}`,
  ]
  const problems: string[] = []
  for (const node of spec.nodes) {
    const table = lastTable(lines.get(node) ?? [])
    if (!table) {
      problems.push(`Node ${node} printed no routing table`)
      continue
    }
    for (const dest of spec.nodes) {
      if (dest === node) continue
      const want = truth.get(node)!.get(dest)!
      const got = table.get(dest)
      if (!got) problems.push(`Node ${node} has no route to Node ${dest} (true distance ${+want.toFixed(4)})`)
      else if (Math.abs(got.distance - want) > 0.011)
        problems.push(
          `Node ${node} → Node ${dest}: printed ${got.distance}, true shortest distance ${+want.toFixed(4)}`,
        )
      else {
        const c = cost(node, got.nextHop)
        if (c === undefined)
          problems.push(`Node ${node} → Node ${dest}: next hop ${got.nextHop} is not a neighbour`)
        else if (Math.abs(c + truth.get(got.nextHop)!.get(dest)! - want) > 0.011)
          problems.push(`Node ${node} → Node ${dest}: next hop ${got.nextHop} is not on a shortest path`)
      }
    }
  }
  const first = spec.nodes[0]!
  const t = lastTable(lines.get(first) ?? [])
  if (t)
    evidence.push(
      `Node ${first}'s last table: ${[...t].map(([d, r]) => `${d}:(${r.distance}) via ${r.nextHop}`).join(', ')}`,
    )
  if (problems.length === 0) return pass(...evidence, 'every table holds the true shortest distances')
  return fail(...evidence, ...problems.slice(0, 10))
}

async function checkDvLines(ctx: Seed004Context): Promise<ItemOutcome> {
  const lines = ctx.dvLines ?? (await runDv(ctx)).lines
  const bad: string[] = []
  let checked = 0
  let kinds = 0
  for (const re of DV_FORMATS)
    if ([...lines.values()].some((ls) => ls.some((l) => re.test(clean(l))))) kinds++
  for (const [port, ls] of lines)
    for (const raw of ls) {
      const line = clean(raw)
      if (!/Node|^-/.test(line)) continue
      checked++
      if (!DV_FORMATS.some((re) => re.test(line)) && bad.length < 5) bad.push(`node ${port}: "${line}"`)
    }
  const evidence = [`${checked} lines checked, ${kinds}/4 kinds of line seen`]
  if (bad.length === 0 && kinds === 4) return pass(...evidence)
  return fail(
    ...evidence,
    ...(kinds < 4 ? ['missing a kind of line (table, route, message sent/received)'] : []),
    ...bad,
  )
}

/**
 * How many standard errors a measured loss rate may stray from the configured one. Each probe is
 * lost independently, so a correct node's rate over n probes has a standard error of
 * sqrt(p(1 - p) / n): at p = 0.5 and the 127 probes a loaded machine leaves time for in 10 s, 0.044.
 * A fixed ±0.15 alone fails a correct node about once in 1,500 runs there (3.4 standard
 * errors); 4 of them fail one about once in 16,000.
 */
const SAMPLING_ERRORS = 4

/**
 * The accepted |reported - configured| for one link: the tolerance, widened to SAMPLING_ERRORS
 * standard errors where the link carried few probes, plus what the node's 2-decimal rounding and
 * floating point add (0.35 against 0.5 is within ±0.15).
 */
export function allowedLossError(configured: number, probes: number, tolerance: number): number {
  const standardError = Math.sqrt((configured * (1 - configured)) / Math.max(1, probes))
  return Math.max(tolerance, SAMPLING_ERRORS * standardError) + 1e-9
}

async function checkCnLoss(ctx: Seed004Context): Promise<ItemOutcome> {
  const command = need(ctx.o.cnnode, '--cnnode')
  const spec = await remap(loadTopology(ctx.o.cnTopology ?? DEFAULT_CN_TOPOLOGY, 'cn'))
  const args = (port: number) => {
    const parts = [String(port), 'receive']
    for (const l of spec.links) if (l.b === port) parts.push(String(l.a), String(l.cost))
    parts.push('send')
    for (const l of spec.links) if (l.a === port) parts.push(String(l.b))
    if (port === spec.last) parts.push('last')
    return parts.join(' ')
  }
  const runMs = ctx.o.cnRunMs ?? 10_000
  const lines = await runGraph(ctx, spec, args, command, () => new Promise((r) => setTimeout(r, runMs)))
  const tolerance = ctx.o.cnTolerance ?? 0.15
  const evidence = [
    `${spec.nodes.length} cnnodes probed for ${runMs / 1000} s; tolerance ±${tolerance}, ` +
      `or ${SAMPLING_ERRORS} standard errors of a rate measured on few probes`,
  ]
  const problems: string[] = []
  for (const l of spec.links) {
    let last: RegExpExecArray | undefined
    for (const raw of lines.get(l.a) ?? []) {
      const m = LINK.exec(clean(raw))
      if (m && Number(m[1]) === l.b) last = m
    }
    if (!last) {
      problems.push(`Node ${l.a} printed no "Link to ${l.b}: ..." line`)
      continue
    }
    const sent = Number(last[2])
    const rate = Number(last[4])
    const line = `Node ${l.a}: ${clean(last[0])} (configured ${l.cost})`
    const off = Math.abs(rate - l.cost)
    const allowed = allowedLossError(l.cost, sent, tolerance)
    if (sent < 20) problems.push(`${line}: too few probes to judge`)
    else if (off > allowed)
      problems.push(`${line}: off by ${off.toFixed(2)}, more than ±${allowed.toFixed(2)}`)
    else evidence.push(line)
  }
  if (problems.length === 0) return pass(...evidence)
  return fail(...problems, ...evidence.slice(0, 3))
}

export const SEED004_ITEMS: ReadonlyArray<RubricItem<Seed004Context>> = [
  {
    id: 'gbn-deterministic',
    title: 'gbnnode pair with -d 3 delivers the message exactly and prints [Summary] (about 1/3 discarded)',
    required: true,
    check: checkGbnDeterministic,
  },
  {
    id: 'gbn-probabilistic',
    title: 'gbnnode pair with -p 0.2 delivers the message exactly, loss rate near 0.2',
    required: true,
    check: checkGbnProbabilistic,
  },
  {
    id: 'gbn-lines',
    title:
      "gbnnode prints the handout's lines exactly ([<ts>] packet<n> <c> sent, ACK<n> received, window moves to <n>, ...)",
    required: true,
    check: checkGbnLines,
  },
  {
    id: 'dv-routes',
    title: 'dvnodes on the topology converge to the true shortest paths (computed by distlab)',
    required: true,
    check: checkDvRoutes,
  },
  {
    id: 'dv-lines',
    title: "dvnode prints the handout's table and message lines exactly",
    required: true,
    check: checkDvLines,
  },
  {
    id: 'cn-loss',
    title: "cnnodes report each link's loss rate within a tolerance of the configured one",
    required: true,
    check: checkCnLoss,
  },
]

export const SEED004: SeedRubric<Seed004Options, Seed004Context> = {
  seed: 'seed004',
  title: 'Go-Back-N, distance vector, and both combined (gbnnode, dvnode, cnnode)',
  items: SEED004_ITEMS,
  async setup(o) {
    if (!o.gbnnode && !o.dvnode && !o.cnnode)
      throw new InvalidArgumentError('give at least one of --gbnnode, --dvnode, --cnnode', 'gbnnode')
    return { o, launchers: [], gbnRuns: [] }
  },
  async teardown(ctx) {
    await Promise.all(ctx.launchers.map((l) => l.stopAll()))
  },
}
