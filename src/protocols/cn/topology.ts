// A whole dv or cn topology on this machine in one process: every router is a real protocol
// instance on its own 127.0.0.1 UDP port (or on the in-memory network, for benches), started
// together, run until the routing has converged, and read back. Convergence means two things:
// nothing is in flight and no table has changed for a while, and every table satisfies the
// Bellman-Ford equations against its neighbours' tables.
import { parseYamlText } from '../../core/yaml.js'
import { systemClock, type Clock } from '../../core/clock.js'
import { SimulationClock } from '../gbn/simclock.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { checkNumber } from '../../core/options.js'
import { memoryNetwork, udpNetwork, type DatagramNetwork, type DatagramSocket } from '../gbn/datagram.js'
import { DvNode, resolveDvNodeOptions, type DvEvent } from '../dv/dv.js'
import { DISTANCE_EPSILON } from '../dv/constants.js'
import type { Route } from '../dv/vector.js'
import { CnNode, resolveCnNodeOptions, type CnEvent } from './cn.js'

export interface TopologyLink {
  /** dv: one end; cn: the node that sends probes. */
  a: number
  /** dv: the other end; cn: the node that receives them and drops with `cost` probability. */
  b: number
  /** dv: the link's cost; cn: the loss rate at the receiving end. */
  cost: number
}

export interface TopologySpec {
  kind: 'dv' | 'cn'
  /** Node ports, in the order given. */
  nodes: number[]
  /** Names for ports, when the file gives them (u, v, w, ...). */
  names: Record<number, string>
  links: TopologyLink[]
  /** The node started with `last`. */
  last: number
}

function fail(field: string, rule: string): never {
  throw new InvalidArgumentError(`topology ${field} ${rule}`, field)
}

/** Reads a topology file's text (YAML). Node references are ports or names from `nodes:`. */
export function parseTopology(text: string): TopologySpec {
  const doc = parseYamlText(text, 'the topology')
  if (!doc || typeof doc !== 'object') fail('file', 'must be a mapping with kind and links')
  const d = doc as Record<string, unknown>
  const kind = d.kind ?? 'dv'
  if (kind !== 'dv' && kind !== 'cn') fail('kind', `must be dv or cn, got ${JSON.stringify(kind)}`)
  const byName = new Map<string, number>()
  const names: Record<number, string> = {}
  const nodes: number[] = []
  const addNode = (port: number) => {
    if (!nodes.includes(port)) nodes.push(port)
  }
  const checkPortValue = (field: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535)
      fail(field, `must be a port 1..65535, got ${JSON.stringify(v)}`)
    return v
  }
  if (d.nodes !== undefined) {
    if (Array.isArray(d.nodes)) d.nodes.forEach((v, i) => addNode(checkPortValue(`nodes[${i}]`, v)))
    else if (typeof d.nodes === 'object' && d.nodes) {
      for (const [name, v] of Object.entries(d.nodes)) {
        const port = checkPortValue(`nodes.${name}`, v)
        if (byName.has(name)) fail(`nodes.${name}`, 'is listed twice')
        byName.set(name, port)
        names[port] = name
        addNode(port)
      }
    } else fail('nodes', 'must be a list of ports or a mapping name: port')
  }
  const ref = (field: string, v: unknown): number => {
    if (typeof v === 'string' && byName.has(v)) return byName.get(v)!
    if (typeof v === 'string' && /^\d+$/.test(v)) v = Number(v)
    const port = checkPortValue(field, v)
    addNode(port)
    return port
  }
  if (!Array.isArray(d.links) || d.links.length === 0) fail('links', 'must be a non-empty list')
  const seen = new Set<string>()
  const links = (d.links as unknown[]).map((l, i): TopologyLink => {
    const field = `links[${i}]`
    let a: unknown, b: unknown, cost: unknown
    if (Array.isArray(l)) [a, b, cost] = l
    else if (l && typeof l === 'object') {
      const o = l as Record<string, unknown>
      a = o.a ?? o.from
      b = o.b ?? o.to
      cost = o.cost ?? o.loss
    } else fail(field, 'must be [a, b, cost] or {a, b, cost}')
    const pa = ref(`${field}.a`, a)
    const pb = ref(`${field}.b`, b)
    if (pa === pb) fail(field, 'joins a node to itself')
    if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0)
      fail(`${field}.cost`, `must be a number >= 0, got ${JSON.stringify(cost)}`)
    if (kind === 'cn' && cost > 1) fail(`${field}.cost`, 'is a loss rate and must be at most 1')
    const key = kind === 'dv' ? [Math.min(pa, pb), Math.max(pa, pb)].join('-') : `${pa}>${pb}`
    if (seen.has(key)) fail(field, 'is listed twice')
    seen.add(key)
    return { a: pa, b: pb, cost }
  })
  const last = d.last === undefined ? nodes.at(-1)! : ref('last', d.last)
  if (!nodes.includes(last)) fail('last', 'must be one of the nodes')
  for (const n of nodes) if (!links.some((l) => l.a === n || l.b === n)) fail('nodes', `${n} has no link`)
  return { kind, nodes, names, links, last }
}

export interface TopologyRunInit {
  /** `udp`: real sockets on 127.0.0.1; `memory`: the in-memory network on a fake clock. @default 'udp' */
  transport?: 'udp' | 'memory'
  /** Bind OS-chosen ports instead of the file's (results still use the file's ports). @default false */
  anyPorts?: boolean
  /** Give up after this long (udp: wall clock; memory: fake time), in milliseconds. @default 30000 */
  timeoutMs?: number
  /** dv: quiet this long before convergence is checked, in milliseconds. @default 300 */
  settleMs?: number
  /** cn: how long to run before reading the tables, in milliseconds. @default 3 × exchangeIntervalMs + 1000 */
  durationMs?: number
  /** @default true */
  poisonedReverse?: boolean
  /** dv: distances at or above this are unreachable. */
  maxDistance?: number
  /** cn: the course's intervals, shortened in tests. */
  exchangeIntervalMs?: number
  statusIntervalMs?: number
  probeIntervalMs?: number
  timeoutMsGbn?: number
  /** Every event of every node, with the file's port of that node. */
  onEvent?: (node: number, e: DvEvent | CnEvent) => void
  random?: () => number
}

export type RouteTable = Record<number, Record<number, { distance: number; nextHop: number }>>

export interface TopologyResult {
  kind: 'dv' | 'cn'
  /** Longest causal chain of messages that changed a table. */
  rounds: number
  converged: boolean
  /** Distance-vector messages sent in all. */
  messages: number
  tables: RouteTable
  /** dv: wall (udp) or fake (memory) milliseconds until the last table change. */
  elapsedMs: number
}

type AnyNode = DvNode | CnNode

/** A running topology: its nodes by file port, to inspect, change links on, and stop. */
export class TopologyRun {
  readonly clock: Clock
  private constructor(
    readonly spec: TopologySpec,
    readonly init: TopologyRunInit,
    readonly nodes: Map<number, AnyNode>,
    /** File port → bound port, and back. */
    readonly toActual: Map<number, number>,
    readonly toFile: Map<number, number>,
    clock: Clock,
    private readonly sockets: DatagramSocket[],
    private readonly startedAt: number,
  ) {
    this.clock = clock
  }

  static async start(spec: TopologySpec, init: TopologyRunInit = {}): Promise<TopologyRun> {
    const transport = init.transport ?? 'udp'
    const clock: Clock = transport === 'memory' ? new SimulationClock(Date.now()) : systemClock
    const base: DatagramNetwork =
      transport === 'memory'
        ? memoryNetwork({ clock, latencyMs: 1, random: init.random })
        : udpNetwork({ recvBufferBytes: 4 * 1024 * 1024 })
    const toActual = new Map<number, number>()
    const sockets: DatagramSocket[] = []
    const prebound = new Map<number, DatagramSocket>()
    try {
      for (const port of spec.nodes) {
        const s = await base.bind(init.anyPorts ? 0 : port)
        sockets.push(s)
        prebound.set(s.port, s)
        toActual.set(port, s.port)
      }
    } catch (err) {
      for (const s of sockets) await s.close()
      throw err
    }
    const toFile = new Map([...toActual].map(([f, a]) => [a, f]))
    // Each node "binds" the socket opened for it above.
    const network: DatagramNetwork = { bind: async (port) => prebound.get(port)! }
    const A = (p: number) => toActual.get(p)!
    const nodes = new Map<number, AnyNode>()
    for (const port of spec.nodes) {
      let node: AnyNode
      if (spec.kind === 'dv') {
        const neighbors = spec.links
          .filter((l) => l.a === port || l.b === port)
          .map((l) => ({ port: A(l.a === port ? l.b : l.a), cost: l.cost }))
        node = new DvNode(
          { network, clock },
          resolveDvNodeOptions({
            port: A(port),
            neighbors,
            poisonedReverse: init.poisonedReverse,
            maxDistance: init.maxDistance,
          }),
        )
      } else {
        node = new CnNode(
          { network, clock, random: init.random },
          resolveCnNodeOptions({
            port: A(port),
            receive: spec.links.filter((l) => l.b === port).map((l) => ({ port: A(l.a), lossRate: l.cost })),
            send: spec.links.filter((l) => l.a === port).map((l) => A(l.b)),
            poisonedReverse: init.poisonedReverse,
            exchangeIntervalMs: init.exchangeIntervalMs,
            statusIntervalMs: init.statusIntervalMs,
            probeIntervalMs: init.probeIntervalMs,
            timeoutMs: init.timeoutMsGbn,
          }),
        )
      }
      if (init.onEvent) {
        const onEvent = init.onEvent
        const F = (p: number) => toFile.get(p) ?? p
        ;(node as EventEmitterLike).on('event', (e) => {
          // Report the file's ports, whatever was bound.
          const m = { ...e } as Record<string, unknown>
          for (const k of ['node', 'from', 'to', 'neighbor'])
            if (typeof m[k] === 'number') m[k] = F(m[k] as number)
          if (e.kind === 'table') m.routes = e.routes.map(([d, r]) => [F(d), { ...r, nextHop: F(r.nextHop) }])
          if (e.kind === 'link-status') m.link = { ...e.link, to: F(e.link.to) }
          onEvent(port, m as unknown as DvEvent | CnEvent)
        })
      }
      nodes.set(port, node)
    }
    const run = new TopologyRun(spec, init, nodes, toActual, toFile, clock, sockets, clock.now())
    for (const port of spec.nodes) if (port !== spec.last) await nodes.get(port)!.start()
    await nodes.get(spec.last)!.start()
    nodes.get(spec.last)!.startExchange()
    return run
  }

  /** Sent and received distance-vector messages over all nodes. */
  private counts(): { sent: number; received: number } {
    let sent = 0
    let received = 0
    for (const n of this.nodes.values()) {
      const s = n.stats()
      sent += s.messagesSent
      received += s.messagesReceived
    }
    return { sent, received }
  }

  /** Longest causal chain so far (dv). */
  rounds(): number {
    let r = 0
    for (const n of this.nodes.values()) if (n instanceof DvNode) r = Math.max(r, n.stats().lastChangeRound)
    return r
  }

  /** Highest round any node has sent (dv); a failure injected now starts after it. */
  maxRoundSent(): number {
    let r = 0
    for (const n of this.nodes.values()) if (n instanceof DvNode) r = Math.max(r, n.stats().maxRoundSent)
    return r
  }

  messages(): number {
    return this.counts().sent
  }

  /** Changes a dv link's cost at one end (which tells the other); Infinity takes it down. */
  setLinkCost(a: number, b: number, cost: number): void {
    const node = this.nodes.get(a)
    if (!(node instanceof DvNode))
      throw new InvalidArgumentError(`${a} is not a dv node of this topology`, 'a')
    node.setLinkCost(this.toActual.get(b)!, cost)
  }

  /** Waits until the run is quiet (dv) or the duration has passed (cn); then reads the tables. */
  async settle(): Promise<TopologyResult> {
    const timeoutMs = checkNumber('timeoutMs', this.init.timeoutMs ?? 30_000, 1)
    const settleMs = checkNumber('settleMs', this.init.settleMs ?? 300, 0)
    const manual = this.clock instanceof SimulationClock ? this.clock : undefined
    if (this.spec.kind === 'cn') {
      const exchange = this.init.exchangeIntervalMs ?? 5000
      const duration = this.init.durationMs ?? 3 * exchange + 1000
      if (manual) manual.advance(duration)
      else await new Promise((r) => setTimeout(r, Math.min(duration, timeoutMs)))
      // Loss rates never stop moving; freeze them and let the tables settle on the last measurement.
      for (const n of this.nodes.values()) if (n instanceof CnNode) n.freeze()
    }
    const quietBegin = this.clock.now()
    let quietSince = this.clock.now()
    let last = this.counts()
    for (;;) {
      if (manual) {
        if (manual.pending() === 0) break
        manual.advance(1)
      } else await new Promise((r) => setTimeout(r, 20))
      const c = this.counts()
      if (c.sent !== last.sent || c.received !== last.received || c.sent !== c.received)
        quietSince = this.clock.now()
      last = c
      if (!manual && this.clock.now() - quietSince >= settleMs) break
      if (this.clock.now() - quietBegin > timeoutMs) return this.result(false)
    }
    return this.result(true)
  }

  private result(quiet: boolean): TopologyResult {
    const tables: RouteTable = {}
    let lastChange = this.startedAt
    for (const [port, node] of this.nodes) {
      const t: Record<number, { distance: number; nextHop: number }> = {}
      for (const [dest, r] of node.routes())
        t[this.toFile.get(dest)!] = { distance: this.tidy(r.distance), nextHop: this.toFile.get(r.nextHop)! }
      tables[port] = t
      if (node instanceof DvNode) lastChange = Math.max(lastChange, node.stats().lastChangeAt)
    }
    return {
      kind: this.spec.kind,
      rounds:
        this.spec.kind === 'dv'
          ? this.rounds()
          : Math.max(...[...this.nodes.values()].map((n) => (n instanceof CnNode ? n.stats().exchanges : 0))),
      converged: quiet && this.consistent(),
      messages: this.messages(),
      tables,
      elapsedMs: lastChange - this.startedAt,
    }
  }

  /** Every route satisfies D_x(y) = min_v c(x,v) + D_v(y) over x's current link costs and its neighbours' tables. */
  consistent(): boolean {
    const routesOf = new Map<number, Map<number, Route>>()
    for (const node of this.nodes.values()) routesOf.set(node.port, new Map(node.routes()))
    for (const node of this.nodes.values()) {
      const self = node.port
      const mine = routesOf.get(self)!
      for (const dest of routesOf.keys()) {
        if (dest === self) continue
        let best = Number.POSITIVE_INFINITY
        for (const [v, c] of node.links()) {
          if (!Number.isFinite(c)) continue
          const dv = v === dest ? 0 : routesOf.get(v)?.get(dest)?.distance
          if (dv !== undefined) best = Math.min(best, this.roundCost(c + dv))
        }
        const have = mine.get(dest)?.distance ?? Number.POSITIVE_INFINITY
        if (Number.isFinite(best) !== Number.isFinite(have)) return false
        if (Number.isFinite(best) && Math.abs(best - this.roundCost(have)) > 1e-6 + DISTANCE_EPSILON)
          return false
      }
    }
    return true
  }

  /** Distances without floating-point noise: cn's two decimals, else nine. */
  private tidy(x: number): number {
    const f = this.spec.kind === 'cn' ? 100 : 1e9
    return Math.round(x * f) / f
  }

  private roundCost(x: number): number {
    return this.spec.kind === 'cn' ? Math.round(x * 100) / 100 : x
  }

  async stop(): Promise<void> {
    for (const n of this.nodes.values()) await n.stop()
    for (const s of this.sockets) await s.close()
  }
}

interface EventEmitterLike {
  on(event: 'event', fn: (e: DvEvent | CnEvent) => void): void
}

/** Starts a topology, waits for it to converge, reads the tables and stops it. */
export async function runTopology(spec: TopologySpec, init: TopologyRunInit = {}): Promise<TopologyResult> {
  const run = await TopologyRun.start(spec, init)
  try {
    return await run.settle()
  } finally {
    await run.stop()
  }
}
