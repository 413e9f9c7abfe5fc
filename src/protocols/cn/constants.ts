/** Go-Back-N window on probe links (seed 004: "Window size is always 5"). */
export const PROBE_WINDOW_PACKETS = 5
/** Probe retransmission timeout (seed 004: "Timeout is 500ms"). */
export const PROBE_TIMEOUT_MS = 500
/** A new probe packet at most this often per link, so probing does not flood the CPU. */
export const PROBE_INTERVAL_MS = 10
/** How often each send link's loss rate is printed (the course: every second). */
export const STATUS_INTERVAL_MS = 1000
/** How often routing tables are recomputed and exchanged (the course: every 5 seconds). */
export const EXCHANGE_INTERVAL_MS = 5000
/** Distances are loss rates rounded to this many decimals (the course: 2). */
export const DISTANCE_DECIMALS = 2
