// The supervisor's control API for a foreign cluster: an HTTP server on 127.0.0.1 that the CLI in
// other terminals calls (`status`, `kill`, `restart`, `pause`, `resume`, the link commands), and
// its routes. Every request must carry this run's control token (<stateDir>/control.token, 0600),
// checked on the headers before anything else; nothing a request sends can throw out of the handler.
import type { Server } from 'node:http'
import { listenControl } from '../cluster/control-server.js'
import type { LinkRule, LinkRuleInit } from '../link/emulator.js'

/** What the control API asks of the cluster it serves (ForeignCluster, cluster.ts). */
export interface ControlledCluster {
  readonly instances: ReadonlyArray<{ name: string; paused: boolean }>
  readonly isolated: boolean
  readonly note?: string
  readonly runId?: string
  linkState(): { rules: Array<{ from: string; to: string; rule: LinkRule }>; partition: string[][] }
  traffic(): unknown
  setLink(from: string, to: string, init: LinkRuleInit): Array<{ from: string; to: string; rule: LinkRule }>
  partition(groups: string[][]): void
  heal(): void
  kill(name: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>
  restart(name: string): Promise<void>
  pause(name: string): Promise<void>
  resume(name: string): Promise<void>
  running(name: string): boolean
}

/** Starts the control API for `cluster`, with a new control token in `stateDir`. */
export async function startControl(
  stateDir: string,
  cluster: ControlledCluster,
): Promise<{ server: Server; url?: string }> {
  const { server, url } = await listenControl(
    stateDir,
    (method, rawUrl, body) => handleControl(cluster, method, rawUrl, body),
    { maxBodyBytes: 16_384, requestTimeoutMs: 120_000, headersTimeoutMs: 10_000 },
  )
  return { server, url }
}

/** The control API's routes: one request's method, URL and body to its status and JSON answer. */
async function handleControl(
  cluster: ControlledCluster,
  method: string,
  rawUrl: string,
  body: string,
): Promise<[number, unknown]> {
  const url = new URL(rawUrl, 'http://control')
  let parsed: Record<string, unknown> = {}
  if (body) {
    try {
      const v: unknown = JSON.parse(body)
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) parsed = v as Record<string, unknown>
      else return [400, { error: 'invalid_body', message: 'body must be a JSON object', field: 'body' }]
    } catch {
      return [400, { error: 'invalid_body', message: 'body is not JSON', field: 'body' }]
    }
  }
  if (method === 'GET' && url.pathname === '/nodes')
    return [
      200,
      { nodes: cluster.instances, isolated: cluster.isolated, note: cluster.note, runId: cluster.runId },
    ]
  if (method === 'GET' && url.pathname === '/link')
    return [200, { ...cluster.linkState(), traffic: cluster.traffic() }]
  if (method === 'PUT' && url.pathname === '/link') {
    const from = typeof parsed.from === 'string' ? parsed.from : '*'
    const to = typeof parsed.to === 'string' ? parsed.to : '*'
    const rule = (typeof parsed.rule === 'object' && parsed.rule !== null ? parsed.rule : {}) as LinkRuleInit
    const changed = cluster.setLink(from, to, rule)
    if (parsed.both === true && from !== '*' && to !== '*') changed.push(...cluster.setLink(to, from, rule))
    return [200, { links: changed }]
  }
  if (method === 'POST' && url.pathname === '/partition') {
    const groups = parsed.groups
    if (
      !Array.isArray(groups) ||
      groups.length > 256 ||
      !groups.every((g) => Array.isArray(g) && g.every((n) => typeof n === 'string'))
    )
      return [
        400,
        { error: 'invalid_body', message: 'groups must be lists of instance names', field: 'groups' },
      ]
    cluster.partition(groups as string[][])
    return [200, { partition: cluster.linkState().partition }]
  }
  if (method === 'POST' && url.pathname === '/heal') {
    cluster.heal()
    return [200, { healed: true }]
  }
  const m = /^\/nodes\/([^/]{1,64})\/(kill|restart|pause|resume)$/.exec(url.pathname)
  if (method !== 'POST' || !m)
    return [404, { error: 'not_found', message: `no route ${method} ${url.pathname}` }]
  const name = decodeURIComponent(m[1]!)
  if (!cluster.instances.some((x) => x.name === name))
    return [404, { error: 'unknown_node', message: `no instance named ${name}`, field: 'name' }]
  const action = m[2]!
  if (action === 'kill') {
    const signal = parsed.signal ?? 'SIGKILL'
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM')
      return [400, { error: 'invalid_body', message: 'signal must be SIGKILL or SIGTERM', field: 'signal' }]
    await cluster.kill(name, signal)
  } else if (action === 'restart') await cluster.restart(name)
  else if (action === 'pause') await cluster.pause(name)
  else await cluster.resume(name)
  const paused = cluster.instances.find((x) => x.name === name)?.paused
  return [200, { name, action, running: cluster.running(name), paused }]
}
