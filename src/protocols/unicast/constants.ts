// Defaults of reliable unicast. The retransmission timer follows RFC 6298 (SRTT/RTTVAR with
// alpha 1/8, beta 1/4, RTO = SRTT + 4 RTTVAR, doubled on each timeout); the floor is lower than the
// RFC's 1 s because distlab's links are emulated loopback links.

/** Retransmission timeout before any round trip was measured, in milliseconds. */
export const INITIAL_RETRANSMIT_TIMEOUT_MS = 200
/** Lowest retransmission timeout, in milliseconds. */
export const MIN_RETRANSMIT_TIMEOUT_MS = 30
/** Highest retransmission timeout after backoff, in milliseconds. */
export const MAX_RETRANSMIT_TIMEOUT_MS = 4000
/** Each timeout multiplies the message's timer by this (exponential backoff, RFC 6298 5.5). */
export const RETRANSMIT_BACKOFF_FACTOR = 2
/** Times a `skip` (the sender gave up below a base, nothing in flight) is sent without confirmation. */
export const MAX_SKIP_ATTEMPTS = 8
/** A message not acknowledged within this time fails with a TimeoutError, in milliseconds. */
export const SEND_TIMEOUT_MS = 30_000
/** Messages in flight (sent, not yet acknowledged) per peer; more wait in a queue. */
export const SEND_WINDOW_MESSAGES = 64
/** Messages queued per peer behind the window before send() refuses more. */
export const SEND_QUEUE_MESSAGES = 10_000
/** Out-of-order messages a receiver holds per sender; later ones are dropped (the sender retries). */
export const RECEIVE_BUFFER_MESSAGES = 256
/** Delivered messages kept for GET /unicast/delivered. */
export const DELIVERED_LOG_MESSAGES = 1000
/** Largest application message, in bytes of JSON (fits one UDP datagram with the headers). */
export const MAX_MESSAGE_BYTES = 60_000
/** Old sender sessions remembered per peer, so that replays from before a restart are refused. */
export const RETIRED_SESSIONS_PER_PEER = 16
/**
 * A data frame larger than this is dropped on receive as `too_large`: a message of
 * MAX_MESSAGE_BYTES plus room for the header, the sequence fields and a key's trailer.
 */
export const MAX_DATA_FRAME_BYTES = MAX_MESSAGE_BYTES + 4096
/** Senders a receiver keeps state for; past it the least recently heard (non-members first) go. */
export const MAX_RECEIVE_SENDERS = 4096
/** Out-of-order bytes held per sender: a full send window of the largest messages fits. */
export const RECEIVE_BUFFER_BYTES_PER_SENDER = 4 * 1024 * 1024
/** Out-of-order bytes held for all senders together; past it frames are refused (and resent). */
export const RECEIVE_BUFFER_TOTAL_BYTES = 16 * 1024 * 1024
/** Out-of-order messages of a sender silent this long are freed, in ms (senders retry within 4 s). */
export const RECEIVE_BUFFER_IDLE_MS = 60_000
/** A sender silent this long is forgotten, in ms. */
export const RECEIVE_SENDER_IDLE_MS = 600_000
