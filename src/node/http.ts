// The node's HTTP API (Fastify). Seed-002 endpoints (`GET /`, `POST /message`) answer in exactly the
// seed's shapes; everything else is distlab's. A bad body gets a 4xx with
// `{ error, message, field? }` and is counted in /metrics; it never reaches a handler.
import { joinBodyProblem, joinConflict } from './join-check.js'
import { needsToken } from './protected-gets.js'
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { Node, Member } from './node.js'
import { named } from '../core/logger.js'
import { DistlabError, TimeoutError, HttpBodyError } from '../core/errors.js'
import { ALL_LINKS } from '../link/emulator.js'
import type { TelemetryBatch } from '../monitor/telemetry.js'
import { limitConnectionsPerAddress } from '../core/url-guard.js'
import { capConnections, httpServerLimits } from './http-limits.js'
import { LeaveBody, MemberBody, MessageBody } from './api-schemas.js'
import { parseBody } from '../core/routes.js'

/** Methods a 405 answer can name in its Allow header. */
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const

/** Largest request body, in bytes (telemetry batches excepted). */
export const MAX_BODY_BYTES = 1024 * 1024
export const MAX_TELEMETRY_BODY_BYTES = 16 * 1024 * 1024

export { HttpBodyError }
/** Re-exported from core/routes.ts, where protocols take it from. */
export { parseBody }

const LinkBody = z.strictObject({
  peer: z.string().min(1).max(128).default(ALL_LINKS),
  loss: z.number().optional(),
  dropEvery: z.number().optional(),
  delayMs: z.number().optional(),
  jitterMs: z.number().optional(),
  duplicate: z.number().optional(),
  reorder: z.number().optional(),
  corrupt: z.number().optional(),
  rateBps: z.number().optional(),
})
const PartitionBody = z.object({ groups: z.array(z.array(z.string().min(1).max(128)).min(1)).min(2) })
const PingBody = z.object({
  to: z.string().min(1).max(128),
  timeoutMs: z.number().int().min(1).max(60_000).default(1000),
  transport: z.enum(['udp', 'tcp']).default('udp'),
})
const TelemetryEventSchema = z.object({
  ts: z.number(),
  node: z.string().max(128),
  proto: z.string().max(64),
  kind: z.enum(['send', 'recv', 'deliver', 'drop', 'error']),
  msgId: z.string().max(128),
  src: z.string().max(256),
  dst: z.string().max(256),
  bytes: z.number().int().min(0),
  transport: z.string().max(16),
  reason: z.string().max(64).optional(),
  type: z.string().max(64).optional(),
})
const TelemetryBody = z.object({
  node: z.string().min(1).max(128),
  seq: z.number().int().min(0),
  lost: z.number().int().min(0),
  events: z.array(TelemetryEventSchema).max(100_000),
})

export function buildHttpApi(node: Node): FastifyInstance {
  const app = fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    forceCloseConnections: true,
    ...httpServerLimits(),
  })
  capConnections(app.server)
  const log = named(node.logger, 'distlab:http')

  const reject = (
    reply: FastifyReply,
    req: FastifyRequest,
    status: number,
    error: string,
    message: string,
    field?: string,
  ) => {
    node.metrics.inc('distlab_http_rejected_total', 'HTTP requests rejected, by reason.', {
      route: req.routeOptions.url ?? 'unknown',
      reason: error,
    })
    return reply.code(status).send(field ? { error, message, field } : { error, message })
  }

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

  // ---- seed-002 compatible ----
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

  // ---- node management ----
  app.get('/health', async () => ({ status: 'ok', ...node.status() }))

  app.get('/metrics', async (_req, reply) => {
    const t = node.telemetry.stats()
    const extra = [
      {
        name: 'distlab_uptime_seconds',
        help: 'Seconds since the node started.',
        type: 'gauge' as const,
        value: Math.round(node.uptimeMs() / 1000),
      },
      {
        name: 'distlab_telemetry_events_total',
        help: 'Telemetry events recorded.',
        type: 'counter' as const,
        value: t.recorded,
      },
      {
        name: 'distlab_telemetry_lost_total',
        help: 'Telemetry events lost before reaching the collector.',
        type: 'counter' as const,
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
    return reply.type('text/plain; version=0.0.4').send(await node.metrics.render(extra))
  })

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

  app.post('/ping', async (req) => {
    const { to, timeoutMs, transport } = parseBody(PingBody, req.body)
    return node.pinger.ping(to, timeoutMs, transport)
  })

  if (node.role === 'master') addMasterRoutes(app, node)
  return app
}

function addMasterRoutes(app: FastifyInstance, node: Node): void {
  const collector = node.collector!
  const log = named(node.logger, 'distlab:master')

  app.post('/cluster/join', async (req, reply) => {
    const m = parseBody(MemberBody, req.body) as Member
    if (m.name === node.name) throw new HttpBodyError(`the name ${m.name} belongs to the master`, 'name')
    const problem = await joinBodyProblem(node, m)
    if (problem) throw new HttpBodyError(problem.message, problem.field)
    const conflict = await joinConflict(node, m)
    if (conflict) return reply.code(409).send({ error: 'name_taken', message: conflict, field: 'name' })
    const known = node.member(m.name)
    node.admit(m)
    if (!known || known.id !== m.id) log.info(`${m.name} joined (${m.id}) at ${m.host}`)
    return node.memberList()
  })

  app.post('/cluster/leave', async (req) => {
    const { name, id } = parseBody(LeaveBody, req.body)
    const left = node.release(name, id)
    if (left) log.info(`${name} left`)
    return { status: left ? 'left' : 'unknown' }
  })

  app.get('/cluster/members', async (req) => {
    node.metrics.inc('distlab_member_list_requests_total', 'GET /cluster/members requests served.', {})
    const list = node.memberList()
    const since = Number((req.query as { version?: string }).version)
    if (since === list.version) return { version: list.version }
    return list
  })

  app.post('/telemetry', { bodyLimit: MAX_TELEMETRY_BODY_BYTES }, async (req) => {
    collector.ingest(parseBody(TelemetryBody, req.body) as TelemetryBatch)
    return { status: 'ok' }
  })

  app.get('/telemetry/stats', async () => collector.stats())

  app.get('/telemetry/recent', async (req) => {
    const limit = Math.min(Math.max(Number((req.query as { limit?: string }).limit) || 100, 1), 5000)
    return { events: collector.recentEvents(limit) }
  })

  // Server-sent events: one `data:` line per telemetry event. A client that cannot keep up loses
  // events (counted per connection) rather than making the master buffer without bound.
  app.get('/telemetry/stream', (req, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    res.write(': distlab telemetry\n\n')
    let skipped = 0
    const unsubscribe = collector.subscribe((events) => {
      if (res.writableLength > 4 * 1024 * 1024) {
        skipped += events.length
        return
      }
      if (skipped > 0) {
        res.write(`event: skipped\ndata: ${skipped}\n\n`)
        skipped = 0
      }
      res.write(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''))
    })
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000)
    req.raw.on('close', () => {
      clearInterval(keepalive)
      unsubscribe()
    })
  })
}
