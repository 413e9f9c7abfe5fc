// Defaults of anycast (seed 001: TCP servers on port 5000 answering `Hello from server`).

/** Seed 001's port for the standalone server (`distlab anycast serve`). */
export const DEFAULT_SERVE_PORT = 5000
/** Port of the anycast replica every cluster node runs (5000 is the node's HTTP API). */
export const NODE_ANYCAST_PORT = 5001
/** Time a client allows for connecting to a replica, in ms. */
export const CONNECT_TIMEOUT_MS = 2000
/** Time a client allows for the whole answer, in ms. */
export const ANSWER_TIMEOUT_MS = 3000
/** Largest answer a client reads, in bytes. */
export const MAX_ANSWER_BYTES = 4096
/** Bytes a server reads from a client before closing the connection (it expects none). */
export const MAX_REQUEST_BYTES = 4096
/** Time a replica that failed is left out before being tried again, in ms. */
export const REPLICA_COOLDOWN_MS = 5000
/** Time a request may take across failovers before it is reported lost, in ms. */
export const REQUEST_DEADLINE_MS = 15_000
/** Weight of the newest sample in the nearest policy's latency average (EWMA). */
export const LATENCY_EWMA_WEIGHT = 0.3
