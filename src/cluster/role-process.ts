// How a launcher starts a master or node process of distlab's own: the script it runs, the V8 flags
// and the environment it gets (src/cluster/local.ts spawns them; bench/startup.ts spawns a node the
// same way to time its start).
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export const BIN_PATH = fileURLToPath(new URL('../../../bin/distlab.js', import.meta.url))
/** What master and node processes run when the roles bundle is fresh: bin/distlab.js's role commands, started faster. */
export const ROLE_ENTRY_PATH = fileURLToPath(new URL('../../../bin/distlab-role.cjs', import.meta.url))

/**
 * The script a master or node process runs: bin/distlab-role.cjs when the roles bundle is up to date
 * with its modules (checked here, at each spawn, instead of in the process), else bin/distlab.js,
 * which then runs the modules one by one, as it does with DISTLAB_UNBUNDLED=1.
 */
export function roleEntry(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DISTLAB_UNBUNDLED === '1') return BIN_PATH
  const { bundleIsFresh } = createRequire(import.meta.url)('../../../bin/code-cache.cjs') as {
    bundleIsFresh(cliDir: string, name: string): boolean
  }
  const cli = fileURLToPath(new URL('../cli/', import.meta.url))
  return bundleIsFresh(cli, 'roles-main.bundle.cjs') ? ROLE_ENTRY_PATH : BIN_PATH
}
/**
 * How long a launched node process's heap must be quiet before V8's memory reducer runs its full
 * collections (V8's default: 8 s). A node that `up` starts holds its protocols (hold.ts) and sits idle until
 * every other node is up, 2 at a time (NODE_START_CONCURRENCY): at 8 s the reducer ran in each of
 * them during the start, 60-65 CPU-ms a node measured alone, 6-8 CPU-s for 100 nodes taken from the
 * boots still under way. A minute covers a 100-node start; afterwards the reducer works as before,
 * a minute after the heap goes quiet instead of 8 s.
 */
const MEMORY_REDUCER_DELAY_MS = 60_000

/**
 * V8 flags of every node process. An open cluster takes in a flood of well-formed broadcasts by
 * design (issue 14 #9: 125,000 messages from one origin in a few seconds), and each process's
 * resident memory after it is mostly heap V8 kept, not data: measured side by side in
 * bench/hostile, master/node1/node2 grew by +59..+89 MB with the young generation capped alone.
 * - a young generation of at most 2 MB a semi-space (V8 grows it to 16): ~30 MB less kept after a
 *   flood, and the flood took as long either way;
 * - the old generation's limit set 25% above what survived the last full GC, not V8's dynamic
 *   factor (up to ×4 while a process allocates fast): +33..+42 MB after the flood, and the
 *   processes' CPU seconds for the whole attack the same within the run-to-run noise (12.0-15.7 s).
 */
export const NODE_PROCESS_V8_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--heap-growing-percent=25',
]

/**
 * The V8 flags of a master or node process that a launcher starts, held (LocalCluster): those of
 * every node process, and the memory reducer's delay. A container never holds, and keeps V8's.
 */
export const LAUNCHED_V8_FLAGS: readonly string[] = [
  ...NODE_PROCESS_V8_FLAGS,
  `--gc-memory-reducer-start-delay-ms=${MEMORY_REDUCER_DELAY_MS}`,
]

/**
 * Variables of the launcher's environment that a master or node process does not get.
 * NODE_EXTRA_CA_CERTS names a file of certificate authorities to trust besides Node's own (a
 * company's proxy, a sandbox's bundle). Node 20 reads and parses it, with its own roots, when the
 * process starts, before any JavaScript runs, whether the process ever opens a TLS connection or
 * not: with Debian's bundle of some 140 authorities that is 40-60 ms of every start on the machines
 * we measure on (bench/startup.ts measures the floor with and without it), a sixth of a node's start.
 * A master or node the launcher starts speaks plain HTTP and frames to the addresses the launcher
 * gave it, never TLS.
 */
export const ENV_NOT_FOR_ROLES: readonly string[] = ['NODE_EXTRA_CA_CERTS']

/** `base` as a master or node process the launcher starts gets it: no colour, ENV_NOT_FOR_ROLES left out. */
export function roleProcessEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, FORCE_COLOR: '0' }
  for (const name of ENV_NOT_FOR_ROLES) delete env[name]
  return env
}
