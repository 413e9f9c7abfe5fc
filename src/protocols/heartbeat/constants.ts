/** Time between a node's heartbeats to the master, in milliseconds. */
export const HEARTBEAT_INTERVAL_MS = 1000
