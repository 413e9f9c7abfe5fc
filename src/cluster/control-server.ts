// The supervisor's control API: a small HTTP server on 127.0.0.1 through which other processes
// (the CLI, the master's dashboard) kill and restart the nodes the supervisor holds. Anyone on the
// machine can reach a loopback port, so every request must carry this run's control token
// (<stateDir>/control.token, 0600); the token is checked on the headers alone, before the URL or
// the body is looked at, and nothing a request sends can throw out of the handler.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { KillSignal } from '../core/cluster-controls.js'
import { bearerMatches, newControlToken } from './state.js'

/** Bounds of the control API (loopback only, but any local user can connect). */
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

type Reply = (status: number, body: unknown) => void

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
    const token = newControlToken(this.stateDir)
    this.token = token
    const server = createServer((req, res) => this.handle(token, req, res))
    // Loopback is no shelter from a slow or greedy client: bounded time and connections.
    server.requestTimeout = CONTROL_REQUEST_TIMEOUT_MS
    server.headersTimeout = CONTROL_HEADERS_TIMEOUT_MS
    server.keepAliveTimeout = CONTROL_KEEPALIVE_TIMEOUT_MS
    server.maxConnections = CONTROL_MAX_CONNECTIONS
    server.on('clientError', (_err, socket) => socket.destroy())
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    server.on('error', () => {})
    const a = server.address()
    if (a && typeof a === 'object') this.url = `http://127.0.0.1:${a.port}`
    this.server = server
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private handle(token: string, req: IncomingMessage, res: ServerResponse): void {
    const reply: Reply = (status, body) => {
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
        if (body.length > CONTROL_MAX_BODY_BYTES) {
          reply(413, { error: 'body_too_large', message: `body over ${CONTROL_MAX_BODY_BYTES} bytes` })
          req.destroy()
        }
      })
      req.on('end', () => {
        try {
          this.request(req.method ?? 'GET', req.url ?? '/', body, reply)
        } catch (err) {
          reply(400, { error: 'bad_request', message: (err as Error).message })
        }
      })
    } catch (err) {
      reply(400, { error: 'bad_request', message: (err as Error).message })
    }
  }

  /** One authenticated control request; a malformed path or body gets a 4xx, never a throw. */
  private request(method: string, rawUrl: string, body: string, reply: Reply): void {
    // Only the path matters; no URL parser, so `//`, `/%zz` and the like are just unknown routes.
    const path = rawUrl.split('?')[0] ?? '/'
    if (method === 'GET' && path === '/nodes') return reply(200, { nodes: this.target.nodes() })
    const m = /^\/nodes\/([A-Za-z0-9_.%-]{1,200})\/(kill|restart)$/.exec(path)
    if (method !== 'POST' || !m)
      return reply(404, { error: 'not_found', message: `no route ${method} ${path.slice(0, 200)}` })
    let name: string
    try {
      name = decodeURIComponent(m[1]!)
    } catch {
      return reply(400, {
        error: 'invalid_name',
        message: 'the node name is not a valid escape',
        field: 'name',
      })
    }
    if (!this.target.nodes().some((x) => x.name === name))
      return reply(404, { error: 'unknown_node', message: `no node named ${name}`, field: 'name' })
    const signal = parseSignal(body)
    if (typeof signal !== 'string') return reply(400, signal)
    const action = m[2] === 'kill' ? this.target.kill(name, signal) : this.target.restart(name)
    action.then(
      () => reply(200, { name, action: m[2], running: this.target.running(name) }),
      (err: unknown) => reply(500, { error: 'failed', message: (err as Error).message }),
    )
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
