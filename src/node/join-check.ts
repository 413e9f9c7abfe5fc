// The master's checks on POST /cluster/join. Whoever reaches the master's port may call it, so a
// join is checked before it re-points a name: the name must be one a node could have, the host
// must pass the cluster's URL guard (no member list pointing nodes at outside addresses), and on
// an open cluster a name already held by a member that still answers at its own address is not
// taken over by a caller at another address (a keyed cluster's token is the authentication).
import { PeerUrlRejectedError } from '../core/url-guard.js'
import { NAME_PATTERN } from '../core/ids.js'
import type { PeerInfo } from '../core/interfaces.js'
import { exchange } from '../client/http-exchange.js'

type Member = PeerInfo

/** What the checks need of the master (a Node; an interface here, so this file imports no node.ts). */
export interface JoinRegistry {
  /** Set when the cluster has a key. */
  readonly guard?: unknown
  readonly urlGuard: { check(url: string, field?: string): Promise<string> }
  member(name: string): Member | undefined
}

/** How long the master waits for a held name's member to answer GET /health, in ms. */
export const JOIN_LIVENESS_TIMEOUT_MS = 1000
/**
 * A member that let the first probe time out (a refused connection is an answer: gone) is asked
 * once more and given this long, in ms: a live member of a loaded machine may answer late, and
 * taking its name away then is the attack the check is there against. Both probes together stay
 * well within the joining node's own 5 s (NODE_CALL_TIMEOUT_MS).
 */
export const JOIN_LIVENESS_RETRY_TIMEOUT_MS = 2500
/** A liveness answer is reused this long, so a flood of joins costs one probe per name, in ms. */
export const JOIN_LIVENESS_CACHE_MS = 2000
/** Largest GET /health answer read from a held address, in bytes (a node's is under 1 KB). */
const MAX_HEALTH_ANSWER_BYTES = 64 * 1024
/** Names whose liveness answer is remembered. */
const LIVENESS_CACHE_NAMES = 1024

/** What is wrong with the join's name or host (for a 400 naming the field), or undefined. */
export async function joinBodyProblem(
  node: JoinRegistry,
  m: Member,
): Promise<{ field: string; message: string } | undefined> {
  if (!NAME_PATTERN.test(m.name))
    return {
      field: 'name',
      message: 'name must be letters, digits, `_`, `.` or `-`, starting with a letter or digit',
    }
  try {
    await node.urlGuard.check(`http://${bracketed(m.host)}:${m.httpPort}`, 'host')
  } catch (err) {
    return {
      field: 'host',
      message: err instanceof PeerUrlRejectedError ? err.message : 'host is not an address or host name',
    }
  }
  return undefined
}

const bracketed = (host: string) => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

const samePlace = (a: Member, b: Member) =>
  a.host === b.host && a.httpPort === b.httpPort && a.framePort === b.framePort

const liveness = new WeakMap<JoinRegistry, Map<string, { at: number; id: string; live: boolean }>>()

/**
 * Why the join must be refused (a 409), or undefined when it may go ahead: on an open cluster, a
 * join that moves a name held by a live member (its GET /health still answers with the held id).
 */
export async function joinConflict(node: JoinRegistry, m: Member): Promise<string | undefined> {
  if (node.guard) return undefined // the bearer token was checked before the handler ran
  const held = node.member(m.name)
  if (!held || samePlace(held, m)) return undefined
  if (!(await isLive(node, held))) return undefined
  return `${m.name} is held by a live member at ${held.host}:${held.httpPort}; a cluster key authenticates a move`
}

async function isLive(node: JoinRegistry, held: Member): Promise<boolean> {
  let cache = liveness.get(node)
  if (!cache) liveness.set(node, (cache = new Map()))
  const now = Date.now()
  const hit = cache.get(held.name)
  if (hit && hit.id === held.id && now - hit.at < JOIN_LIVENESS_CACHE_MS) return hit.live
  const url = `http://${bracketed(held.host)}:${held.httpPort}/health`
  let answer = await probe(url, JOIN_LIVENESS_TIMEOUT_MS)
  if (answer === 'timeout') answer = await probe(url, JOIN_LIVENESS_RETRY_TIMEOUT_MS)
  const live = typeof answer === 'object' && answer.name === held.name && answer.id === held.id
  cache.delete(held.name)
  cache.set(held.name, { at: now, id: held.id, live })
  if (cache.size > LIVENESS_CACHE_NAMES) cache.delete(cache.keys().next().value as string)
  return live
}

/** GET /health at `url`: its JSON body, 'timeout' when none came within `ms`, else 'failed'. */
async function probe(
  url: string,
  ms: number,
): Promise<{ name?: unknown; id?: unknown } | 'timeout' | 'failed'> {
  try {
    // Not NodeClient: the master checks an address a joining peer claims (not yet a member). The
    // answer is bounded: whoever holds that address chooses what it sends.
    const res = await exchange(url, {
      method: 'GET',
      headers: {},
      signal: AbortSignal.timeout(ms),
      maxBytes: MAX_HEALTH_ANSWER_BYTES,
    })
    if (res.status < 200 || res.status >= 300) return 'failed'
    const body = JSON.parse(res.text) as unknown
    return body !== null && typeof body === 'object' ? (body as { name?: unknown; id?: unknown }) : 'failed'
  } catch (err) {
    return (err as Error)?.name === 'TimeoutError' ? 'timeout' : 'failed'
  }
}
