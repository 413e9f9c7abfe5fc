// The master's routes on the node's HTTP API: the cluster registry (POST /cluster/join,
// POST /cluster/leave, GET /cluster/members) and, when the master was handed a collector,
// telemetry (POST /telemetry and its reads). Errors answer as every route of the API does (http.ts).
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { joinBodyProblem, joinConflict, type JoinRegistry } from './join-check.js'
import { named, type Logger } from '../core/logger.js'
import { HttpBodyError } from '../core/errors.js'
import { parseBody } from '../core/routes.js'
import type { TelemetryBatch, TelemetryCollector } from '../core/telemetry.js'
import { LeaveBody, MemberBody } from './api-schemas.js'
import { openEventStream } from './event-stream.js'
import type { Member } from './node-init.js'

/** Largest telemetry batch, in bytes (every other request: MAX_BODY_BYTES, http.ts). */
export const MAX_TELEMETRY_BODY_BYTES = 16 * 1024 * 1024

/** What the master's routes use of the master node (node.ts's Node is one). */
export interface MasterApiNode extends JoinRegistry {
  readonly name: string
  readonly id: string
  readonly logger: Logger
  readonly metrics: { inc(name: string, help: string, labels: Record<string, string>): void }
  /** The master's telemetry collector (NodeInit.collector); without one, no telemetry routes. */
  readonly collector?: TelemetryCollector
  admit(m: Member): void
  release(name: string, id: string): boolean
  memberList(): { version: number; members: Member[] }
}

const TelemetryEventSchema = z.lazy(() =>
  z.object({
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
  }),
)
const TelemetryBody = z.lazy(() =>
  z.object({
    node: z.string().min(1).max(128),
    seq: z.number().int().min(0),
    lost: z.number().int().min(0),
    events: z.array(TelemetryEventSchema).max(100_000),
  }),
)

export function addMasterRoutes(app: FastifyInstance, node: MasterApiNode): void {
  memberRoutes(app, node, named(node.logger, 'distlab:master'))
  if (node.collector) telemetryRoutes(app, node.collector)
}

/** Joins, leaves and the member list: the cluster's registry. */
function memberRoutes(app: FastifyInstance, node: MasterApiNode, log: Logger): void {
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
}

/** Telemetry from every node into the collector, and its reads: stats, recent events, a live stream. */
function telemetryRoutes(app: FastifyInstance, collector: TelemetryCollector): void {
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
    const res = openEventStream(reply)
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
