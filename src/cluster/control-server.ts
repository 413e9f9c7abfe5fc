// The supervisor's control API: a small HTTP server on 127.0.0.1 through which other processes
// (the CLI, the master's dashboard) kill and restart the nodes the supervisor holds. Anyone on the
// machine can reach a loopback port, so every request must carry this run's control token
// (<stateDir>/control.token, 0600); the token is checked on the headers alone, before the URL or
// the body is looked at, and nothing a request sends can throw out of the handler.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { KillSignal } from '../core/cluster-controls.js'
import { bearerMatches, newControlToken } from './state.js'

/** Bounds of the local supervisor's control API (loopback only, but any local user can connect). */
const CONTROL_MAX_BODY_BYTES = 4096
const CONTROL_REQUEST_TIMEOUT_MS = 10_000
const CONTROL_HEADERS_TIMEOUT_MS = 5_000
const CONTROL_KEEPALIVE_TIMEOUT_MS = 5_000
const CONTROL_MAX_CONNECTIONS = 64

/** What the control API acts on: the supervisor's own nodes. */
export interface ControlTarget {
  /** Every node, in order, with its process and whether it runs. */
  nodes(): Array<{ name: string; pid: number; running: boolean }>
  kill(name: string, signal: KillSignal): Promise<void>
  restart(name: string): Promise<void>
  running(name: string): boolean
}

/** One authenticated control request (method, raw URL, body text) to its status and JSON answer. */
export type ControlHandler = (method: string, rawUrl: string, body: string) => Promise<[number, unknown]>

/** How much one control API lets a client send and how long it waits for it. */
export interface ControlLimits {
  maxBodyBytes: number
  requestTimeoutMs: number
  headersTimeoutMs: number
  keepAliveTimeoutMs?: number
}

/** A listening control API: its server, base URL and this run's token. */
export interface ControlListener {
  server: Server
  url: string
  token: string
}

/**
 * Writes a new control token into `stateDir` and serves `handler` on a free loopback port, to
 * requests that carry the token. Shared by the supervisor of local nodes and of foreign programs.
 */
export async function listenControl(
  stateDir: string,
  handler: ControlHandler,
  limits: ControlLimits,
): Promise<ControlListener> {
  const token = newControlToken(stateDir)
  const server = createServer((req, res) => serveControl(token, handler, limits.maxBodyBytes, req, res))
  // Loopback is no shelter from a slow or greedy client: bounded time and connections.
  server.requestTimeout = limits.requestTimeoutMs
  server.headersTimeout = limits.headersTimeoutMs
  if (limits.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxConnections = CONTROL_MAX_CONNECTIONS
  server.on('clientError', (_err, socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  server.on('error', () => {})
  const a = server.address()
  const port = a && typeof a === 'object' ? a.port : 0
  return { server, url: `http://127.0.0.1:${port}`, token }
}

/** The token check on the headers, the bounded body, then the handler; nothing here can throw. */
function serveControl(
  token: string,
  handler: ControlHandler,
  maxBodyBytes: number,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const reply = (status: number, body: unknown): void => {
    if (res.headersSent || res.destroyed) return
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' })
    res.end(JSON.stringify(body))
  }
  req.on('error', () => {})
  res.on('error', () => {})
  try {
    if (!bearerMatches(req.headers.authorization, token)) {
      req.resume()
      return reply(401, {
        error: 'unauthorized',
        message: "the supervisor's control API needs the run's control token (<state dir>/control.token)",
      })
    }
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => {
      body += c
      if (body.length > maxBodyBytes) {
        reply(413, { error: 'body_too_large', message: `body over ${maxBodyBytes} bytes` })
        req.destroy()
      }
    })
    req.on('end', () => {
      handler(req.method ?? 'GET', req.url ?? '/', body).then(
        ([status, out]) => reply(status, out),
        (err: unknown) => {
          const e = err as { code?: string; message?: string }
          reply(e.code === 'ERR_INVALID_ARGUMENT' ? 400 : 500, {
            error: e.code ?? 'failed',
            message: e.message,
          })
        },
      )
    })
  } catch (err) {
    reply(400, { error: 'bad_request', message: (err as Error).message })
  }
}

export class ControlServer {
  private server?: Server
  /** The API's base URL; set by start(). */
  url?: string
  /** This run's token; set by start(). */
  token?: string

  constructor(
    private readonly stateDir: string,
    private readonly target: ControlTarget,
  ) {}

  /** Writes a new control token and listens on a free loopback port. */
  async start(): Promise<void> {
    const l = await listenControl(this.stateDir, (method, url, body) => this.request(method, url, body), {
      maxBodyBytes: CONTROL_MAX_BODY_BYTES,
      requestTimeoutMs: CONTROL_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: CONTROL_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: CONTROL_KEEPALIVE_TIMEOUT_MS,
    })
    this.server = l.server
    this.url = l.url
    this.token = l.token
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** One authenticated control request; a malformed path or body gets a 4xx, never a throw. */
  private async request(method: string, rawUrl: string, body: string): Promise<[number, unknown]> {
    // Only the path matters; no URL parser, so `//`, `/%zz` and the like are just unknown routes.
    const path = rawUrl.split('?')[0] ?? '/'
    if (method === 'GET' && path === '/nodes') return [200, { nodes: this.target.nodes() }]
    const m = /^\/nodes\/([A-Za-z0-9_.%-]{1,200})\/(kill|restart)$/.exec(path)
    if (method !== 'POST' || !m)
      return [404, { error: 'not_found', message: `no route ${method} ${path.slice(0, 200)}` }]
    let name: string
    try {
      name = decodeURIComponent(m[1]!)
    } catch {
      return [400, { error: 'invalid_name', message: 'the node name is not a valid escape', field: 'name' }]
    }
    if (!this.target.nodes().some((x) => x.name === name))
      return [404, { error: 'unknown_node', message: `no node named ${name}`, field: 'name' }]
    const signal = parseSignal(body)
    if (typeof signal !== 'string') return [400, signal]
    try {
      await (m[2] === 'kill' ? this.target.kill(name, signal) : this.target.restart(name))
    } catch (err) {
      return [500, { error: 'failed', message: (err as Error).message }]
    }
    return [200, { name, action: m[2], running: this.target.running(name) }]
  }
}

/** The signal a kill asks for (SIGKILL when none), or the 400 body that says what is wrong. */
function parseSignal(body: string): KillSignal | { error: string; message: string; field: string } {
  try {
    const parsed = body ? (JSON.parse(body) as { signal?: unknown } | null) : {}
    const given = parsed && typeof parsed === 'object' ? parsed.signal : undefined
    if (given !== undefined && given !== 'SIGKILL' && given !== 'SIGTERM')
      return { error: 'invalid_body', message: 'signal must be SIGKILL or SIGTERM', field: 'signal' }
    return given ?? 'SIGKILL'
  } catch {
    return { error: 'invalid_body', message: 'body is not JSON', field: 'body' }
  }
}
