// Defaults of IP multicast (seed 001's group and port) and of overlay group multicast.

/** The seed's multicast group. */
export const DEFAULT_GROUP = '224.1.1.1'
/** The seed's multicast port. */
export const DEFAULT_PORT = 5007
/** Multicast TTL: 2 lets a datagram cross one router, as the course code sets it. */
export const DEFAULT_TTL = 2
/** The interface multicast uses in local mode (DESIGN.md: works on lo). */
export const LOOPBACK_INTERFACE = '127.0.0.1'
/** Largest datagram a receiver accepts, in bytes (the IPv4 UDP payload limit). */
export const MAX_DATAGRAM_BYTES = 65_507
/** Group names of overlay multicast: letters, digits, dot, dash, underscore. */
export const GROUP_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
