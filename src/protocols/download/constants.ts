// Defaults of the cooperative-download assignment (seed 003) and of distlab's line server.

/** The course server's port (seed 003: "vayu" on 9801). */
export const DEFAULT_LINE_SERVER_PORT = 9801
/** Lines in the served file: the assignment's 1000-line file. */
export const DEFAULT_LINE_COUNT = 1000
/** The course's limit: 100 lines per second per client address. */
export const DEFAULT_RATE_LINES_PER_S = 100
/**
 * Lines an address may take back to back before the rate applies (the rate limiter's bucket depth).
 * 2 absorbs a client's timer jitter of up to one interval without handing out a real burst.
 */
export const DEFAULT_BURST_LINES = 2
/** A command or submitted line longer than this cuts the connection off (a 100 MB "line" never buffers). */
export const MAX_LINE_BYTES = 64 * 1024
/** Replies queued for a client that does not read them; past this the client is cut off. */
export const MAX_PENDING_WRITE_BYTES = 1024 * 1024
/** Connections one address may hold open at once. */
export const MAX_CONNECTIONS_PER_ADDRESS = 64
/** A SUBMIT announcing more pairs than this is refused at once. */
export const MAX_SUBMIT_PAIRS = 1_000_000
/** Longest accepted SUBMIT id, in characters. */
export const MAX_SUBMIT_ID_CHARS = 200

/** The first client's source address when the server is on loopback; client i uses .i. */
export const DEFAULT_CLIENT_BASE_ADDRESS = '127.50.0.1'
/** How long a client waits for the line server to answer one request. */
export const REQUEST_TIMEOUT_MS = 10_000
/** How long a client waits between attempts to reach a master that is not there yet. */
export const MASTER_RETRY_MS = 50
/** How long a whole cooperative download may take before it gives up. */
export const DOWNLOAD_TIMEOUT_MS = 30 * 60_000
/** Fewest interval between progress reports (ms). */
export const PROGRESS_INTERVAL_MS = 100
/** The cooperating clients' channel port when each client is its own host (a container). */
export const DEFAULT_CHANNEL_PORT = 9900
