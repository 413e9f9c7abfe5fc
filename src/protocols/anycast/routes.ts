// The anycast replica's endpoint on the node's HTTP API: GET /anycast says where the node's
// replica listens and how many connections it served.
import type { RouteHost } from '../../core/routes.js'

/** What the route uses of the protocol. */
export interface AnycastApi {
  info(): object | undefined
}

export function anycastRoutes(app: RouteHost, a: AnycastApi, node: string): void {
  app.get('/anycast', async () => a.info() ?? { name: node, port: 0, served: 0, active: 0 })
}
