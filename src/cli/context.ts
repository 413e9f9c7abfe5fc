// What several commands share: where the cluster's state lives and how to call a node's API.
import { Option, type Command } from 'commander'
import { nodeUrl, readCluster, stateDir } from '../cluster/state.js'
import { InvalidArgumentError } from '../core/errors.js'
import { NodeClient } from '../client/node-client.js'
import { bearerHeaders } from '../core/auth.js'
import { DEFAULT_FRAME_PORT, DEFAULT_HTTP_PORT } from '../core/ids.js'

/** The state dir the command works on; callNode sends that cluster's bearer token, if it has a key. */
let currentStateDir: string | undefined

export function stateDirOf(cmd: Command): string {
  return (currentStateDir = stateDir((cmd.optsWithGlobals() as { stateDir?: string }).stateDir))
}

export { NodeApiError } from '../core/errors.js'

/** Who answers at url, for an error line: a node's name, "the supervisor", or the address. */
function whoIs(url: string): string {
  const rec = currentStateDir === undefined ? undefined : readCluster(currentStateDir)
  if (rec?.controlUrl === url) return 'the cluster supervisor'
  const n = rec?.nodes.find((x) => nodeUrl(x) === url)
  if (n) return n.name
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/**
 * Calls a node's HTTP API through NodeClient; a refused connection or a 4xx/5xx becomes one clear
 * NodeApiError that names the node, not the internal URL it was called on.
 */
export async function callNode<T = unknown>(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = 5000,
  auth: Record<string, string> = bearerHeaders(currentStateDir),
  about?: string,
): Promise<T> {
  return nodeClient(url, auth, timeoutMs).call<T>(method, path, { body, about })
}

/** A NodeClient for url, named as the cluster record names it, with this cluster's token. */
export function nodeClient(
  url: string,
  auth: Record<string, string> = bearerHeaders(currentStateDir),
  timeoutMs = 5000,
): NodeClient {
  return new NodeClient({ url, name: whoIs(url), headers: auth, timeoutMs })
}

/** Parses a number option with a clear error naming the flag. */
export function numberOption(
  flag: string,
  min: number,
  max = Number.POSITIVE_INFINITY,
): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(
        `${flag} must be a number between ${min} and ${max}, got ${JSON.stringify(v)}`,
        flag,
      )
    return n
  }
}

export function intOption(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!/^-?\d+$/.test(v.trim()) || n < min || n > max)
      throw new InvalidArgumentError(
        `${flag} must be a whole number between ${min} and ${max}, got ${JSON.stringify(v)}`,
        flag,
      )
    return n
  }
}

/** The flag a spec names, for its errors: the long one (`--block` of `-b, --block <n>`), else the short. */
const flagName = (flags: string): string => /--[\w-]+/.exec(flags)?.[0] ?? flags.split(/[ ,]/)[0]!

/** An option with a numeric value in `[min, max]` (no max: unbounded above), and its default. */
export type RangeFlag = (
  flags: string,
  description: string,
  range: [number, number?],
  defaultValue?: number,
) => Option

const rangeFlag =
  (parser: (flag: string, min: number, max?: number) => (v: string) => number): RangeFlag =>
  (flags, description, [min, max], defaultValue) => {
    const o = new Option(flags, description).argParser(parser(flagName(flags), min, max))
    return defaultValue === undefined ? o : o.default(defaultValue)
  }

/** An option whose value is a whole number in range; an error names the flag. */
export const intFlag = rangeFlag(intOption)
/** An option whose value is a number in range; an error names the flag. */
export const numberFlag = rangeFlag(numberOption)

/**
 * A long-running command's end: `stop` once on SIGTERM or SIGINT (a second signal while it runs is
 * ignored), then exit 0. Started by a launcher (an IPC channel), it also stops when the launcher
 * goes, so that no node outlives its supervisor.
 */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false
  const shutdown = async () => {
    if (stopping) return
    stopping = true
    await stop()
    process.exit(0)
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  if (process.send) process.on('disconnect', shutdown)
}

/**
 * What every command that runs a node listens on (`node`, `master`, `bootstrap`, `maelstrom node`):
 * --host, --port (the HTTP API) and --frame-port (UDP and TCP frames, `framesFor` says whose).
 */
export function addListenOptions(cmd: Command, framesFor = 'node-to-node frames'): Command {
  return cmd
    .option('--host <host>', 'address to bind (0.0.0.0 in a container)', '127.0.0.1')
    .addOption(intFlag('--port <port>', 'HTTP API port', [0, 65535], DEFAULT_HTTP_PORT))
    .addOption(
      intFlag('--frame-port <port>', `UDP and TCP port for ${framesFor}`, [0, 65535], DEFAULT_FRAME_PORT),
    )
}
