// Seed 000, "Small Distributed Project": a master and four nodes (master.py, node.py) with a
// broadcast that minimises unnecessary traffic, a unicast and a multicast. The handout fixes no wire
// format, so the check drives the student's master by typing one line on its stdin per operation
// (`broadcast {msg}`, `unicast {to} {msg}`, `multicast {group} {msg}` unless told otherwise) and
// watches two things: which nodes print the message, and, with a namespace per program (root),
// which programs' wires carried it (wire.ts), whatever protocol the student chose.
import { randomBytes } from 'node:crypto'
import { InvalidArgumentError } from '../core/errors.js'
import { Lab, type LabSlot } from './lab.js'
import { portBound } from './ports.js'
import { fillPlaceholders, notListening, poll, StudentProcess } from './process.js'
import { fail, pass, type ItemOutcome, type RubricItem, type SeedRubric } from './rubric.js'
import { WireCounters, type WireCount } from './wire.js'
import { DEFAULT_FOREIGN_NETWORK } from '../foreign/spec.js'
import {
  ensureNetwork,
  namesFree,
  removeContainers,
  startContainer,
  waitContainerBound,
  type DockerProgram,
} from './seed000-docker.js'

export const SEED000_PORT = 5000
export const SEED000_NODES = 4
/** The broadcast item of traffic passes when at most this share of what arrived was unnecessary. */
export const MAX_UNNECESSARY_RATIO = 0.5

export interface Seed000Options {
  /** The master's command, e.g. `python3 master.py --host {host} --port {port} --nodes {peers}`. */
  master: string
  /** The node's command, e.g. `python3 node.py --host {host} --port {port} --master {master}`. */
  node: string
  /** @default 4 */
  nodes?: number
  env?: Record<string, string>
  masterEnv?: Record<string, string>
  /** The port every program listens on (TCP or UDP). @default 5000 */
  port?: number
  /** Third octet of 10.213.B.x (namespaces) or second of 127.B.x.y (loopback). @default 0 */
  block?: number
  cwd?: string
  /** The line typed on the master's stdin to broadcast. @default 'broadcast {msg}' */
  broadcast?: string
  /** @default 'unicast {to} {msg}' */
  unicast?: string
  /** @default 'multicast {group} {msg}' */
  multicast?: string
  /** The node a unicast goes to. @default 'node2' */
  unicastTo?: string
  /** The multicast group. @default ['node1', 'node3'] */
  group?: string[]
  /** A namespace per program (root): 'auto' when the machine allows. @default 'auto' */
  isolate?: 'auto' | boolean
  /** How long a program may take to listen on its port. @default 20 s */
  startTimeoutMs?: number
  /** How long a message may take to reach the nodes it is for. @default 10 s */
  deliverTimeoutMs?: number
  /** 'docker': the images as containers master, node1..nodeN on `network`. @default 'process' */
  mode?: 'process' | 'docker'
  /** Docker mode: the nodes' image (the node command, if given, overrides its own). */
  nodeImage?: string
  /** Docker mode: the master's image. @default nodeImage */
  masterImage?: string
  /** Docker mode: the network. @default 'Proj1-distributed-network' */
  network?: string
}

type Resolved = Required<Omit<Seed000Options, 'env' | 'masterEnv' | 'cwd' | 'nodeImage' | 'masterImage'>> &
  Seed000Options

export interface Seed000Instance {
  name: string
  host: string
  process: StudentProcess
}

export interface Seed000Context {
  o: Resolved
  lab: Lab
  master: Seed000Instance
  nodes: Seed000Instance[]
  wire?: WireCounters
  /** What the broadcast item saw, for the traffic item. */
  broadcastSeen?: Delivery
  /** Docker mode: the containers' network, and whether the check made it. */
  docker?: { network: string; made: boolean }
}

interface Delivery {
  line: string
  token: string
  /** Node name → the output line that carried the message. */
  printed: Map<string, string>
  wire?: Map<string, WireCount>
}

const newToken = (kind: string) => `dl-${kind}-${randomBytes(5).toString('hex')}`

function nodeByName(ctx: Seed000Context, name: string): Seed000Instance {
  const n = ctx.nodes.find((x) => x.name === name)
  if (!n)
    throw new InvalidArgumentError(
      `no node named ${name} (have ${ctx.nodes.map((x) => x.name).join(', ')})`,
      'name',
    )
  return n
}

/** Types one operation on the master's stdin and waits for `expect` to print it, then for quiet. */
async function operate(
  ctx: Seed000Context,
  kind: string,
  template: string,
  values: Map<string, string>,
  expect: Seed000Instance[],
): Promise<Delivery> {
  const token = newToken(kind)
  values.set('msg', token)
  const line = template.replace(/\{([a-z_]+)\}/g, (all, k: string) => values.get(k) ?? all)
  await ctx.wire?.watch(token)
  ctx.master.process.type(line)
  const printedBy = () => {
    const m = new Map<string, string>()
    for (const n of ctx.nodes) {
      const hit = n.process.lines.find((l) => l.text.includes(token))
      if (hit) m.set(n.name, hit.text)
    }
    return m
  }
  await poll(
    () => (expect.every((n) => printedBy().has(n.name)) ? true : undefined),
    ctx.o.deliverTimeoutMs,
    100,
  )
  // Then what else the message reached: until the wire (or the output) is quiet for a second.
  let wire: Map<string, WireCount> | undefined
  if (ctx.wire) wire = await ctx.wire.settled(token)
  else {
    let before = printedBy().size
    let since = Date.now()
    await poll(
      () => {
        const now = printedBy().size
        if (now !== before) {
          before = now
          since = Date.now()
        }
        return Date.now() - since >= 1000 ? true : undefined
      },
      8000,
      100,
    )
  }
  return { line, token, printed: printedBy(), wire }
}

function wireLine(d: Delivery, names: string[]): string {
  if (!d.wire) return ''
  return names
    .map((n) => {
      const c = d.wire!.get(n)
      return `${n} ${c ? `${c.arrived} in/${c.sent} out` : '?'}`
    })
    .join(', ')
}

function noWireNote(ctx: Seed000Context): string {
  return `(not seen on the wire: ${ctx.lab.note ?? 'no namespaces'}; run as root for the wire check)`
}

/** The check common to unicast and multicast: exactly `targets` print it and see it on their wire. */
function onlyTargets(
  ctx: Seed000Context,
  d: Delivery,
  targets: Seed000Instance[],
  what: string,
): ItemOutcome {
  const evidence = [`typed on master's stdin: ${d.line}`]
  const names = ctx.nodes.map((n) => n.name)
  const missing = targets.filter((t) => !d.printed.has(t.name))
  const others = ctx.nodes.filter((n) => !targets.includes(n))
  const leaked = others.filter((n) => d.printed.has(n.name))
  const onWire = d.wire ? others.filter((n) => (d.wire!.get(n.name)?.arrived ?? 0) > 0) : []
  for (const t of targets) if (d.printed.has(t.name)) evidence.push(`${t.name}| ${d.printed.get(t.name)!}`)
  if (d.wire) evidence.push(`packets carrying it on each node's wire: ${wireLine(d, names)}`)
  else evidence.push(noWireNote(ctx))
  if (missing.length > 0)
    return fail(
      ...evidence,
      `${missing.map((m) => m.name).join(', ')} never printed the message within ${ctx.o.deliverTimeoutMs} ms; last lines:`,
      ...missing.flatMap((m) => m.process.tail(3)),
    )
  if (leaked.length > 0)
    return fail(
      ...evidence,
      `${leaked.map((n) => `${n.name} printed it: ${d.printed.get(n.name)!}`).join('; ')} (the ${what} is only for ${targets.map((t) => t.name).join(', ')})`,
    )
  if (onWire.length > 0)
    return fail(
      ...evidence,
      `${onWire.map((n) => `${n.name} received ${d.wire!.get(n.name)!.arrived} packet(s) carrying it`).join('; ')} though the ${what} is only for ${targets.map((t) => t.name).join(', ')}: the traffic reaches nodes that drop it`,
    )
  return pass(
    ...evidence,
    `only ${targets.map((t) => t.name).join(', ')} got it${d.wire ? ', on the wire and in their output' : ''}`,
  )
}

async function checkBroadcast(ctx: Seed000Context): Promise<ItemOutcome> {
  const d = await operate(ctx, 'bcast', ctx.o.broadcast, new Map(), ctx.nodes)
  ctx.broadcastSeen = d
  const evidence = [`typed on master's stdin: ${d.line}`]
  const missing = ctx.nodes.filter((n) => !d.printed.has(n.name))
  for (const n of ctx.nodes.slice(0, 2))
    if (d.printed.has(n.name)) evidence.push(`${n.name}| ${d.printed.get(n.name)!}`)
  evidence.push(`${d.printed.size}/${ctx.nodes.length} nodes printed it`)
  if (d.wire)
    evidence.push(
      `packets carrying it: ${wireLine(
        d,
        [ctx.master, ...ctx.nodes].map((n) => n.name),
      )}`,
    )
  if (missing.length > 0)
    return fail(
      ...evidence,
      `${missing.map((m) => m.name).join(', ')} never printed it within ${ctx.o.deliverTimeoutMs} ms; last lines:`,
      ...missing.flatMap((m) => m.process.tail(3)),
    )
  return pass(...evidence)
}

async function checkUnicast(ctx: Seed000Context): Promise<ItemOutcome> {
  const to = nodeByName(ctx, ctx.o.unicastTo)
  const index = ctx.nodes.indexOf(to) + 1
  const values = new Map([
    ['to', to.name],
    ['to_host', to.host],
    ['to_index', String(index)],
  ])
  const d = await operate(ctx, 'ucast', ctx.o.unicast, values, [to])
  return onlyTargets(ctx, d, [to], 'unicast')
}

async function checkMulticast(ctx: Seed000Context): Promise<ItemOutcome> {
  const group = ctx.o.group.map((g) => nodeByName(ctx, g))
  const values = new Map([
    ['group', group.map((g) => g.name).join(',')],
    ['group_hosts', group.map((g) => g.host).join(',')],
    ['group_indexes', group.map((g) => String(ctx.nodes.indexOf(g) + 1)).join(',')],
  ])
  const d = await operate(ctx, 'mcast', ctx.o.multicast, values, group)
  return onlyTargets(ctx, d, group, 'multicast')
}

/**
 * Unnecessary traffic of the broadcast: of the packets carrying it that arrived anywhere, the share
 * beyond one per node that had to get it (the analyzer's definition). A spanning tree, which is what
 * distlab's broadcast (Plumtree) prunes its eager links to, delivers with one arrival per node.
 */
async function checkBroadcastTraffic(ctx: Seed000Context): Promise<ItemOutcome> {
  const d = ctx.broadcastSeen ?? (await operate(ctx, 'bcast', ctx.o.broadcast, new Map(), ctx.nodes))
  if (!d.wire) return fail(noWireNote(ctx))
  const everyone = [ctx.master, ...ctx.nodes]
  const arrivals = everyone.reduce((s, n) => s + (d.wire!.get(n.name)?.arrived ?? 0), 0)
  const sent = everyone.reduce((s, n) => s + (d.wire!.get(n.name)?.sent ?? 0), 0)
  const needed = ctx.nodes.length
  const ratio = arrivals > 0 ? Math.max(0, arrivals - needed) / arrivals : 0
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`
  const evidence = [
    `broadcast ${d.token}: ${sent} packet(s) sent, ${arrivals} arrival(s) for ${needed} nodes (${wireLine(
      d,
      everyone.map((n) => n.name),
    )})`,
    `                    arrivals  unnecessary`,
    `  yours             ${String(arrivals).padStart(8)}  ${pct(ratio).padStart(11)}`,
    `  distlab's tree    ${String(needed).padStart(8)}  ${pct(0).padStart(11)}   (a spanning tree: one arrival per node)`,
    `  flooding          ${String(needed + needed * (needed - 1)).padStart(8)}  ${pct((needed * (needed - 1)) / (needed * needed)).padStart(11)}   (master to all, every node to all others)`,
  ]
  if (arrivals < needed)
    return fail(...evidence, `fewer arrivals than nodes: the broadcast did not reach every node`)
  if (ratio > MAX_UNNECESSARY_RATIO)
    return fail(
      ...evidence,
      `${pct(ratio)} of the broadcast's traffic was unnecessary (at most ${pct(MAX_UNNECESSARY_RATIO)} passes)`,
    )
  return pass(...evidence)
}

async function checkCluster(ctx: Seed000Context): Promise<ItemOutcome> {
  const all = [ctx.master, ...ctx.nodes]
  const evidence = [
    all.map((i) => `${i.name} ${i.host}:${ctx.o.port}`).join(', '),
    ctx.docker
      ? `containers on the docker network ${ctx.docker.network}, each with a namespace of its own`
      : ctx.lab.isolated
        ? `each in a network namespace of its own on bridge dlbr${ctx.o.block}`
        : `on loopback addresses (${ctx.lab.note ?? 'no namespaces'})`,
  ]
  const down = all.filter((i) => !i.process.running)
  if (down.length > 0)
    return fail(
      ...evidence,
      ...down.flatMap((i) => [`${i.name} exited (${i.process.exitCode})`, ...i.process.tail(3)]),
    )
  return pass(...evidence, `all ${all.length} programs listen on port ${ctx.o.port} and keep running`)
}

export const SEED000_ITEMS: ReadonlyArray<RubricItem<Seed000Context>> = [
  {
    id: 'cluster',
    title: 'the master and 4 nodes start, each on an address of its own, and listen on their port',
    required: true,
    check: checkCluster,
  },
  {
    id: 'broadcast',
    title: "the master's broadcast reaches every node",
    required: true,
    check: checkBroadcast,
  },
  {
    id: 'unicast',
    title: 'a unicast reaches its one node and no other (in the output and on the wire)',
    required: true,
    check: checkUnicast,
  },
  {
    id: 'multicast',
    title: 'a multicast reaches the group and only the group (in the output and on the wire)',
    required: true,
    check: checkMulticast,
  },
  {
    id: 'broadcast-traffic',
    title: `unnecessary traffic of the broadcast beside distlab's tree (at most ${MAX_UNNECESSARY_RATIO * 100}%; needs root)`,
    required: false,
    check: checkBroadcastTraffic,
  },
]

async function waitBound(i: Seed000Instance, port: number, timeoutMs: number): Promise<void> {
  const ok = await poll(
    () =>
      i.process.pid !== undefined && portBound(i.process.pid, i.host, port)
        ? true
        : i.process.running
          ? undefined
          : false,
    timeoutMs,
    100,
  )
  if (ok !== true) throw notListening(i.name, `${i.host}:${port}`, timeoutMs, i.process)
}

export function resolveSeed000Options(options: Seed000Options): Resolved {
  const docker = options.mode === 'docker'
  if (docker && !options.nodeImage)
    throw new InvalidArgumentError('docker mode needs the node image (--node-image)', 'nodeImage')
  if (!docker && !options.master?.trim())
    throw new InvalidArgumentError('give the master command (--master)', 'master')
  if (!docker && !options.node?.trim())
    throw new InvalidArgumentError('give the node command (--node)', 'node')
  const o: Resolved = {
    nodes: SEED000_NODES,
    port: SEED000_PORT,
    block: 0,
    broadcast: 'broadcast {msg}',
    unicast: 'unicast {to} {msg}',
    multicast: 'multicast {group} {msg}',
    unicastTo: 'node2',
    group: ['node1', 'node3'],
    isolate: 'auto',
    startTimeoutMs: 20_000,
    deliverTimeoutMs: 10_000,
    mode: 'process',
    network: DEFAULT_FOREIGN_NETWORK,
    ...options,
  }
  if (!Number.isInteger(o.nodes) || o.nodes < 3 || o.nodes > 32)
    throw new InvalidArgumentError('nodes must be 3..32', 'nodes')
  const names = new Set(Array.from({ length: o.nodes }, (_, i) => `node${i + 1}`))
  if (!names.has(o.unicastTo))
    throw new InvalidArgumentError(`unicastTo: no node ${o.unicastTo}`, 'unicastTo')
  if (o.group.length === 0 || o.group.length >= o.nodes || o.group.some((g) => !names.has(g)))
    throw new InvalidArgumentError('group: some but not all of the nodes, by name (node1,node3)', 'group')
  for (const [field, t] of [
    ['broadcast', o.broadcast],
    ['unicast', o.unicast],
    ['multicast', o.multicast],
  ] as const)
    if (!t.includes('{msg}') || t.includes('\n'))
      throw new InvalidArgumentError(`${field}: one line with {msg} in it`, field)
  return o
}

export const SEED000: SeedRubric<Seed000Options, Seed000Context> = {
  seed: 'seed000',
  title: 'Small Distributed Project: a master and four nodes; broadcast, unicast, multicast',
  items: SEED000_ITEMS,
  async setup(options) {
    const o = resolveSeed000Options(options)
    if (o.mode === 'docker') return setupSeed000Docker(o)
    const lab = await Lab.open(o.block, o.isolate)
    const started: Seed000Instance[] = []
    try {
      const masterSlot = await lab.slot('master', 0)
      const nodeSlots: LabSlot[] = []
      for (let i = 1; i <= o.nodes; i++) nodeSlots.push(await lab.slot(`node${i}`, i))
      const url = (h: string) => `http://${h}:${o.port}`
      const all = [masterSlot, ...nodeSlots]
      const start = (
        slot: (typeof all)[number],
        index: number,
        command: string,
        env?: Record<string, string>,
      ) => {
        const placeholders = {
          host: slot.host,
          port: o.port,
          name: slot.name,
          index,
          master: `${masterSlot.host}:${o.port}`,
          peers: all
            .filter((s) => s !== slot)
            .map((s) => url(s.host))
            .join(','),
        }
        const nodesList = nodeSlots.map((s) => `${s.host}:${o.port}`).join(',')
        const inst: Seed000Instance = {
          name: slot.name,
          host: slot.host,
          process: new StudentProcess({
            command: fillPlaceholders(command, placeholders).replaceAll('{nodes}', nodesList),
            placeholders,
            env: { DISTLAB_NODES: nodesList, ...env },
            cwd: o.cwd,
            stdin: index === 0,
            wrap: slot.wrap,
          }),
        }
        started.push(inst)
        return inst
      }
      const nodes = nodeSlots.map((s, i) => start(s, i + 1, o.node, o.env))
      for (const n of nodes) await waitBound(n, o.port, o.startTimeoutMs)
      const master = start(masterSlot, 0, o.master, o.masterEnv)
      await waitBound(master, o.port, o.startTimeoutMs)
      let wire: WireCounters | undefined
      if (lab.isolated) {
        wire = new WireCounters(new Map(all.map((s) => [s.name, s.netns!])))
        await wire.start()
      }
      return { o, lab, master, nodes, wire }
    } catch (err) {
      await Promise.all(started.map((s) => s.process.stop()))
      await lab.close()
      throw err
    }
  },
  async teardown(ctx) {
    await Promise.all([ctx.master, ...ctx.nodes].map((i) => i.process.stop()))
    await ctx.lab.close()
    if (ctx.docker)
      await removeContainers(
        [ctx.master, ...ctx.nodes].map((i) => i.name),
        ctx.docker.made ? ctx.docker.network : undefined,
      )
  },
}

/** Docker mode: the nodes, then the master, as attached containers on the network; wire counts by pid. */
async function setupSeed000Docker(o: Resolved): Promise<Seed000Context> {
  const names = ['master', ...Array.from({ length: o.nodes }, (_, i) => `node${i + 1}`)]
  await namesFree(names)
  const made = await ensureNetwork(o.network)
  const lab = new Lab(o.block, false)
  const started: DockerProgram[] = []
  const nodesList = names
    .slice(1)
    .map((n) => `${n}:${o.port}`)
    .join(',')
  const start = async (name: string, index: number) => {
    const master = index === 0
    const placeholders = {
      host: name,
      port: o.port,
      name,
      index,
      master: `master:${o.port}`,
      peers: names
        .filter((n) => n !== name)
        .map((n) => `http://${n}:${o.port}`)
        .join(','),
    }
    const p = await startContainer({
      name,
      image: master ? (o.masterImage ?? o.nodeImage!) : o.nodeImage!,
      command: (master ? o.master : o.node)?.replaceAll('{nodes}', nodesList),
      placeholders,
      env: { DISTLAB_NODES: nodesList, ...(master ? o.masterEnv : o.env) },
      network: o.network,
      stdin: master,
    })
    started.push(p)
    return p
  }
  try {
    const nodes: DockerProgram[] = []
    for (let i = 1; i <= o.nodes; i++) nodes.push(await start(`node${i}`, i))
    for (const n of nodes) await waitContainerBound(n, o.network, o.port, o.startTimeoutMs)
    const master = await start('master', 0)
    await waitContainerBound(master, o.network, o.port, o.startTimeoutMs)
    const all = [master, ...nodes]
    const wire = new WireCounters(new Map(all.map((p) => [p.name, p.pid!])))
    await wire.start()
    const inst = (p: DockerProgram): Seed000Instance => ({ name: p.name, host: p.name, process: p.process })
    return {
      o,
      lab,
      master: inst(master),
      nodes: nodes.map(inst),
      wire,
      docker: { network: o.network, made },
    }
  } catch (err) {
    await Promise.all(started.map((p) => p.process.stop()))
    await removeContainers(names, made ? o.network : undefined)
    throw err
  }
}
