// Reliable unicast's options: what a user may set, with their defaults (constants.ts), checked once.
import { checkInteger, checkNumber } from '../../core/options.js'
import {
  DELIVERED_LOG_MESSAGES,
  INITIAL_RETRANSMIT_TIMEOUT_MS,
  MAX_DATA_FRAME_BYTES,
  MAX_RECEIVE_SENDERS,
  MAX_RETRANSMIT_TIMEOUT_MS,
  MIN_RETRANSMIT_TIMEOUT_MS,
  RECEIVE_BUFFER_BYTES_PER_SENDER,
  RECEIVE_BUFFER_IDLE_MS,
  RECEIVE_BUFFER_MESSAGES,
  RECEIVE_BUFFER_TOTAL_BYTES,
  SEND_TIMEOUT_MS,
  SEND_WINDOW_MESSAGES,
} from './constants.js'

export interface UnicastInit {
  /** Retransmission timeout before a round trip was measured, in ms. @default 200 */
  initialRetransmitTimeoutMs?: number
  /** Floor of the retransmission timeout, in ms. @default 30 */
  minRetransmitTimeoutMs?: number
  /** Ceiling of the retransmission timeout after backoff, in ms. @default 4000 */
  maxRetransmitTimeoutMs?: number
  /** Time a message may stay unacknowledged before send() fails, in ms. @default 30000 */
  sendTimeoutMs?: number
  /** Messages in flight per peer. @default 64 */
  windowMessages?: number
  /** Out-of-order messages buffered per sender. @default 256 */
  receiveBufferMessages?: number
  /** Delivered messages kept for reading back. @default 1000 */
  deliveredLogMessages?: number
  /** Senders a receiver keeps state for (least recently heard evicted first). @default 4096 */
  maxReceiveSenders?: number
  /** Out-of-order bytes buffered per sender. @default 4194304 (4 MiB) */
  receiveBufferBytes?: number
  /** Out-of-order bytes buffered for all senders together. @default 16777216 (16 MiB) */
  receiveBufferTotalBytes?: number
  /** A sender's buffered messages are freed after it was silent this long, in ms. @default 60000 */
  receiveIdleMs?: number
}

export type UnicastOptions = Readonly<Required<UnicastInit>>

export function resolveUnicastOptions(init: UnicastInit = {}): UnicastOptions {
  const maxRto = checkNumber(
    'maxRetransmitTimeoutMs',
    init.maxRetransmitTimeoutMs ?? MAX_RETRANSMIT_TIMEOUT_MS,
    1,
    600_000,
  )
  return Object.freeze({
    initialRetransmitTimeoutMs: checkNumber(
      'initialRetransmitTimeoutMs',
      init.initialRetransmitTimeoutMs ?? INITIAL_RETRANSMIT_TIMEOUT_MS,
      1,
      maxRto,
    ),
    minRetransmitTimeoutMs: checkNumber(
      'minRetransmitTimeoutMs',
      init.minRetransmitTimeoutMs ?? MIN_RETRANSMIT_TIMEOUT_MS,
      1,
      maxRto,
    ),
    maxRetransmitTimeoutMs: maxRto,
    sendTimeoutMs: checkNumber('sendTimeoutMs', init.sendTimeoutMs ?? SEND_TIMEOUT_MS, 1, 3_600_000),
    windowMessages: checkInteger('windowMessages', init.windowMessages ?? SEND_WINDOW_MESSAGES, 1, 10_000),
    receiveBufferMessages: checkInteger(
      'receiveBufferMessages',
      init.receiveBufferMessages ?? RECEIVE_BUFFER_MESSAGES,
      1,
      100_000,
    ),
    deliveredLogMessages: checkInteger(
      'deliveredLogMessages',
      init.deliveredLogMessages ?? DELIVERED_LOG_MESSAGES,
      0,
      1_000_000,
    ),
    maxReceiveSenders: checkInteger(
      'maxReceiveSenders',
      init.maxReceiveSenders ?? MAX_RECEIVE_SENDERS,
      1,
      1_000_000,
    ),
    receiveBufferBytes: checkInteger(
      'receiveBufferBytes',
      init.receiveBufferBytes ?? RECEIVE_BUFFER_BYTES_PER_SENDER,
      MAX_DATA_FRAME_BYTES,
      1024 ** 3,
    ),
    receiveBufferTotalBytes: checkInteger(
      'receiveBufferTotalBytes',
      init.receiveBufferTotalBytes ?? RECEIVE_BUFFER_TOTAL_BYTES,
      MAX_DATA_FRAME_BYTES,
      8 * 1024 ** 3,
    ),
    receiveIdleMs: checkNumber(
      'receiveIdleMs',
      init.receiveIdleMs ?? RECEIVE_BUFFER_IDLE_MS,
      100,
      86_400_000,
    ),
  })
}
