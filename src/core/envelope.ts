// The one envelope every distlab protocol speaks node to node (DESIGN.md "Wire format").
import { randomUUID } from 'node:crypto'
import { z } from 'zod'

export const ENVELOPE_VERSION = 1

/** Destination of a message addressed to every node rather than one. */
export const BROADCAST_DST = '*'

export type Body = unknown

export interface Envelope<B = Body> {
  v: typeof ENVELOPE_VERSION
  /** Message id, unique per message; retransmissions keep it. */
  id: string
  /** Protocol name: `unicast`, `broadcast`, `heartbeat`, ... */
  proto: string
  /** The protocol's own message type: `data`, `ack`, `ihave`, ... */
  type: string
  /** Sender's node name. */
  src: string
  /** Receiver's node name, `*` for every node, or `group:<name>`. */
  dst: string
  /** Sender's wall clock, milliseconds since the epoch. */
  ts: number
  ttl?: number
  /** A JSON value, or raw bytes as a Uint8Array. */
  body: B
}

/**
 * What a decoder accepts as a header; anything else is dropped as `bad_header`. Built on its first
 * use, like every schema a node process holds: building them all as the modules load took ~25 ms
 * of a node's start (issue 17), before it could answer /health.
 */
export const HeaderSchema = z.lazy(() => {
  const name = z.string().min(1).max(128)
  return z.strictObject({
    v: z.literal(ENVELOPE_VERSION),
    id: z.string().min(1).max(64),
    proto: z.string().min(1).max(32),
    type: z.string().min(1).max(32),
    src: name,
    dst: name,
    ts: z.number().finite().nonnegative(),
    ttl: z.number().int().min(0).max(255).optional(),
  })
})

export type Header = z.infer<typeof HeaderSchema>

export interface EnvelopeInit<B> {
  proto: string
  type: string
  src: string
  dst: string
  body: B
  id?: string
  ttl?: number
  ts?: number
}

export function createEnvelope<B>(init: EnvelopeInit<B>): Envelope<B> {
  const env: Envelope<B> = {
    v: ENVELOPE_VERSION,
    id: init.id ?? randomUUID(),
    proto: init.proto,
    type: init.type,
    src: init.src,
    dst: init.dst,
    ts: init.ts ?? Date.now(),
    body: init.body,
  }
  if (init.ttl !== undefined) env.ttl = init.ttl
  return env
}
