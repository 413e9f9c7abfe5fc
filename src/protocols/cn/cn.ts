// cnnode (seed 004): distance-vector routing whose link costs are loss rates that Go-Back-N probes
// measure. A node probes its `send` neighbours continuously (window 5, 500 ms timeout) and drops
// the data packets of its `receive` neighbours with their configured probability (ACKs are never
// dropped). The probing side measures the loss rate exactly — every ACK reports how many
// transmissions arrived — and tells the other side in its distance vectors. Tables are recomputed
// and exchanged every 5 s; a node starts when it is `last` or hears its first vector.
import type { TimerHandle } from '../../core/clock.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger, checkNumber, checkPort, checkProbability } from '../../core/options.js'
import type { DatagramEndpointComponents } from '../gbn/endpoint.js'
import { LossEmulator } from '../gbn/loss.js'
import { encodePacket, type Packet } from '../gbn/wire.js'
import { GbnReceiver } from '../gbn/receiver.js'
import { GbnSender } from '../gbn/sender.js'
import { decodeVector, encodeVector } from '../dv/wire.js'
import { DEFAULT_MAX_DISTANCE } from '../dv/constants.js'
import { checkListedPort, DistanceVectorRouter, type RouterEvent } from '../dv/router.js'
import { DistanceVectorTable, type Route } from '../dv/vector.js'
import { PROBE_PAYLOAD } from './wire.js'
import {
  DISTANCE_DECIMALS,
  EXCHANGE_INTERVAL_MS,
  PROBE_INTERVAL_MS,
  PROBE_TIMEOUT_MS,
  PROBE_WINDOW_PACKETS,
  STATUS_INTERVAL_MS,
} from './constants.js'

export interface CnNodeInit {
  /** This node's UDP port, which is also its name. */
  port: number
  /** Neighbours that probe us, with the probability we drop their data packets. */
  receive?: Array<{ port: number; lossRate: number }>
  /** Neighbours we probe. */
  send?: number[]
  /** Start at once (the course's `last`). @default false */
  last?: boolean
  /** Go-Back-N window on probe links, in packets. @default 5 */
  window?: number
  /** Probe retransmission timeout, in milliseconds. @default 500 */
  timeoutMs?: number
  /** At most one new probe per link this often, in milliseconds. @default 10 */
  probeIntervalMs?: number
  /** Print each send link's loss rate this often, in milliseconds. @default 1000 */
  statusIntervalMs?: number
  /** Recompute and exchange tables this often, in milliseconds. @default 5000 */
  exchangeIntervalMs?: number
  /** Decimals a link cost is rounded to. @default 2 */
  decimals?: number
  /** @default true */
  poisonedReverse?: boolean
}

export interface CnNodeOptions {
  readonly port: number
  readonly receive: ReadonlyArray<{ readonly port: number; readonly lossRate: number }>
  readonly send: readonly number[]
  readonly last: boolean
  readonly window: number
  readonly timeoutMs: number
  readonly probeIntervalMs: number
  readonly statusIntervalMs: number
  readonly exchangeIntervalMs: number
  readonly decimals: number
  readonly poisonedReverse: boolean
}

export function resolveCnNodeOptions(init: CnNodeInit): CnNodeOptions {
  const port = checkPort('port', init.port)
  const seen = new Set<number>()
  const receive = (init.receive ?? []).map((r, i) => {
    const p = checkListedPort(`receive[${i}].port`, 'receive', r.port, seen)
    return Object.freeze({ port: p, lossRate: checkProbability(`receive[${i}].lossRate`, r.lossRate) })
  })
  const sendSeen = new Set<number>()
  const send = (init.send ?? []).map((p, i) => checkListedPort(`send[${i}]`, 'send', p, sendSeen))
  for (const p of [...seen, ...sendSeen])
    if (p === port) throw new InvalidArgumentError(`${p} is this node's own port`, 'send')
  return Object.freeze({
    port,
    receive: Object.freeze(receive),
    send: Object.freeze(send),
    last: init.last ?? false,
    window: checkInteger('window', init.window ?? PROBE_WINDOW_PACKETS, 1, 65_536),
    timeoutMs: checkNumber('timeoutMs', init.timeoutMs ?? PROBE_TIMEOUT_MS, 1),
    probeIntervalMs: checkNumber('probeIntervalMs', init.probeIntervalMs ?? PROBE_INTERVAL_MS, 0),
    statusIntervalMs: checkNumber('statusIntervalMs', init.statusIntervalMs ?? STATUS_INTERVAL_MS, 1),
    exchangeIntervalMs: checkNumber('exchangeIntervalMs', init.exchangeIntervalMs ?? EXCHANGE_INTERVAL_MS, 1),
    decimals: checkInteger('decimals', init.decimals ?? DISTANCE_DECIMALS, 0, 12),
    poisonedReverse: init.poisonedReverse ?? true,
  })
}

export interface CnNodeComponents extends DatagramEndpointComponents {
  random?: () => number
}

export interface LinkStatus {
  to: number
  /** Probe transmissions whose fate the receiver has reported. */
  sent: number
  lost: number
  lossRate: number
}

export type CnEvent = RouterEvent | { kind: 'link-status'; at: number; node: number; link: LinkStatus }

export interface CnStats {
  messagesSent: number
  messagesReceived: number
  exchanges: number
  rejected: number
  rejectedByReason: Record<string, number>
  probesSent: number
  probesDropped: number
}

export class CnNode extends DistanceVectorRouter<CnEvent> {
  private readonly random: () => number
  private readonly senders = new Map<number, GbnSender>()
  private readonly receivers = new Map<number, { receiver: GbnReceiver; loss: LossEmulator }>()
  private statusTimer?: TimerHandle
  private exchangeTimer?: TimerHandle
  private frozen = false
  private probesDropped = 0
  protected readonly s = { messagesSent: 0, messagesReceived: 0, exchanges: 0 }

  constructor(
    c: CnNodeComponents,
    readonly options: CnNodeOptions,
  ) {
    super(c, 'cnnode')
    this.random = c.random ?? Math.random
  }

  async start(): Promise<void> {
    if (this.socket) return
    const socket = await this.network.bind(this.options.port)
    this.socket = socket
    const table = new DistanceVectorTable(socket.port, {
      poisonedReverse: this.options.poisonedReverse,
      maxDistance: DEFAULT_MAX_DISTANCE,
    })
    // Every link starts at cost 0 until probes measure it (the course's rule).
    for (const r of this.options.receive) table.links.set(r.port, 0)
    for (const p of this.options.send) table.links.set(p, 0)
    table.recompute()
    this.table = table
    const transmitTo = (port: number) => (bytes: Buffer) => void this.sendTo(port, bytes)
    for (const p of this.options.send)
      this.senders.set(
        p,
        new GbnSender({
          window: this.options.window,
          timeoutMs: this.options.timeoutMs,
          clock: this.clock,
          transmit: transmitTo(p),
          probe: { next: () => PROBE_PAYLOAD, intervalMs: this.options.probeIntervalMs },
        }),
      )
    for (const r of this.options.receive)
      this.receivers.set(r.port, {
        receiver: new GbnReceiver({
          clock: this.clock,
          transmit: transmitTo(r.port),
          maxMessageBytes: 1,
          reassemble: false,
        }),
        loss: new LossEmulator({ mode: 'probability', p: r.lossRate }, this.random),
      })
    socket.setHandler((bytes, from) => this.onDatagram(bytes, from))
    this.emitRoundedTable()
    if (this.options.last) this.startExchange()
  }

  async stop(): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    for (const s of this.senders.values()) s.stop()
    if (this.statusTimer) this.clock.clearTimeout(this.statusTimer)
    if (this.exchangeTimer) this.clock.clearTimeout(this.exchangeTimer)
    this.statusTimer = this.exchangeTimer = undefined
    if (socket) await socket.close()
  }

  /** Starts probing and the periodic exchange now (what `last` does at start). */
  startExchange(): void {
    if (this.exchanging || !this.socket) return
    this.exchanging = true
    this.advertise(1)
    for (const s of this.senders.values()) s.kick()
    this.scheduleStatus()
    this.scheduleExchange()
  }

  /** Loss measured on each send link so far. */
  linkStatus(): LinkStatus[] {
    return [...this.senders].map(([to, s]) => {
      const lost = s.txKnown - s.txReceived
      return { to, sent: s.txKnown, lost, lossRate: s.txKnown === 0 ? 0 : lost / s.txKnown }
    })
  }

  stats(): CnStats {
    let probesSent = 0
    for (const s of this.senders.values()) probesSent += s.transmissions
    return {
      ...this.s,
      ...this.rejectStats(),
      probesSent,
      probesDropped: this.probesDropped,
    }
  }

  private round2(x: number): number {
    const f = 10 ** this.options.decimals
    return Math.round(x * f) / f
  }

  /** The table as the course prints it: distances rounded to `decimals`. */
  private emitRoundedTable(): void {
    const routes = this.table!.reachable().map(([d, r]): [number, Route] => [
      d,
      { distance: this.round2(r.distance), nextHop: r.nextHop },
    ])
    this.emitTable(routes)
  }

  private advertise(round: number): void {
    const table = this.table!
    if (!this.socket) return
    this.round = Math.max(this.round, round)
    for (const port of table.links.keys()) {
      // The probing side of a link owns its cost and tells the other side.
      const linkCost = this.senders.has(port) ? table.links.get(port) : undefined
      const payload = encodeVector({ linkCost, entries: table.advertisementFor(port) })
      if (this.sendTo(port, encodePacket({ type: 'dv', seq: round, payload }))) this.vectorSent(port)
    }
  }

  private scheduleStatus(): void {
    this.statusTimer = this.clock.setTimeout(() => {
      this.statusTimer = undefined
      if (!this.socket) return
      const at = this.clock.now()
      for (const link of this.linkStatus())
        this.emit('event', { kind: 'link-status', at, node: this.table!.self, link })
      this.scheduleStatus()
    }, this.options.statusIntervalMs)
  }

  private scheduleExchange(): void {
    this.exchangeTimer = this.clock.setTimeout(() => {
      this.exchangeTimer = undefined
      if (!this.socket) return
      this.s.exchanges++
      const table = this.table!
      for (const link of this.linkStatus()) table.links.set(link.to, this.round2(link.lossRate))
      if (table.recompute()) this.emitRoundedTable()
      this.advertise(this.round + 1)
      this.scheduleExchange()
    }, this.options.exchangeIntervalMs)
  }

  protected dispatch(p: Packet, from: number): void {
    if (p.type === 'data') this.onData(p, from)
    else if (p.type === 'ack') this.onAck(p, from)
    else if (p.type === 'dv') this.onVector(p, from)
    else this.rejects.add('unexpected_type')
  }

  private onData(p: Packet, from: number): void {
    const r = this.receivers.get(from)
    if (!r) return this.rejects.add('unexpected_type')
    if (r.loss.shouldDrop()) {
      this.probesDropped++
      r.receiver.dataDiscarded(p)
    } else r.receiver.handleData(p)
  }

  private onAck(p: Packet, from: number): void {
    const s = this.senders.get(from)
    if (!s) return this.rejects.add('unexpected_type')
    s.handleAck(p)
  }

  private onVector(p: Packet, from: number): void {
    const table = this.table!
    const m = decodeVector(p.payload)
    this.vectorReceived(from)
    // The neighbour probes this link: its measurement is the link's cost.
    if (m.linkCost !== undefined && !this.senders.has(from)) table.links.set(from, this.round2(m.linkCost))
    const changed = table.receive(from, m.entries)
    if (changed) this.emitRoundedTable()
    if (!this.exchanging) this.startExchange()
    else if (this.frozen && changed) this.advertise(p.seq + 1)
  }

  /**
   * Stops probing and the periodic exchange, fixes each link's cost at its last measurement, and
   * from then on sends vectors only when the table changes, so the tables converge on those costs.
   */
  freeze(): void {
    if (this.frozen || !this.socket) return
    this.frozen = true
    for (const s of this.senders.values()) s.stop()
    if (this.statusTimer) this.clock.clearTimeout(this.statusTimer)
    if (this.exchangeTimer) this.clock.clearTimeout(this.exchangeTimer)
    this.statusTimer = this.exchangeTimer = undefined
    const table = this.table!
    for (const link of this.linkStatus()) table.links.set(link.to, this.round2(link.lossRate))
    if (table.recompute()) this.emitRoundedTable()
    this.exchanging = true
    this.advertise(this.round + 1)
  }
}

export function cnNode(init: CnNodeInit): (c?: CnNodeComponents) => CnNode {
  const options = resolveCnNodeOptions(init)
  return (c = {}) => new CnNode(c, options)
}
