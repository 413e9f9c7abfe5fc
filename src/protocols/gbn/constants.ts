/** Retransmission timeout of the course's Go-Back-N, in milliseconds (seed 004: "Timeout is 500ms"). */
export const RETRANSMIT_TIMEOUT_MS = 500
/** Default window size when a caller gives none, in packets. */
export const DEFAULT_WINDOW_PACKETS = 5
/** Payload bytes per data packet when the library splits a buffer. */
export const DEFAULT_SEGMENT_BYTES = 1024
/** Largest payload a packet may carry, in bytes (fits one IPv4 UDP datagram with the header). */
export const MAX_PAYLOAD_BYTES = 65_507 - 22
/** Largest window a sender accepts, in packets. */
export const MAX_WINDOW_PACKETS = 65_536
/** The loopback address the course programs use. */
export const DEFAULT_HOST = '127.0.0.1'
