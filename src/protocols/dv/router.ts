// What dvnode and cnnode share as routers: a DistanceVectorTable kept on one datagram socket, the
// routes and links it shows, the course's table and message events, and the guard in front of the
// table: a datagram from a port that is not a neighbour, or that does not decode, is counted and
// dropped.
import { InvalidArgumentError } from '../../core/errors.js'
import { checkInteger } from '../../core/options.js'
import { DatagramEndpoint } from '../gbn/endpoint.js'
import { decodePacket, type Packet } from '../gbn/wire.js'
import type { DistanceVectorTable, Route } from './vector.js'

/** The events every router emits (the course's routing-table and message lines). */
export type RouterEvent =
  | { kind: 'table'; at: number; node: number; routes: Array<[number, Route]> }
  | { kind: 'message-sent'; at: number; from: number; to: number }
  | { kind: 'message-received'; at: number; from: number; to: number }

/** A neighbour's port from a list in the options: an integer port, listed once (`seen` holds the others). */
export function checkListedPort(field: string, list: string, value: unknown, seen: Set<number>): number {
  const port = checkInteger(field, value, 1, 65535)
  if (seen.has(port)) throw new InvalidArgumentError(`${field} ${port} is listed twice`, list)
  seen.add(port)
  return port
}

export abstract class DistanceVectorRouter<E extends { kind: string }> extends DatagramEndpoint<{
  event: [E | RouterEvent]
}> {
  protected table?: DistanceVectorTable
  /** Whether this router takes part in the exchange yet (`last`, or a vector heard). */
  protected exchanging = false
  /** The highest round this router has sent or taken part in. */
  protected round = 0
  protected abstract readonly s: { messagesSent: number; messagesReceived: number }

  /** Reachable routes, by destination port. */
  routes(): Array<[number, Route]> {
    return this.requireTable().reachable()
  }

  /** The link costs as this node sees them now. */
  links(): Array<[number, number]> {
    return [...this.requireTable().links]
  }

  /** The last vector each neighbour sent (for consistency checks). */
  neighborVector(port: number): Map<number, number> | undefined {
    return this.table?.neighborVectors.get(port)
  }

  protected requireTable(): DistanceVectorTable {
    if (!this.table) throw this.notStarted()
    return this.table
  }

  /** Handles one decoded packet from a neighbour; throws (or counts) what it cannot take. */
  protected abstract dispatch(p: Packet, from: number): void

  protected onDatagram(bytes: Buffer, from: number): void {
    const table = this.table
    if (!table) return
    if (!table.links.has(from)) {
      this.rejects.add('unknown_peer')
      return
    }
    try {
      this.dispatch(decodePacket(bytes), from)
    } catch (err) {
      this.reject(err, 'protocol_error', { from })
    }
  }

  protected emitTable(routes: Array<[number, Route]>): void {
    this.emit('event', { kind: 'table', at: this.clock.now(), node: this.table!.self, routes })
  }

  /** Sends bytes to a neighbour, fire and forget; false when the socket is gone or the send threw. */
  protected sendTo(port: number, bytes: Buffer): boolean {
    const socket = this.socket
    if (!socket) return false
    try {
      socket.send(port, bytes)
    } catch {
      return false
    }
    return true
  }

  protected vectorSent(to: number): void {
    this.s.messagesSent++
    this.emit('event', { kind: 'message-sent', at: this.clock.now(), from: this.table!.self, to })
  }

  protected vectorReceived(from: number): void {
    this.s.messagesReceived++
    this.emit('event', { kind: 'message-received', at: this.clock.now(), from, to: this.table!.self })
  }
}
