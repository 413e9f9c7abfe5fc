// Defaults of the monitor: the run store, the analyzer, the dashboard and captures.
import { resolve } from 'node:path'

/** The dashboard's address unless told otherwise (DESIGN.md "Addresses and ports"). */
export const DEFAULT_DASHBOARD_HOST = '127.0.0.1'
export const DEFAULT_DASHBOARD_PORT = 8080

/** Where run files go, relative to the working directory, unless DISTLAB_RUNS_DIR says otherwise. */
export const DEFAULT_RUNS_DIR = 'runs'
/**
 * The runs folder: the one named, else $DISTLAB_RUNS_DIR (empty counts as unset), else ./runs under
 * the working directory. Here rather than in store.ts so that the Docker launcher resolves it
 * without loading SQLite.
 */
export function runsDir(explicit?: string): string {
  return resolve(explicit ?? (process.env.DISTLAB_RUNS_DIR || DEFAULT_RUNS_DIR))
}
/** File name suffix of a run's SQLite store. */
export const RUN_FILE_SUFFIX = '.sqlite'

/** Events written per SQLite transaction at most. */
export const STORE_BATCH_EVENTS = 5000
/** Longest time an event waits in memory before it is written, in milliseconds. */
export const STORE_FLUSH_INTERVAL_MS = 250
/** Events held in memory waiting for the disk before new ones are counted as lost. */
export const STORE_MAX_PENDING_EVENTS = 500_000
/** How often the store copies the collector's loss counts and the member list, in milliseconds. */
export const STORE_STATS_INTERVAL_MS = 1000

/** Time between the dashboard's pushes to each browser, in milliseconds. */
export const DASHBOARD_TICK_MS = 250
/** Events per second shown one by one; above this the dashboard samples and says so. */
export const DASHBOARD_MAX_EVENTS_PER_SECOND = 1000
/** Seconds of throughput and latency history the dashboard keeps. */
export const DASHBOARD_HISTORY_SECONDS = 300
/**
 * Background traffic, which the dashboard hides in one click: whole protocols that keep the cluster
 * running (heartbeats to the master, SWIM membership probes and gossip), and message types of other
 * protocols that repair rather than carry (broadcast's anti-entropy digests).
 */
export const BACKGROUND_PROTOCOLS: readonly string[] = Object.freeze(['heartbeat', 'membership'])
export const BACKGROUND_TYPES: readonly string[] = Object.freeze(['digest'])

/** Sends remembered to match receives to (for latency); the oldest are forgotten first. */
export const LATENCY_MATCH_WINDOW = 50_000
/** A node whose heartbeat is older than this is shown down, in milliseconds (3 missed 1 s beats). */
export const NODE_DOWN_AFTER_MS = 3500

/** distlab's ports, captured by `distlab capture`: HTTP API, frames, IP multicast, line server. */
export const DISTLAB_PORTS = Object.freeze({ http: 5000, frames: 7000, multicast: 5007, lineServer: 9801 })
/** How long `distlab capture` runs unless told, in milliseconds. */
export const DEFAULT_CAPTURE_DURATION_MS = 10_000

/** The UDP/TCP port used for exported frames (the node-to-node frame port). */
export const PCAP_FRAME_PORT = 7000
/** Largest IPv4 packet; a longer message's body is cut in an export (the frame says so in its header). */
export const PCAP_MAX_IP_PACKET_BYTES = 65_535
