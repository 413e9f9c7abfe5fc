/**
 * Distances at or above this count as unreachable ("infinity" in RIP's sense, RFC 2453 uses 16 hops);
 * it bounds counting to infinity in loops poisoned reverse cannot break.
 */
export const DEFAULT_MAX_DISTANCE = 1000
/** Periodic re-advertisement off: the course's dvnode sends only when its table changes. */
export const DEFAULT_REFRESH_INTERVAL_MS = 0
/** Neighbour liveness check off unless refreshes are on. */
export const DEFAULT_NEIGHBOR_TIMEOUT_MS = 0
/** Most destinations one distance vector may carry. */
export const MAX_VECTOR_ENTRIES = 4096
/** Two distances closer than this are equal (floating-point sums of loss rates). */
export const DISTANCE_EPSILON = 1e-9
