// dvnode (seed 004): one router of distributed Bellman-Ford over UDP on 127.0.0.1, named by its
// port. Nothing is sent until the exchange starts — at the node started with `last`, or at the
// first vector a node receives — and from then on a node sends its vector to every neighbour
// whenever its table changes. Every message carries a round number (one more than the message
// that caused it), so the causal depth of convergence can be measured.
import type { TimerHandle } from '../../core/clock.js'
import { InvalidArgumentError, UnknownPeerError } from '../../core/errors.js'
import { checkNumber, checkPort } from '../../core/options.js'
import type { DatagramEndpointComponents } from '../gbn/endpoint.js'
import { encodePacket, type Packet } from '../gbn/wire.js'
import { decodeCost, decodeVector, encodeCost, encodeVector } from './wire.js'
import {
  DEFAULT_MAX_DISTANCE,
  DEFAULT_NEIGHBOR_TIMEOUT_MS,
  DEFAULT_REFRESH_INTERVAL_MS,
} from './constants.js'
import { checkListedPort, DistanceVectorRouter, type RouterEvent } from './router.js'
import { DistanceVectorTable } from './vector.js'

export interface DvNeighbor {
  port: number
  /** c(self, neighbour): any non-negative number (the course uses loss rates such as 0.1). */
  cost: number
}

export interface DvNodeInit {
  /** This router's UDP port, which is also its name. 0 lets the OS choose. */
  port: number
  neighbors: DvNeighbor[]
  /** Start the exchange as soon as the node is up (the course's `last`). @default false */
  last?: boolean
  /** Advertise routes through a neighbour back to it as infinite. @default true */
  poisonedReverse?: boolean
  /** Distances at or above this are unreachable. @default 1000 */
  maxDistance?: number
  /** Also resend the vector this often, in milliseconds; 0 = only on change (the course). @default 0 */
  refreshIntervalMs?: number
  /** A neighbour not heard from for this long is down (cost Infinity); 0 = never. @default 0 */
  neighborTimeoutMs?: number
}

export interface DvNodeOptions {
  readonly port: number
  readonly neighbors: readonly DvNeighbor[]
  readonly last: boolean
  readonly poisonedReverse: boolean
  readonly maxDistance: number
  readonly refreshIntervalMs: number
  readonly neighborTimeoutMs: number
}

export function checkCost(field: string, cost: unknown): number {
  if (cost === Number.POSITIVE_INFINITY) return cost
  return checkNumber(field, cost, 0)
}

export function resolveDvNodeOptions(init: DvNodeInit): DvNodeOptions {
  const port = checkPort('port', init.port)
  if (!Array.isArray(init.neighbors)) throw new InvalidArgumentError('neighbors must be a list', 'neighbors')
  const seen = new Set<number>()
  const neighbors = init.neighbors.map((n, i) => {
    const p = checkListedPort(`neighbors[${i}].port`, 'neighbors', n.port, seen)
    if (p === port && port !== 0)
      throw new InvalidArgumentError(`neighbors[${i}].port is this node's own port`, 'neighbors')
    return Object.freeze({ port: p, cost: checkCost(`neighbors[${i}].cost`, n.cost) })
  })
  const refreshIntervalMs = checkNumber(
    'refreshIntervalMs',
    init.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS,
    0,
  )
  const neighborTimeoutMs = checkNumber(
    'neighborTimeoutMs',
    init.neighborTimeoutMs ?? DEFAULT_NEIGHBOR_TIMEOUT_MS,
    0,
  )
  if (neighborTimeoutMs > 0 && (refreshIntervalMs === 0 || neighborTimeoutMs <= refreshIntervalMs))
    throw new InvalidArgumentError(
      'neighborTimeoutMs needs refreshIntervalMs > 0 and smaller than it',
      'neighborTimeoutMs',
    )
  return Object.freeze({
    port,
    neighbors: Object.freeze(neighbors),
    last: init.last ?? false,
    poisonedReverse: init.poisonedReverse ?? true,
    maxDistance: checkNumber('maxDistance', init.maxDistance ?? DEFAULT_MAX_DISTANCE, 0),
    refreshIntervalMs,
    neighborTimeoutMs,
  })
}

export type DvNodeComponents = DatagramEndpointComponents

/** Why a link's cost changed: a command here, the neighbour's word, its silence, its return. */
export type LinkChangeReason = 'command' | 'peer' | 'timeout' | 'heard'

export type DvEvent =
  | RouterEvent
  | { kind: 'link'; at: number; node: number; neighbor: number; cost: number; reason: LinkChangeReason }

export interface DvStats {
  messagesSent: number
  messagesReceived: number
  rejected: number
  rejectedByReason: Record<string, number>
  /** Round of the message that last changed this node's table (0: only the initial table). */
  lastChangeRound: number
  /** Highest round this node has sent. */
  maxRoundSent: number
  tableChanges: number
  /** When the table last changed, by the node's clock. */
  lastChangeAt: number
}

export class DvNode extends DistanceVectorRouter<DvEvent> {
  private refreshTimer?: TimerHandle
  private advertiseTimer?: TimerHandle
  private pendingRound = 0
  private readonly lastHeard = new Map<number, number>()
  /** Costs as configured or commanded, to restore when a timed-out neighbour speaks again. */
  private readonly configuredCost = new Map<number, number>()
  private readonly timedOut = new Set<number>()
  protected readonly s = {
    messagesSent: 0,
    messagesReceived: 0,
    lastChangeRound: 0,
    maxRoundSent: 0,
    tableChanges: 0,
    lastChangeAt: 0,
  }

  constructor(
    c: DvNodeComponents,
    readonly options: DvNodeOptions,
  ) {
    super(c, 'dvnode')
  }

  async start(): Promise<void> {
    if (this.socket) return
    const socket = await this.network.bind(this.options.port)
    this.socket = socket
    const table = new DistanceVectorTable(socket.port, this.options)
    for (const n of this.options.neighbors) {
      table.links.set(n.port, n.cost)
      this.configuredCost.set(n.port, n.cost)
    }
    table.recompute()
    this.table = table
    this.s.lastChangeAt = this.clock.now()
    socket.setHandler((bytes, from) => this.onDatagram(bytes, from))
    this.emitTable(this.table!.reachable())
    if (this.options.last) this.startExchange()
  }

  async stop(): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    if (this.refreshTimer) this.clock.clearTimeout(this.refreshTimer)
    if (this.advertiseTimer) this.clock.clearTimeout(this.advertiseTimer)
    this.refreshTimer = this.advertiseTimer = undefined
    if (socket) await socket.close()
  }

  /** Starts the exchange now (what `last` does at start). */
  startExchange(): void {
    if (this.exchanging || !this.socket) return
    this.exchanging = true
    const now = this.clock.now()
    for (const n of this.options.neighbors) this.lastHeard.set(n.port, now)
    this.advertise(1)
    this.scheduleRefresh()
  }

  /** Changes c(self, neighbour) here and at the neighbour; Infinity takes the link down. */
  setLinkCost(neighbor: number, cost: number): void {
    const table = this.requireTable()
    if (!table.links.has(neighbor))
      throw new UnknownPeerError(`${neighbor} is not a neighbour of node ${table.self}`)
    checkCost('cost', cost)
    this.configuredCost.set(neighbor, cost)
    this.timedOut.delete(neighbor)
    this.sendTo(neighbor, encodePacket({ type: 'cost', seq: this.round + 1, payload: encodeCost(cost) }))
    this.linkChanged(neighbor, cost, 'command')
    this.applyLink(neighbor, cost, this.round + 1)
    if (!this.exchanging) this.startExchange()
  }

  stats(): DvStats {
    return { ...this.s, ...this.rejectStats() }
  }

  private linkChanged(neighbor: number, cost: number, reason: LinkChangeReason): void {
    const at = this.clock.now()
    this.emit('event', { kind: 'link', at, node: this.table!.self, neighbor, cost, reason })
  }

  private applyLink(neighbor: number, cost: number, round: number): void {
    if (this.table!.setLink(neighbor, cost)) this.changed(round)
  }

  private changed(round: number): void {
    this.s.tableChanges++
    this.s.lastChangeRound = Math.max(this.s.lastChangeRound, round)
    this.s.lastChangeAt = this.clock.now()
    this.emitTable(this.table!.reachable())
    if (this.exchanging) this.scheduleAdvertise(round + 1)
  }

  /**
   * Triggered updates are coalesced: every change handled in the same turn of the event loop goes
   * out in one vector per neighbour (RFC 2453 §3.10.1 damps triggered updates for the same reason).
   */
  private scheduleAdvertise(round: number): void {
    this.pendingRound = Math.max(this.pendingRound, round)
    if (this.advertiseTimer) return
    this.advertiseTimer = this.clock.setTimeout(() => {
      this.advertiseTimer = undefined
      const r = this.pendingRound
      this.pendingRound = 0
      if (this.socket) this.advertise(r)
    }, 0)
  }

  private advertise(round: number): void {
    const table = this.table!
    this.round = Math.max(this.round, round)
    for (const [port, cost] of table.links) {
      // A link taken down by command carries nothing; a timed-out one is still tried, to notice its return.
      if (!Number.isFinite(cost) && !this.timedOut.has(port)) continue
      const payload = encodeVector({ entries: table.advertisementFor(port) })
      if (this.sendTo(port, encodePacket({ type: 'dv', seq: round, payload }))) this.vectorSent(port)
    }
    this.s.maxRoundSent = Math.max(this.s.maxRoundSent, round)
  }

  private scheduleRefresh(): void {
    const every = this.options.refreshIntervalMs
    if (every <= 0 || !this.socket) return
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = undefined
      if (!this.socket) return
      this.checkNeighbors()
      this.advertise(this.round)
      this.scheduleRefresh()
    }, every)
  }

  private checkNeighbors(): void {
    const limit = this.options.neighborTimeoutMs
    if (limit <= 0) return
    const now = this.clock.now()
    for (const [port, heard] of this.lastHeard) {
      if (this.timedOut.has(port) || now - heard < limit) continue
      if (!Number.isFinite(this.configuredCost.get(port) ?? 0)) continue
      this.timedOut.add(port)
      this.linkChanged(port, Infinity, 'timeout')
      this.table!.neighborVectors.delete(port)
      this.applyLink(port, Number.POSITIVE_INFINITY, this.round + 1)
    }
  }

  protected dispatch(p: Packet, from: number): void {
    if (p.type === 'dv') this.onVector(p, from, decodeVector(p.payload).entries)
    else if (p.type === 'cost') this.onCost(p, from, decodeCost(p.payload))
    else this.rejects.add('unexpected_type')
  }

  private heard(from: number): void {
    this.lastHeard.set(from, this.clock.now())
    if (this.timedOut.delete(from)) {
      const cost = this.configuredCost.get(from) ?? Number.POSITIVE_INFINITY
      this.linkChanged(from, cost, 'heard')
      this.applyLink(from, cost, this.round + 1)
    }
  }

  private onVector(p: Packet, from: number, entries: Array<[number, number]>): void {
    const table = this.table!
    this.vectorReceived(from)
    this.heard(from)
    const changed = table.receive(from, entries)
    if (!this.exchanging) {
      // The first vector a node hears starts its part of the exchange, changed or not.
      this.exchanging = true
      const now = this.clock.now()
      for (const n of this.options.neighbors) if (!this.lastHeard.has(n.port)) this.lastHeard.set(n.port, now)
      if (changed) {
        this.s.tableChanges++
        this.s.lastChangeRound = Math.max(this.s.lastChangeRound, p.seq)
        this.s.lastChangeAt = this.clock.now()
        this.emitTable(this.table!.reachable())
      }
      this.scheduleAdvertise(p.seq + 1)
      this.scheduleRefresh()
      return
    }
    if (changed) this.changed(p.seq)
  }

  private onCost(p: Packet, from: number, cost: number): void {
    this.heard(from)
    this.configuredCost.set(from, cost)
    this.linkChanged(from, cost, 'peer')
    const wasExchanging = this.exchanging
    this.exchanging = true
    this.applyLink(from, cost, p.seq)
    if (!wasExchanging) {
      this.scheduleAdvertise(p.seq + 1)
      this.scheduleRefresh()
    }
  }
}

export function dvNode(init: DvNodeInit): (c?: DvNodeComponents) => DvNode {
  const options = resolveDvNodeOptions(init)
  return (c = {}) => new DvNode(c, options)
}
