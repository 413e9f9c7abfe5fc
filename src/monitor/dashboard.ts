// The dashboard server: serves web/ (plain HTML, CSS and JS, no build step, nothing from a CDN),
// streams the live aggregate to browsers over server-sent events, lists past runs with their
// analysis, and guards the page's controls (Host, Origin, page token); dashboard-actions.ts carries
// them out by calling the nodes' HTTP APIs and the supervisor's control API.
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { readFile } from 'node:fs/promises'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { existsSync } from 'node:fs'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Node, Member } from '../node/node.js'
import type { Startable } from '../core/interfaces.js'
import { checkPort, checkString } from '../core/options.js'
import { named, type Logger } from '../core/logger.js'
import { wrapSocketError, DistlabError, HttpBodyError } from '../core/errors.js'
import { parseBody } from '../core/routes.js'
import { capConnections, httpServerLimits } from '../node/http-limits.js'
import { openEventStream } from '../node/event-stream.js'
import { limitConnectionsPerAddress } from '../core/url-guard.js'
import { LiveAggregator } from './live.js'
import { listRuns, resolveRun, RunReader, RunNotFoundError, type RunStore } from './store.js'
import { analyzeEvents } from './analyzer.js'
import { ActionBody, ControlError, controlStates, runAction, type Action } from './dashboard-actions.js'
import { DashboardControls } from './dashboard-controls.js'
import { anomalyRoutes } from './anomaly-route.js'
import { servedPalette } from './palette.js'
import {
  BACKGROUND_PROTOCOLS,
  BACKGROUND_TYPES,
  DASHBOARD_TICK_MS,
  DEFAULT_DASHBOARD_HOST,
  DEFAULT_DASHBOARD_PORT,
  NODE_DOWN_AFTER_MS,
} from './constants.js'
import { z } from 'zod'
import { NodeClient } from '../client/node-client.js'

/** The supervisor's GET /nodes answer. */
const SupervisorNodes = z.lazy(() =>
  z.object({
    nodes: z.array(z.object({ name: z.string().max(128), running: z.boolean() }).passthrough()).max(10_000),
  }),
)

export interface DashboardInit {
  /** @default '127.0.0.1' */
  host?: string
  /** 0 lets the OS choose. @default 8080 */
  port?: number
  /** The supervisor's control API (kill, restart); without it those controls are disabled. */
  controlUrl?: string
  /** The supervisor's control token, sent with every call to controlUrl. */
  controlToken?: string
  /** The run being recorded, shown live and flushed before its analysis is read. */
  store?: RunStore
  /** Folder of past runs. */
  runsDir: string
  /** Folder of the front end. @default the package's web/ */
  webDir?: string
  /** Time between pushes to browsers, ms. @default 250 */
  tickMs?: number
  /** When the port is taken, listen on a free one instead of failing. @default true */
  fallbackPort?: boolean
  /**
   * Host names (besides IP addresses, `localhost` and this machine's name) a browser may use to
   * reach the dashboard; any other `Host` is refused, so that a DNS-rebinding page cannot drive
   * it. @default none
   */
  allowedHosts?: string[]
}

/** Header carrying the per-page token the dashboard issues at GET /api/session. */
export const PAGE_TOKEN_HEADER = 'x-distlab-token'

/** The host name of a `Host` header or an origin's host (`[::1]:8080` → `::1`). */
function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined)
  const i = h.lastIndexOf(':')
  return i >= 0 && h.indexOf(':') === i ? h.slice(0, i) : h
}

function sameSecret(given: string | undefined, want: string): boolean {
  if (typeof given !== 'string' || given.length > 256) return false
  const a = Buffer.from(given, 'utf8')
  const b = Buffer.from(want, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Where the front end lives: web/ at the package root (from src/ or from dist/src/). */
export function defaultWebDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  for (const up of ['../..', '../../..']) {
    const dir = resolve(here, up, 'web')
    if (existsSync(join(dir, 'index.html'))) return dir
  }
  return resolve(here, '../../web')
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
}

export { ControlError } from './dashboard-actions.js'

export interface NodeView {
  name: string
  role: string
  host: string
  httpPort: number
  up: boolean
  /** Why it is shown down: `killed`, `left`, `silent`. */
  why?: string
  lastSeenMs?: number
}

export class Dashboard implements Startable {
  private app?: FastifyInstance
  private timer?: ReturnType<typeof setInterval>
  private unsubscribe?: () => void
  private readonly live: LiveAggregator
  private readonly clients = new Set<FastifyReply['raw']>()
  private readonly everSeen = new Map<string, Member>()
  private supervisor?: { at: number; running: Map<string, boolean> }
  private lastSecondPushed = 0
  private readonly host: string
  private readonly port: number
  private readonly tickMs: number
  private readonly webDir: string
  private readonly log: Logger
  private boundUrl?: string
  /** Kill, restart, link rules, partition and heal: the supervisor's and the nodes' APIs. */
  private readonly controls: DashboardControls
  /** Issued to pages at GET /api/session; every action must carry it (or the cluster's token). */
  private readonly pageToken = randomBytes(24).toString('base64url')
  private readonly allowedHosts: Set<string>

  constructor(
    private readonly master: Node,
    private readonly init: DashboardInit,
  ) {
    this.host = checkString('host', init.host ?? DEFAULT_DASHBOARD_HOST)
    this.port = checkPort('port', init.port ?? DEFAULT_DASHBOARD_PORT)
    this.tickMs = init.tickMs ?? DASHBOARD_TICK_MS
    this.webDir = init.webDir ?? defaultWebDir()
    this.live = new LiveAggregator(this.tickMs)
    this.log = named(master.logger, 'distlab:dashboard')
    this.controls = new DashboardControls({
      controlUrl: init.controlUrl,
      supervisorHeaders: () => this.supervisorHeaders(),
      nodeHeaders: () => this.master.authHeaders(),
      nodeUrl: (name) => this.nodeUrl(name),
      nodes: () => this.nodes(),
      supervisorChanged: () => {
        this.supervisor = undefined
      },
    })
    this.allowedHosts = new Set(
      ['localhost', hostname(), ...(init.allowedHosts ?? [])].map((h) => h.toLowerCase()),
    )
  }

  /**
   * True for a `Host` a browser uses when it meant to reach this dashboard: an IP address,
   * localhost, this machine's name, or a name allowed in the options. A rebinding attacker's page
   * sends its own domain name and is refused.
   */
  hostAllowed(host: string | undefined): boolean {
    if (typeof host !== 'string' || host.length === 0 || host.length > 300) return false
    const name = hostnameOf(host)
    return isIP(name) !== 0 || this.allowedHosts.has(name) || name.endsWith('.localhost')
  }

  /** True when the request carries the cluster's bearer token (keyed clusters only). */
  private clusterBearer(authorization: string | undefined): boolean {
    return this.master.guard?.keyring.acceptsBearer(authorization) ?? false
  }

  /** The dashboard's URL; valid after start(). */
  get url(): string {
    return this.boundUrl ?? `http://${this.host}:${this.port}`
  }

  async start(): Promise<void> {
    if (this.app) return
    const app = fastify({ logger: false, forceCloseConnections: true, ...httpServerLimits() })
    capConnections(app.server)
    limitConnectionsPerAddress(app.server)
    this.routes(app)
    try {
      await app.listen({ host: this.host, port: this.port })
    } catch (err) {
      // A second cluster on this machine (or a test beside a user's cluster) must still start: its
      // dashboard moves to a port of the OS's choosing and says where.
      if (
        (err as NodeJS.ErrnoException).code === 'EADDRINUSE' &&
        this.port !== 0 &&
        this.init.fallbackPort !== false
      ) {
        this.log.warn(`dashboard port ${this.port} on ${this.host} is in use; using a free port instead`)
        try {
          await app.listen({ host: this.host, port: 0 })
        } catch (err2) {
          await app.close().catch(() => {})
          throw wrapSocketError(err2, `dashboard on ${this.host}`)
        }
      } else {
        await app.close().catch(() => {})
        throw wrapSocketError(err, `dashboard port ${this.port} on ${this.host}`)
      }
    }
    const a = app.server.address()
    const port = a && typeof a === 'object' ? a.port : this.port
    this.boundUrl = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${port}`
    this.app = app
    if (this.master.collector) {
      for (const e of this.master.collector.recentEvents()) this.live.ingest([e])
      this.unsubscribe = this.master.collector.subscribe((events) => this.live.ingest(events))
    }
    this.timer = setInterval(() => this.push(), this.tickMs)
    this.timer.unref()
    this.log.info(`dashboard at ${this.url}`)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.unsubscribe?.()
    this.unsubscribe = undefined
    for (const c of this.clients) c.end()
    this.clients.clear()
    await this.app?.close().catch(() => {})
    this.app = undefined
  }

  // ---- state ----

  /** Every node the master knows or knew during this run, and whether it is up. */
  async nodes(): Promise<NodeView[]> {
    const now = Date.now()
    const current = new Map(this.master.memberList().members.map((m) => [m.name, m]))
    for (const m of current.values()) this.everSeen.set(m.name, m)
    const running = await this.supervisorView()
    const out: NodeView[] = []
    for (const m of this.everSeen.values()) {
      const cur = current.get(m.name)
      const view: NodeView = { name: m.name, role: m.role, host: m.host, httpPort: m.httpPort, up: true }
      if (cur?.lastSeen) view.lastSeenMs = now - cur.lastSeen
      if (running?.get(m.name) === false) Object.assign(view, { up: false, why: 'killed' })
      else if (!cur) Object.assign(view, { up: false, why: 'left' })
      else if (m.name !== this.master.name && cur.lastSeen && now - cur.lastSeen > NODE_DOWN_AFTER_MS)
        Object.assign(view, { up: false, why: 'silent' })
      out.push(view)
    }
    return out.sort((a, b) =>
      a.role !== b.role
        ? a.role === 'master'
          ? -1
          : 1
        : a.name.localeCompare(b.name, undefined, { numeric: true }),
    )
  }

  private async supervisorView(): Promise<Map<string, boolean> | undefined> {
    if (!this.init.controlUrl) return undefined
    if (this.supervisor && Date.now() - this.supervisor.at < 900) return this.supervisor.running
    try {
      const body = await new NodeClient({
        url: this.init.controlUrl,
        name: 'the cluster supervisor',
        headers: this.supervisorHeaders(),
        timeoutMs: 1000,
      }).get('/nodes', { answer: SupervisorNodes })
      this.supervisor = { at: Date.now(), running: new Map(body.nodes.map((n) => [n.name, n.running])) }
    } catch {
      this.supervisor = { at: Date.now(), running: this.supervisor?.running ?? new Map() }
    }
    return this.supervisor.running
  }

  private supervisorHeaders(): Record<string, string> {
    return this.init.controlToken ? { authorization: `Bearer ${this.init.controlToken}` } : {}
  }

  private async state(): Promise<unknown> {
    return {
      master: { name: this.master.name, url: this.master.httpUrl },
      run: this.init.store ? { id: this.init.store.id, file: this.init.store.file } : null,
      nodes: await this.nodes(),
      controls: controlStates(this.master, this.init.controlUrl),
      tickMs: this.tickMs,
      background: { protocols: BACKGROUND_PROTOCOLS, types: BACKGROUND_TYPES },
    }
  }

  private push(): void {
    const tick = this.live.tick()
    if (this.clients.size === 0) return
    const seconds = this.live.secondsSince(this.lastSecondPushed)
    if (seconds.length) this.lastSecondPushed = seconds.at(-1)!.t
    const data = JSON.stringify({ ...tick, seconds, counters: this.live.counters() })
    this.broadcast('tick', data)
    // Node status once a second is plenty.
    if (Math.floor(tick.t / 1000) !== Math.floor((tick.t - this.tickMs) / 1000))
      void this.nodes()
        .then((nodes) => this.broadcast('nodes', JSON.stringify(nodes)))
        .catch(() => {})
  }

  private broadcast(event: string, data: string): void {
    for (const c of this.clients) {
      // A browser that cannot keep up misses ticks rather than making the master buffer.
      if (c.writableLength > 2 * 1024 * 1024) continue
      c.write(`event: ${event}\ndata: ${data}\n\n`)
    }
  }

  // ---- actions ----

  private nodeUrl(name: string): string {
    const m = this.master.member(name) ?? this.everSeen.get(name)
    if (!m) throw new ControlError(`no node named ${name} in the cluster`, 404)
    return `http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.httpPort}`
  }

  /** Carries out one of the page's controls (dashboard-actions.ts). */
  async act(a: Action): Promise<{ ok: true; message: string; result?: unknown }> {
    return runAction(a, {
      master: this.master,
      controls: this.controls,
      nodeUrl: (name) => this.nodeUrl(name),
    })
  }

  // ---- HTTP ----

  private routes(app: FastifyInstance): void {
    this.errorHandler(app)
    this.guardRequests(app)
    this.apiRoutes(app)
    this.runRoutes(app)
    this.staticFiles(app)
  }

  /** Errors as JSON: usage mistakes 400, a missing run 404, a failed control its own status. */
  private errorHandler(app: FastifyInstance): void {
    app.setErrorHandler((err: Error & { statusCode?: number; field?: string }, _req, reply) => {
      if (err instanceof HttpBodyError)
        return reply.code(400).send({ error: 'invalid_body', message: err.message, field: err.field })
      if (err instanceof ControlError)
        return reply.code(err.status).send({ error: 'control_failed', message: err.message })
      if (err instanceof RunNotFoundError)
        return reply.code(404).send({ error: 'run_not_found', message: err.message })
      if (err instanceof DistlabError) return reply.code(400).send({ error: err.code, message: err.message })
      const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500
      if (status === 500) this.log.error(`dashboard request failed: ${err.message}`)
      return reply
        .code(status)
        .send({ error: status === 500 ? 'internal' : 'bad_request', message: err.message })
    })
  }

  private guardRequests(app: FastifyInstance): void {
    // Every request: a Host this dashboard answers to (DNS rebinding). Every change: no foreign
    // Origin (CSRF) and the page's token, or the cluster's bearer token.
    app.addHook('onRequest', async (req, reply) => {
      if (!this.hostAllowed(req.headers.host))
        return reply.code(403).send({
          error: 'bad_host',
          message: `the dashboard does not answer to Host ${String(req.headers.host ?? '').slice(0, 100)}`,
        })
      if (req.method === 'GET' || req.method === 'HEAD') return
      const origin = req.headers.origin
      if (origin !== undefined) {
        let ok: boolean
        try {
          ok = new URL(origin).host.toLowerCase() === String(req.headers.host).toLowerCase()
        } catch {
          ok = false
        }
        if (!ok)
          return reply.code(403).send({
            error: 'bad_origin',
            message: `actions are only taken from the dashboard's own page (Origin ${origin.slice(0, 100)})`,
          })
      }
      const page = req.headers[PAGE_TOKEN_HEADER]
      if (sameSecret(typeof page === 'string' ? page : undefined, this.pageToken)) return
      if (this.clusterBearer(req.headers.authorization)) return
      return reply.code(401).send({
        error: 'unauthorized',
        message: this.master.guard
          ? 'this cluster has a key: open the dashboard with #key=<token> (`distlab token`) or send Authorization: Bearer <token>'
          : `send the page token from GET /api/session in the ${PAGE_TOKEN_HEADER} header`,
      })
    })
  }

  /** The page's session, state, palette, live stream and controls. */
  private apiRoutes(app: FastifyInstance): void {
    // The page's token: to any same-host caller of an open cluster (a foreign page cannot read
    // it: no CORS, and rebinding is refused above), to holders of the key on a keyed one.
    app.get('/api/session', async (req, reply) => {
      if (this.master.guard && !this.clusterBearer(req.headers.authorization))
        return reply.code(401).send({
          error: 'unauthorized',
          message: 'this cluster has a key: open the dashboard with #key=<token> (`distlab token`)',
        })
      return { token: this.pageToken, header: PAGE_TOKEN_HEADER, keyed: this.master.guard !== undefined }
    })

    app.get('/api/state', async () => this.state())
    // The protocol colours every chart uses (palette.ts), for the page's flows, legend and charts.
    app.get('/api/palette', async () => servedPalette())

    app.get('/api/stream', (req, reply) => this.stream(req, reply))
    app.post('/api/action', async (req) => this.act(parseBody(ActionBody, req.body)))
  }

  /** Server-sent events: a hello with the state and the live snapshot, then every tick. */
  private stream(req: FastifyRequest, reply: FastifyReply): void {
    const res = openEventStream(reply)
    void this.state().then((state) => {
      res.write(`event: hello\ndata: ${JSON.stringify({ state, snapshot: this.live.snapshot() })}\n\n`)
      this.clients.add(res)
    })
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000)
    req.raw.on('close', () => {
      clearInterval(keepalive)
      this.clients.delete(res)
    })
  }

  /** The recorded runs: the list, anomalies, and one run's summary and analysis. */
  private runRoutes(app: FastifyInstance): void {
    app.get('/api/runs', async () => ({
      current: this.init.store?.id ?? null,
      runs: listRuns(this.init.runsDir).reverse(),
    }))

    anomalyRoutes(app, this.init.runsDir, this.init.store)
    app.get('/api/runs/:id', async (req) => {
      const id = (req.params as { id: string }).id
      if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new HttpBodyError('bad run id', 'id')
      if (this.init.store && id === this.init.store.id) this.init.store.flush()
      const reader = new RunReader(resolveRun(id, this.init.runsDir))
      try {
        const meta = reader.meta()
        return {
          summary: reader.summary(),
          report: analyzeEvents(reader.events(), {
            run: meta.id,
            lostEvents: meta.lostEvents,
            members: meta.members.map((m) => m.name),
          }),
        }
      } finally {
        reader.close()
      }
    })
  }

  /** The page itself: files under the web folder, nothing outside it. */
  private staticFiles(app: FastifyInstance): void {
    app.get('/*', async (req, reply) => {
      const urlPath = decodeURIComponent((req.url.split('?')[0] ?? '/').replace(/^\/+/, '')) || 'index.html'
      const file = normalize(join(this.webDir, urlPath))
      if (!file.startsWith(this.webDir + sep) || !CONTENT_TYPES[extname(file)])
        return reply.code(404).send({ error: 'not_found', message: `no file ${req.url}` })
      try {
        const content = await readFile(file)
        return reply.type(CONTENT_TYPES[extname(file)]!).header('cache-control', 'no-cache').send(content)
      } catch {
        return reply.code(404).send({ error: 'not_found', message: `no file ${req.url}` })
      }
    })
  }
}
