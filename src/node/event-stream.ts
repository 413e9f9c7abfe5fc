// Server-sent events (WHATWG HTML §9.2) on a Fastify route: the route gives up the reply and writes
// the stream itself, for as long as the client stays. The master's telemetry stream and the
// dashboard's both open theirs here.
import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'

/** Takes the response over from Fastify and sends the event-stream head; the caller writes events. */
export function openEventStream(reply: FastifyReply): ServerResponse {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  })
  return res
}
