// Seed 002's probes of a running node: the URL forms a node may register as, the peer lists it
// answers, and a message sent to it that must show in its log.
import { httpCall } from './http.js'
import type { ProgramHandle } from './docker-members.js'

/** A running program of the check: a local process or a container. */
export interface Instance {
  readonly name: string
  readonly host: string
  readonly port: number
  /** http://host:port */
  readonly url: string
  readonly process: ProgramHandle
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** The URL forms a node may register as: its address or its name, with or without a slash. */
export function sameNode(url: unknown, i: Instance): boolean {
  if (typeof url !== 'string') return false
  const u = url.trim().replace(/\/+$/, '').toLowerCase()
  return u === i.url || u === `http://${i.name}:${i.port}` || u === `${i.host}:${i.port}`
}

export function peersOf(json: unknown): unknown[] | undefined {
  if (!json || typeof json !== 'object') return undefined
  const peers = (json as { peers?: unknown }).peers
  return Array.isArray(peers) ? peers : undefined
}

export function listsAll(json: unknown, wanted: Instance[]): Instance[] {
  const peers = peersOf(json) ?? []
  return wanted.filter((w) => !peers.some((p) => sameNode(p, w)))
}

export async function sendAndSeeLogged(
  from: string,
  to: Instance,
  msg: string,
): Promise<{ ok: boolean; evidence: string[] }> {
  const a = await httpCall('POST', `${to.url}/message`, { sender: from, msg })
  const evidence = [a.evidence]
  const status = (a.json as { status?: unknown } | undefined)?.status
  if (a.status !== 200 || status !== 'received') {
    evidence.push(`expected 200 {"status": "received"}`)
    return { ok: false, evidence }
  }
  const want = `Received message from ${from}: ${msg}`
  try {
    const line = await to.process.waitForLine(new RegExp(escapeRegExp(want)), 5000)
    evidence.push(`${to.name} log: ${line.trim()}`)
    return { ok: true, evidence }
  } catch {
    evidence.push(`${to.name} never logged "${want}"; its last lines:`, ...to.process.tail(4))
    return { ok: false, evidence }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
