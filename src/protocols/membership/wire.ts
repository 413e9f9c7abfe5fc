// The membership protocol's frame bodies. Every body that comes off the wire is checked against
// these schemas; one that does not fit is dropped and counted by the node.
import { z } from 'zod'
import { MAX_MEMBERS, MAX_MESSAGE_CHARS, MAX_UPDATES_PER_FRAME, MAX_URL_LENGTH } from './constants.js'

/** One member's state as gossip carries it (short keys keep a datagram small). */
export const WireMemberSchema = z.lazy(() =>
  z.object({
    /** status: alive, suspect, dead */
    s: z.enum(['a', 's', 'd']),
    /** node name (frames are addressed by name) */
    n: z.string().min(1).max(128),
    /** the peer URL seed 002 lists in GET /peers */
    u: z.string().min(1).max(MAX_URL_LENGTH),
    /** node id (UUID) */
    i: z.string().min(1).max(64),
    /** frame host and port */
    h: z.string().min(1).max(255),
    p: z.number().int().min(1).max(65535),
    /** generation: when this run of the node started, ms since the epoch; a restart makes it larger */
    g: z.number().int().nonnegative(),
    /** incarnation: bumped by the member itself to refute a suspicion */
    c: z.number().int().nonnegative(),
    /** with s: the name of the member that suspects it (Lifeguard counts independent confirmations) */
    f: z.string().min(1).max(128).optional(),
  }),
)
export type WireMember = z.infer<typeof WireMemberSchema>

/** A message broadcast to every peer by epidemic gossip (`distlab p2p broadcast`). */
export const WireMessageSchema = z.lazy(() =>
  z.object({
    s: z.literal('m'),
    /** message id */
    m: z.string().min(1).max(64),
    /** sender's name */
    f: z.string().min(1).max(128),
    /** text */
    t: z.string().max(MAX_MESSAGE_CHARS),
  }),
)
export type WireMessage = z.infer<typeof WireMessageSchema>

export const UpdateSchema = z.lazy(() => z.union([WireMemberSchema, WireMessageSchema]))
export type Update = WireMember | WireMessage

const Updates = z.lazy(() => z.array(UpdateSchema).max(MAX_UPDATES_PER_FRAME).optional())

export const PingSchema = z.lazy(() => z.object({ seq: z.number().int().nonnegative(), u: Updates }))
export const AckSchema = PingSchema
export const PingReqSchema = z.lazy(() =>
  z.object({
    seq: z.number().int().nonnegative(),
    t: z.object({
      n: z.string().min(1).max(128),
      h: z.string().min(1).max(255),
      p: z.number().int().min(1).max(65535),
    }),
    u: Updates,
  }),
)
export const GossipSchema = z.lazy(() => z.object({ u: z.array(UpdateSchema).max(MAX_UPDATES_PER_FRAME) }))
export const PushPullSchema = z.lazy(() =>
  z
    .object({
      /** the sender's whole view (itself included); absent when it sends only its digest */
      m: z
        .array(WireMemberSchema)
        .max(MAX_MEMBERS + 1)
        .optional(),
      /** digest of the sender's view: a receiver whose view has the same digest has nothing to swap */
      d: z.string().min(1).max(64).optional(),
      /** 1: the sender wants the receiver's whole view back */
      w: z.literal(1).optional(),
      /** where to send the answer (a TCP frame's source port is not the sender's frame port) */
      from: z.object({ h: z.string().min(1).max(255), p: z.number().int().min(1).max(65535) }).optional(),
    })
    // a body with neither a view nor a digest says nothing: checkPushPull refuses it too
    .refine((b) => b.m !== undefined || b.d !== undefined, {
      message: 'a view (m) or a digest (d)',
      path: ['m'],
    }),
)

/** GET /membership/self: what a registry checks before it admits a registered URL. */
export const SelfInfoSchema = z.lazy(() =>
  z.object({
    name: z.string().min(1).max(128),
    id: z.string().min(1).max(64),
    url: z.string().min(1).max(MAX_URL_LENGTH),
    host: z.string().min(1).max(255),
    framePort: z.number().int().min(1).max(65535),
    gen: z.number().int().nonnegative(),
    inc: z.number().int().nonnegative(),
    registry: z.boolean(),
  }),
)
export type SelfInfo = z.infer<typeof SelfInfoSchema>

// ---- hand-written checks for the hot path ----
// A thousand members in one process parse millions of updates while they join; these checks do what
// the schemas above say at a tenth of the cost (the schemas stay the reference, and the tests hold
// the two to the same answers).

export class WireError extends Error {
  constructor(readonly field: string) {
    super(`bad membership frame: ${field}`)
    this.name = 'WireError'
  }
}

const isStr = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isPort = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535

export function checkMember(x: unknown, field = 'member'): WireMember {
  const o = x as Record<string, unknown> | null
  if (typeof o !== 'object' || o === null) throw new WireError(field)
  if (o.s !== 'a' && o.s !== 's' && o.s !== 'd') throw new WireError(`${field}.s`)
  if (!isStr(o.n, 128)) throw new WireError(`${field}.n`)
  if (!isStr(o.u, MAX_URL_LENGTH)) throw new WireError(`${field}.u`)
  if (!isStr(o.i, 64)) throw new WireError(`${field}.i`)
  if (!isStr(o.h, 255)) throw new WireError(`${field}.h`)
  if (!isPort(o.p)) throw new WireError(`${field}.p`)
  if (!isUint(o.g)) throw new WireError(`${field}.g`)
  if (!isUint(o.c)) throw new WireError(`${field}.c`)
  if (o.f !== undefined && !isStr(o.f, 128)) throw new WireError(`${field}.f`)
  const m: WireMember = { s: o.s, n: o.n, u: o.u, i: o.i, h: o.h, p: o.p, g: o.g, c: o.c }
  if (o.f !== undefined) m.f = o.f
  return m
}

export function checkUpdate(x: unknown, field = 'update'): Update {
  const o = x as Record<string, unknown> | null
  if (typeof o === 'object' && o !== null && o.s === 'm') {
    if (!isStr(o.m, 64)) throw new WireError(`${field}.m`)
    if (!isStr(o.f, 128)) throw new WireError(`${field}.f`)
    if (typeof o.t !== 'string' || o.t.length > MAX_MESSAGE_CHARS) throw new WireError(`${field}.t`)
    return { s: 'm', m: o.m, f: o.f, t: o.t }
  }
  return checkMember(x, field)
}

function list<T>(x: unknown, max: number, field: string, check: (v: unknown, f: string) => T): T[] {
  if (!Array.isArray(x) || x.length > max) throw new WireError(field)
  return x.map((v) => check(v, field))
}

function body(x: unknown): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new WireError('body')
  return x as Record<string, unknown>
}

/** ping and ack: `{seq, u?}` */
export function checkProbe(x: unknown): { seq: number; u?: Update[] } {
  const o = body(x)
  if (!isUint(o.seq)) throw new WireError('seq')
  return { seq: o.seq, u: o.u === undefined ? undefined : list(o.u, MAX_UPDATES_PER_FRAME, 'u', checkUpdate) }
}

/** ping-req: `{seq, t: {n, h, p}, u?}` */
export function checkPingReq(x: unknown): {
  seq: number
  t: { n: string; h: string; p: number }
  u?: Update[]
} {
  const o = body(x)
  const probe = checkProbe(x)
  const t = o.t as Record<string, unknown> | null
  if (typeof t !== 'object' || t === null || !isStr(t.n, 128) || !isStr(t.h, 255) || !isPort(t.p))
    throw new WireError('t')
  return { ...probe, t: { n: t.n, h: t.h, p: t.p } }
}

/** gossip: `{u}` */
export function checkGossip(x: unknown): { u: Update[] } {
  return { u: list(body(x).u, MAX_UPDATES_PER_FRAME, 'u', checkUpdate) }
}

export interface PushPullBody {
  m?: WireMember[]
  d?: string
  w?: 1
  from?: { h: string; p: number }
}

/** pp and pp-ack: `{m?, d?, w?, from?}`, with at least a view or a digest */
export function checkPushPull(x: unknown): PushPullBody {
  const o = body(x)
  const out: PushPullBody = {}
  if (o.m !== undefined) out.m = list(o.m, MAX_MEMBERS + 1, 'm', checkMember)
  if (o.d !== undefined) {
    if (!isStr(o.d, 64)) throw new WireError('d')
    out.d = o.d
  }
  if (out.m === undefined && out.d === undefined) throw new WireError('m')
  if (o.w !== undefined) {
    if (o.w !== 1) throw new WireError('w')
    out.w = 1
  }
  if (o.from === undefined) return out
  const f = o.from as Record<string, unknown> | null
  if (typeof f !== 'object' || f === null || !isStr(f.h, 255) || !isPort(f.p)) throw new WireError('from')
  out.from = { h: f.h, p: f.p }
  return out
}
