// The unicast protocol's endpoints on the node's HTTP API: POST /unicast {to, msg, transport?,
// timeoutMs?} sends reliably and answers once acknowledged; GET /unicast/delivered?since=N lists
// what this node delivered; GET /unicast/stats its counters.
import { z } from 'zod'
import { allowLateAnswer, parseBody, type RouteHost } from '../../core/routes.js'

/** What the routes use of the protocol. */
export interface UnicastApi {
  send(to: string, msg: unknown, options: { transport?: 'udp' | 'tcp'; timeoutMs?: number }): Promise<unknown>
  delivered(since: number): unknown
  stats(): unknown
}

const SendBody = z.lazy(() =>
  z.strictObject({
    to: z.string().min(1).max(128),
    msg: z.unknown(),
    transport: z.enum(['udp', 'tcp']).default('udp'),
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
  }),
)

export function unicastRoutes(app: RouteHost, u: UnicastApi): void {
  app.post('/unicast', async (req) => {
    const { to, msg, transport, timeoutMs } = parseBody(SendBody, req.body)
    if (timeoutMs !== undefined) allowLateAnswer(req, timeoutMs)
    return u.send(to, msg, { transport, timeoutMs })
  })
  app.get('/unicast/delivered', async (req) => {
    const since = Number((req.query as { since?: string }).since ?? 0)
    return u.delivered(Number.isFinite(since) && since > 0 ? since : 0)
  })
  app.get('/unicast/stats', async () => u.stats())
}
