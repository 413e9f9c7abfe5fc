// The broadcast protocol's endpoints on the node's HTTP API.
import { z } from 'zod'
import { parseBody, type RouteHost } from '../../core/routes.js'
import type { FrameTally } from './frame-tally.js'
import {
  STRATEGIES,
  type BroadcastDelivery,
  type BroadcastResult,
  type BroadcastStats,
  type BroadcastStrategy,
  type BroadcastTuning,
} from './options.js'

/** What the routes use of the protocol. */
export interface BroadcastApi {
  broadcast(
    value: unknown,
    options: { strategy?: BroadcastStrategy; durable?: boolean },
  ): Promise<BroadcastResult>
  delivered(since: number, kind: 'app' | 'group' | 'all'): { total: number; messages: BroadcastDelivery[] }
  stats(): BroadcastStats
  tuning(): BroadcastTuning
  configure(change: BroadcastTuning): BroadcastTuning
}

/** POST /broadcast. */
const Body = z.lazy(() =>
  z.strictObject({
    msg: z.unknown(),
    strategy: z.enum(STRATEGIES).optional(),
    durable: z.boolean().default(false),
  }),
)

/** PUT /broadcast/config. */
const Tuning = z.lazy(() =>
  z.strictObject({
    strategy: z.enum(STRATEGIES).optional(),
    gossipFanout: z.number().int().min(0).max(1000).optional(),
    lazyPushIntervalMs: z.number().min(1).max(600_000).optional(),
    lazyPushFanout: z.number().int().min(0).max(10_000).optional(),
    graftTimeoutMs: z.number().min(1).max(600_000).optional(),
    antiEntropyIntervalMs: z.number().min(0).max(3_600_000).optional(),
    antiEntropyGraceMs: z.number().min(0).max(3_600_000).optional(),
    batchMs: z.number().min(0).max(60_000).optional(),
    coalesceMs: z.number().min(0).max(60_000).optional(),
    receiptTimeoutMs: z.number().min(1).max(600_000).optional(),
  }),
)

export function broadcastRoutes(app: RouteHost, b: BroadcastApi, tally: FrameTally): void {
  app.post('/broadcast', async (req) => {
    const { msg, strategy, durable } = parseBody(Body, req.body)
    return b.broadcast(msg, { strategy, durable })
  })
  app.get('/broadcast/delivered', async (req) => {
    const q = req.query as { since?: string; kind?: string; id?: string }
    const since = Number(q.since ?? 0)
    const kind = q.kind === 'group' || q.kind === 'all' ? q.kind : 'app'
    const r = b.delivered(Number.isFinite(since) && since > 0 ? since : 0, kind)
    if (typeof q.id === 'string') r.messages = r.messages.filter((m) => m.id === q.id)
    return r
  })
  app.get('/broadcast/stats', async () => b.stats())
  app.get('/broadcast/frames', async (req) => {
    const { id } = parseBody(z.object({ id: z.string().min(1).max(256) }), req.query)
    return tally.get(id)
  })
  app.get('/broadcast/read', async () => {
    const values = b.delivered(0, 'app').messages.map((m) => m.value)
    return { count: values.length, values }
  })
  app.get('/broadcast/config', async () => b.tuning())
  app.put('/broadcast/config', async (req) => b.configure(parseBody(Tuning, req.body)))
}
