// The ping protocol's endpoint on the node's HTTP API: POST /ping {to, timeoutMs?, transport?}
// answers {to, rttMs, transport}, or 504 when no pong comes in time.
import { z } from 'zod'
import { parseBody, type RouteHost } from '../../core/routes.js'
import { PING_TIMEOUT_MS } from './constants.js'

/** What the route uses of the protocol. */
export interface PingApi {
  ping(
    to: string,
    timeoutMs: number,
    transport: 'udp' | 'tcp',
  ): Promise<{ to: string; rttMs: number; transport: 'udp' | 'tcp' }>
}

const PingBody = z.lazy(() =>
  z.object({
    to: z.string().min(1).max(128),
    timeoutMs: z.number().int().min(1).max(60_000).default(PING_TIMEOUT_MS),
    transport: z.enum(['udp', 'tcp']).default('udp'),
  }),
)

export function pingRoutes(app: RouteHost, p: PingApi): void {
  app.post('/ping', async (req) => {
    const { to, timeoutMs, transport } = parseBody(PingBody, req.body)
    return p.ping(to, timeoutMs, transport)
  })
}
