// What a Go-Back-N endpoint reports as it works: one event per line of the course's output.
// `ack` is the course's ACK number: the last in-order sequence number received.

export type GbnEvent =
  | { kind: 'packet-sent'; at: number; seq: number; payload: Uint8Array; retransmit: boolean }
  | { kind: 'ack-received'; at: number; ack: number; windowBase: number }
  /** An ACK dropped by emulation, or (duplicate) one that acknowledged nothing new. */
  | { kind: 'ack-discarded'; at: number; ack: number; duplicate?: boolean }
  | { kind: 'timeout'; at: number; seq: number }
  | { kind: 'packet-received'; at: number; seq: number; payload: Uint8Array; inOrder: boolean }
  | { kind: 'packet-discarded'; at: number; seq: number; payload: Uint8Array }
  | { kind: 'ack-sent'; at: number; ack: number; expecting: number }
  | { kind: 'summary'; at: number; role: 'sender' | 'receiver'; discarded: number; total: number }

export type GbnEventListener = (event: GbnEvent) => void

/** What one completed send() cost: the sender's view. */
export interface GbnTransferSummary {
  /** Data packets in the message. */
  packets: number
  /** Data packet transmissions, first sends and retransmissions. */
  transmissions: number
  timeouts: number
  /** ACKs that arrived while the message was in flight, and how many of them emulation dropped. */
  acksArrived: number
  acksDiscarded: number
}
