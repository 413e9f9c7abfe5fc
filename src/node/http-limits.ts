// Time and connection bounds for every HTTP server distlab runs (the node API, the master's
// routes, the bootstrap registry, the dashboard). A loopback address is no shelter: any local
// process can open connections and send headers one byte at a time (slowloris), so the bounds
// apply there too.
import type { Server, ServerOptions } from 'node:http'
import type { FastifyServerOptions } from 'fastify'

/** The Fastify options (HTTP/1 server) that carry the bounds. */
export interface HttpServerLimits {
  requestTimeout: number
  keepAliveTimeout: number
  connectionTimeout: number
  http: ServerOptions
  schemaController: NonNullable<FastifyServerOptions['schemaController']>
}

// distlab's routes check their input with zod and have no JSON schemas. Without compilers of its own,
// Fastify loads Ajv and fast-json-stringify when a server is made (a third of a node's start-up),
// in case a route brings a schema; these stand in and refuse one, loudly, at start.
function noRouteSchemas(): never {
  throw new Error('distlab HTTP routes take no JSON schema: check the input with zod in the handler')
}

/** Longest time to receive a whole request (headers and body), ms. A 16 MiB telemetry batch fits. */
export const HTTP_REQUEST_TIMEOUT_MS = 30_000
/** Longest time to receive a request's headers, ms. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000
/** An idle keep-alive connection is closed after this long, ms. */
export const HTTP_KEEPALIVE_TIMEOUT_MS = 5_000
/** A connection with no traffic either way is closed after this long, ms (streams send keepalives every 15 s). */
export const HTTP_IDLE_TIMEOUT_MS = 60_000
/** How often Node checks the two timeouts above, ms (its default, 30 s, lets slow clients linger). */
export const HTTP_TIMEOUT_CHECK_MS = 1_000
/** Open connections one server holds at most; more are closed at once. */
export const HTTP_MAX_CONNECTIONS = 4096

/**
 * A bound from the environment, for tests that must outwait one (a request held past the idle
 * bound, slow headers closed): they set a short bound and prove the same thing in seconds, not
 * a minute. Only shorter: ignored unless an integer from 1000 ms to the bound it replaces.
 */
function envBoundMs(name: string, bound: number): number {
  const v = Number(process.env[name])
  return Number.isInteger(v) && v >= 1000 && v <= bound ? v : bound
}

/**
 * Fastify options carrying the bounds above; $DISTLAB_HTTP_IDLE_TIMEOUT_MS and
 * $DISTLAB_HTTP_HEADERS_TIMEOUT_MS shorten the idle and headers bounds.
 */
export function httpServerLimits(): HttpServerLimits {
  return {
    requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: HTTP_KEEPALIVE_TIMEOUT_MS,
    connectionTimeout: envBoundMs('DISTLAB_HTTP_IDLE_TIMEOUT_MS', HTTP_IDLE_TIMEOUT_MS),
    http: {
      requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
      headersTimeout: envBoundMs('DISTLAB_HTTP_HEADERS_TIMEOUT_MS', HTTP_HEADERS_TIMEOUT_MS),
      connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_MS,
    },
    schemaController: {
      compilersFactory: { buildValidator: noRouteSchemas, buildSerializer: noRouteSchemas },
    },
  }
}

/** Caps the open connections of `server` (every address together). */
export function capConnections(server: Server, max = HTTP_MAX_CONNECTIONS): void {
  server.maxConnections = max
}
