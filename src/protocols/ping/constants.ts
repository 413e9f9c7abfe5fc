/** How long a ping waits for its pong, in milliseconds. */
export const PING_TIMEOUT_MS = 1000
