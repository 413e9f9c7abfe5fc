// What several commands share: where the cluster's state lives and how to call a node's API.
import type { Command } from 'commander'
import { nodeUrl, readCluster, stateDir } from '../cluster/state.js'
import { DistlabError, InvalidArgumentError } from '../core/errors.js'
import { bearerHeaders } from '../core/auth.js'

/** The state dir the command works on; callNode sends that cluster's bearer token, if it has a key. */
let currentStateDir: string | undefined

export function stateDirOf(cmd: Command): string {
  return (currentStateDir = stateDir((cmd.optsWithGlobals() as { stateDir?: string }).stateDir))
}

export class NodeApiError extends DistlabError {
  override readonly code = 'ERR_NODE_API'
  /** The HTTP status the API answered with, when it answered. */
  readonly status: number | undefined
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options)
    this.name = 'NodeApiError'
    this.status = options?.status
  }
}

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
 * Calls a node's HTTP API; a refused connection or a 4xx/5xx becomes one clear NodeApiError that
 * names the node, not the internal URL it was called on.
 */
export async function callNode<T = unknown>(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = 5000,
  auth: Record<string, string> = bearerHeaders(currentStateDir),
): Promise<T> {
  let res: Response
  try {
    res = await fetch(url + path, {
      method,
      headers: {
        ...auth,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const why = (err as Error).cause
      ? String((err as { cause: Error }).cause.message)
      : (err as Error).message
    throw new NodeApiError(`${whoIs(url)} did not answer (${why})`, { cause: err })
  }
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // plain text answer
  }
  if (!res.ok) {
    const msg = (parsed as { message?: string })?.message ?? text
    const who = whoIs(url)
    throw new NodeApiError(
      res.status < 500 ? `${who}: ${msg}` : `${who} failed (HTTP ${res.status}): ${msg}`,
      {
        status: res.status,
      },
    )
  }
  return parsed as T
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
