// The node's HTTP API (Fastify). Seed-002 endpoints (`GET /`, `POST /message`) answer in exactly the
// seed's shapes; everything else is distlab's. A bad body gets a 4xx with
// `{ error, message, field? }` and is counted in /metrics; it never reaches a handler.
import { needsToken } from './protected-gets.js'
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { named, type Logger } from '../core/logger.js'
import { DistlabError, TimeoutError, HttpBodyError } from '../core/errors.js'
import { ALL_LINKS } from '../link/emulator.js'
import { limitConnectionsPerAddress } from '../core/url-guard.js'
import { capConnections, httpServerLimits } from './http-limits.js'
import { MessageBody } from './api-schemas.js'
import { parseBody } from '../core/routes.js'
import { addMasterRoutes, type MasterApiNode } from './http-master.js'
import type { Metrics } from './metrics.js'
import type { TelemetryEmitter } from './telemetry.js'
import type { LinkTable } from '../link/emulator.js'

/** Methods a 405 answer can name in its Allow header. */
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const

/** Largest request body, in bytes (telemetry batches excepted). */
export const MAX_BODY_BYTES = 1024 * 1024

const LinkBody = z.lazy(() =>
  z.strictObject({
    peer: z.string().min(1).max(128).default(ALL_LINKS),
    loss: z.number().optional(),
    dropEvery: z.number().optional(),
    delayMs: z.number().optional(),
    jitterMs: z.number().optional(),
    duplicate: z.number().optional(),
    reorder: z.number().optional(),
    corrupt: z.number().optional(),
    rateBps: z.number().optional(),
  }),
)
const PartitionBody = z.lazy(() =>
  z.object({ groups: z.array(z.array(z.string().min(1).max(128)).min(1)).min(2) }),
)
/**
 * What the HTTP API uses of the node (node.ts's Node is one): an interface, so that this file does
 * not import node.ts, which builds the API.
 */
export interface ApiNode extends MasterApiNode {
  readonly name: string
  readonly role: 'master' | 'node'
  readonly logger: Logger
  readonly metrics: Metrics
  readonly telemetry: Pick<TelemetryEmitter, 'record' | 'stats'>
  readonly links: LinkTable
  /** Set when the cluster has a key. */
  readonly guard?: { readonly keyring: { acceptsBearer(header: string | undefined): boolean } }
  /** The address the API binds, when one is set. */
  readonly httpHost?: string
  status(): object
  uptimeMs(): number
  /** Copies the master's member list now (at most once per second); answers how many members it knows. */
  refreshMembersNow(): Promise<number>
}

/** Answers a rejected request with `{ error, message, field? }` and counts it in /metrics. */
type Reject = (
  reply: FastifyReply,
  req: FastifyRequest,
  status: number,
  error: string,
  message: string,
  field?: string,
) => FastifyReply

export function buildHttpApi(node: ApiNode): FastifyInstance {
  const app = fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    forceCloseConnections: true,
    ...httpServerLimits(),
  })
  capConnections(app.server)
  const log = named(node.logger, 'distlab:http')
  const reject: Reject = (reply, req, status, error, message, field) => {
    node.metrics.inc('distlab_http_rejected_total', 'HTTP requests rejected, by reason.', {
      route: req.routeOptions.url ?? 'unknown',
      reason: error,
    })
    return reply.code(status).send(field ? { error, message, field } : { error, message })
  }
  handleErrors(app, reject, log)
  guardRequests(app, node, reject)
  seedRoutes(app, node, log)
  managementRoutes(app, node, log)
  if (node.role === 'master') addMasterRoutes(app, node)
  return app
}

/** Every error a route throws, and every path or method no route has, answers `{ error, message, field? }`. */
function handleErrors(app: FastifyInstance, reject: Reject, log: Logger): void {
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpBodyError) return reject(reply, req, 400, 'invalid_body', err.message, err.field)
    if (err instanceof TimeoutError) return reject(reply, req, 504, 'timeout', err.message)
    if (err instanceof DistlabError)
      return reject(
        reply,
        req,
        400,
        err.code.toLowerCase().replace(/^err_/, ''),
        err.message,
        (err as { field?: string }).field,
      )
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reject(reply, req, 413, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`)
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reject(reply, req, 415, 'unsupported_media_type', 'send the body as application/json')
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) log.error(`${req.method} ${req.url} failed: ${err.message}`)
    return reject(
      reply,
      req,
      status,
      status === 500 ? 'internal' : 'bad_request',
      status === 500 ? 'internal error' : err.message,
    )
  })
  // A path that exists under other methods answers 405 with Allow (RFC 9110 15.5.6), e.g. GET /message.
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? ''
    const allow =
      path.length <= 2048 ? HTTP_METHODS.filter((method) => app.hasRoute({ method, url: path })) : []
    if (allow.length > 0) {
      void reply.header('allow', allow.join(', '))
      return reject(reply, req, 405, 'method_not_allowed', `${req.method} ${path}: use ${allow.join(' or ')}`)
    }
    return reject(reply, req, 404, 'not_found', `no route ${req.method} ${path}`)
  })
}

/** The cluster key's bearer token where one is needed, and a cap on connections per address. */
function guardRequests(app: FastifyInstance, node: ApiNode, reject: Reject): void {
  // With a cluster key, every request that changes state, and every GET that reveals what the
  // cluster carries (PROTECTED_GETS), needs the key's bearer token.
  const ring = node.guard?.keyring
  if (ring)
    app.addHook('onRequest', async (req, reply) => {
      if (!needsToken(req.method, req.routeOptions.url)) return
      if (ring.acceptsBearer(req.headers.authorization)) return
      reply.header('www-authenticate', 'Bearer realm="distlab"')
      return reject(
        reply,
        req,
        401,
        'unauthorized',
        'this cluster has a key: send Authorization: Bearer <token> (`distlab token` prints it)',
      )
    })
  // Per address too, on loopback as well: any local process can connect.
  if (node.httpHost !== undefined)
    limitConnectionsPerAddress(app.server, undefined, () =>
      node.metrics.inc('distlab_http_rejected_total', 'HTTP requests rejected, by reason.', {
        route: 'connection',
        reason: 'too_many_connections',
      }),
    )
}

/** Seed 002's endpoints, in exactly the seed's shapes. */
function seedRoutes(app: FastifyInstance, node: ApiNode, log: Logger): void {
  app.get('/', async () => ({ message: `Node ${node.id} is running!` }))

  app.post('/message', async (req) => {
    const { sender, msg } = parseBody(MessageBody, req.body)
    log.info(`Received message from ${sender}: ${msg}`)
    node.metrics.inc('distlab_http_messages_total', 'Messages received on POST /message.', {})
    // Received and delivered at once; an id of its own so the analyzer counts it as one message.
    const ev = {
      ts: Date.now(),
      node: node.name,
      proto: 'http',
      msgId: `http-${randomUUID()}`,
      src: sender,
      dst: node.name,
      bytes: Buffer.byteLength(msg),
      transport: 'http',
      type: 'message',
    } as const
    node.telemetry.record({ ...ev, kind: 'recv' })
    node.telemetry.record({ ...ev, kind: 'deliver' })
    return { status: 'received' }
  })
}

/** The node's own state: health, metrics, link rules and partition. */
function managementRoutes(app: FastifyInstance, node: ApiNode, log: Logger): void {
  app.get('/health', async () => ({ status: 'ok', ...node.status() }))

  // A launcher's last start step: a node that joined before others learns of them now, not at its
  // next periodic refresh. Requests share one call to the master, at most one a second.
  app.post('/members/refresh', async () => ({ members: await node.refreshMembersNow() }))

  app.get('/metrics', async (_req, reply) =>
    reply.type('text/plain; version=0.0.4').send(await node.metrics.render(metricsExtras(node))),
  )

  app.get('/link', async () => ({ rules: node.links.listRules(), partition: node.links.partition() }))

  app.put('/link', async (req) => {
    const { peer, ...rule } = parseBody(LinkBody, req.body)
    const resolved = node.links.setRule(peer, rule)
    log.info(`link ${node.name} -> ${peer}: ${JSON.stringify(resolved)}`)
    return { peer, rule: resolved }
  })

  app.post('/partition', async (req) => {
    const { groups } = parseBody(PartitionBody, req.body)
    node.links.setPartition(groups)
    log.info(`partition: ${groups.map((g) => g.join(',')).join(' | ')}`)
    return { partition: node.links.partition() }
  })

  app.post('/heal', async () => {
    node.links.heal()
    log.info('links healed: no rules, no partition')
    return { status: 'healed' }
  })
}

/** Metrics kept outside the registry: uptime, telemetry, and on the master the collector's counts. */
function metricsExtras(node: ApiNode): Parameters<Metrics['render']>[0] {
  const t = node.telemetry.stats()
  const extra: Parameters<Metrics['render']>[0] = [
    {
      name: 'distlab_uptime_seconds',
      help: 'Seconds since the node started.',
      type: 'gauge',
      value: Math.round(node.uptimeMs() / 1000),
    },
    {
      name: 'distlab_telemetry_events_total',
      help: 'Telemetry events recorded.',
      type: 'counter',
      value: t.recorded,
    },
    {
      name: 'distlab_telemetry_lost_total',
      help: 'Telemetry events lost before reaching the collector.',
      type: 'counter',
      value: t.lost,
    },
  ]
  if (node.collector) {
    const c = node.collector.stats()
    extra.push(
      {
        name: 'distlab_collector_events_total',
        help: 'Telemetry events the collector took in.',
        type: 'counter',
        value: c.events,
      },
      {
        name: 'distlab_collector_lost_events_total',
        help: 'Telemetry events nodes reported lost.',
        type: 'counter',
        value: c.lostEvents,
      },
    )
  }
  return extra
}
