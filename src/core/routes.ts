// How a protocol (or any part below the node's HTTP server) adds endpoints to the node's HTTP API
// without importing the server: `RouteHost` is the narrow view of it they see. The node's Fastify
// instance satisfies it as it is (node/http.ts hands it in); a test may hand in its own. The body
// parser lives here too, so a route handler checks bodies exactly as the node's own routes do.
import type { z } from 'zod'
import { HttpBodyError } from './errors.js'

/** The part of a request a route handler reads. */
export interface RouteRequest {
  /** The parsed JSON body (hostile: check it with `parseBody`). */
  readonly body: unknown
  /** The query string, parsed (hostile too). */
  readonly query: unknown
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The route's pattern (e.g. `/register`), for metrics labels. */
  readonly routeOptions: { readonly url?: string }
  /** The underlying request: its connection, for a route that answers late (`allowLateAnswer`). */
  readonly raw?: { readonly socket: { setTimeout(ms: number): unknown } | null }
}

/** The part of a reply a route handler sets; a handler may also just return the answer's body. */
export interface RouteReply {
  code(status: number): RouteReply
  type(contentType: string): RouteReply
  header(name: string, value: string): RouteReply
  send(payload?: unknown): RouteReply
}

/** Answers one request: returns the JSON body, or the reply after `send`. */
export type RouteHandler = (req: RouteRequest, reply: RouteReply) => Promise<unknown>

/** Per-route options. */
export interface RouteOptions {
  /** Largest request body, in bytes, when the route needs another than the server's. */
  bodyLimit?: number
}

/**
 * What a protocol may do to the node's HTTP API: add routes. A route that throws an
 * `HttpBodyError` (`parseBody`'s) or another `DistlabError` answers 400 with
 * `{ error, message, field? }`, as every route of the node does.
 */
export interface RouteHost {
  get(path: string, handler: RouteHandler): unknown
  post(path: string, handler: RouteHandler): unknown
  post(path: string, options: RouteOptions, handler: RouteHandler): unknown
  put(path: string, handler: RouteHandler): unknown
  delete(path: string, handler: RouteHandler): unknown
}

/** Parses a request body with a zod schema; a failure names the first bad field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body)
  if (r.success) return r.data
  const issue = r.error.issues[0]
  const field = issue?.path.join('.') || 'body'
  throw new HttpBodyError(`${field}: ${issue?.message ?? 'invalid'}`, field)
}

/** Time beyond a route's own wait that its connection stays open for the answer, ms. */
const LATE_ANSWER_MARGIN_MS = 10_000

/**
 * Keeps one request's connection open while its route waits up to `waitMs` to answer (a send that
 * waits for its acknowledgement): the node's server closes a connection with no traffic either way
 * after 60 s (node/http-limits.ts), which would cut a longer wait off without an answer. After the
 * answer the server's keep-alive bound applies again.
 */
export function allowLateAnswer(req: RouteRequest, waitMs: number): void {
  req.raw?.socket?.setTimeout(waitMs + LATE_ANSWER_MARGIN_MS)
}
