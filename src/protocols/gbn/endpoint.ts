// What the course's three UDP programs (gbnnode, dvnode, cnnode) share as endpoints: one datagram
// socket on a DatagramNetwork, a clock and a logger passed in (a test hands in the memory network
// and a simulated clock), and a count of the datagrams they reject, by reason.
import { EventEmitter } from 'node:events'
import { systemClock, type Clock } from '../../core/clock.js'
import { FrameDecodeError, NotStartedError } from '../../core/errors.js'
import { silentLogger, type Logger } from '../../core/logger.js'
import { udpNetwork, type DatagramNetwork, type DatagramSocket } from './datagram.js'

/** Counts of datagrams rejected, by reason. */
export class RejectCounter {
  readonly byReason = Object.create(null) as Record<string, number>
  total = 0
  add(reason: string): void {
    this.byReason[reason] = (this.byReason[reason] ?? 0) + 1
    this.total++
  }
}

export interface DatagramEndpointComponents {
  /** @default UDP on 127.0.0.1 */
  network?: DatagramNetwork
  clock?: Clock
  logger?: Logger
}

export abstract class DatagramEndpoint<T extends Record<keyof T, unknown[]>> extends EventEmitter<T> {
  protected socket?: DatagramSocket
  protected readonly network: DatagramNetwork
  protected readonly clock: Clock
  protected readonly logger: Logger
  protected readonly rejects = new RejectCounter()

  constructor(
    c: DatagramEndpointComponents,
    /** What the endpoint is, for the NotStartedError: 'dvnode', 'Go-Back-N endpoint'. */
    private readonly what: string,
  ) {
    super()
    this.network = c.network ?? udpNetwork()
    this.clock = c.clock ?? systemClock
    this.logger = c.logger ?? silentLogger
  }

  /** The bound port; valid after start(). */
  get port(): number {
    if (!this.socket) throw this.notStarted()
    return this.socket.port
  }

  protected notStarted(): NotStartedError {
    return new NotStartedError(`${this.what} is not started`)
  }

  /** Counts and logs a datagram that failed to decode or to fit; `fallback` names a non-decode failure. */
  protected reject(err: unknown, fallback: string, detail: Record<string, unknown>): void {
    const reason = err instanceof FrameDecodeError ? err.reason : fallback
    this.rejects.add(reason)
    this.logger.debug({ reason, ...detail }, 'rejected datagram')
  }

  protected rejectStats(): { rejected: number; rejectedByReason: Record<string, number> } {
    return { rejected: this.rejects.total, rejectedByReason: { ...this.rejects.byReason } }
  }
}
