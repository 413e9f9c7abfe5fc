// Defaults of distlab's Maelstrom layer. Where a default is Maelstrom's own, its `maelstrom test
// --help` (or doc/) is the source.

/** The distlab protocol name that carries node programs' messages between distlab nodes. */
export const MAELSTROM_PROTO = 'maelstrom'
/** The distlab node that hosts the clients (c1, c2, ...) and the services (seq-kv, lin-kv, ...). */
export const HARNESS_NODE = 'maelstrom'
/** Longest line a node program may print; longer lines are counted malformed and dropped (a frame holds 1 MiB). */
export const MAX_LINE_BYTES = 1000 * 1024
/** Nesting depth of a message body beyond which it is refused (hostile input). */
export const MAX_BODY_DEPTH = 64
/** Time a node program has to answer init with init_ok, in ms. */
export const INIT_TIMEOUT_MS = 10_000
/** Time a client waits for a reply before recording the operation as `info`, in ms (Maelstrom's 5 s). */
export const CLIENT_TIMEOUT_MS = 5000
/** Maelstrom's defaults: 5 nodes, 10 s, 5 ops/s, 0 ms extra latency, nemesis every 10 s. */
export const DEFAULT_NODE_COUNT = 5
export const DEFAULT_TIME_LIMIT_S = 10
export const DEFAULT_RATE = 5
export const DEFAULT_NEMESIS_INTERVAL_S = 10
/** Time after the workload (and healing) before final reads, in ms: lets gossip settle. */
export const DEFAULT_RECOVERY_MS = 3000
/** Malformed lines kept as examples per node. */
export const MALFORMED_EXAMPLES = 5
/** Messages to one destination a node may have queued before its program is spawned or inited. */
export const MAX_PENDING_INBOUND = 10_000
