// The frame types and bodies of the broadcast protocol, checked on receipt (every body is hostile),
// and the names a message goes by on every node.
import { z } from 'zod'
import * as K from './constants.js'
import { STRATEGIES } from './options.js'

/**
 * The frame types: `msg` carries messages (MsgBody; the ip strategy's datagrams are `msg` frames
 * too), `ihave` announces ids (IhaveBody), `graft` asks for them (GraftBody), `prune` (empty body)
 * takes the receiver off the sender's tree, `got` confirms receipt (GotBody), `digest` is an
 * anti-entropy summary (DigestBody).
 */
export const FRAME_TYPES = ['msg', 'ihave', 'graft', 'prune', 'got', 'digest'] as const
export type FrameType = (typeof FRAME_TYPES)[number]

/** A message on the wire: origin key, sequence, value, strategy, kind, sent-at, hops. */
export const WireItem = z.strictObject({
  o: z.string().min(1).max(100),
  q: z.number().int().min(0),
  v: z.unknown(),
  s: z.enum(STRATEGIES),
  k: z.literal('g').optional(),
  t: z.number().finite().nonnegative(),
  h: z.number().int().min(0).max(10_000),
})
export type WireItem = z.infer<typeof WireItem>
export const MsgBody = z.strictObject({
  m: z.array(WireItem).min(1).max(10_000),
  /** Ids the receiver should confirm with a `got`. */
  r: z.array(z.string().max(128)).max(10_000).optional(),
  /** Receipts riding on this frame: ids the sender holds, that the receiver asked it to confirm. */
  g: z.array(z.string().max(128)).max(10_000).optional(),
  /**
   * Not an eager push, so duplicates from it are no reason to prune. 1: the answer to a GRAFT (the
   * receiver passes it on down the tree); 2: a repair copy (anti-entropy, a durable broadcast's
   * retry) that the receiver only delivers: passing it on would make cycles in the tree.
   */
  a: z.union([z.literal(1), z.literal(2)]).optional(),
  /** On the last frame of an anti-entropy answer that stopped short: ask again, there is more. */
  n: z.literal(1).optional(),
  /** The ip strategy's cluster key. */
  c: z.string().max(300).optional(),
})
export const IdList = z
  .array(z.tuple([z.string().min(1).max(100), z.number().int().min(0)]))
  .max(K.MAX_IDS_PER_FRAME)
export const IhaveBody = z.strictObject({
  i: IdList,
  h: z.array(z.number().int().min(0)).max(K.MAX_IDS_PER_FRAME),
})
export const GraftBody = z.strictObject({ i: IdList })

/**
 * An IHAVE body checked in place (what IhaveBody accepts), without the copy a schema parse makes of
 * every id pair: IHAVE floods are the cheapest frames to send in bulk, so reading one allocates
 * nothing beyond the decoded JSON.
 */
export function readIhave(
  body: unknown,
): { i: ReadonlyArray<[string, number]>; h: readonly number[] } | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const b = body as { i?: unknown; h?: unknown }
  if (Object.keys(b).length !== 2 || !Array.isArray(b.i) || !Array.isArray(b.h)) return undefined
  const { i, h } = b as { i: unknown[]; h: unknown[] }
  if (i.length > K.MAX_IDS_PER_FRAME || h.length !== i.length) return undefined
  for (let n = 0; n < i.length; n++) {
    const id = i[n]
    const hops = h[n]
    if (!Array.isArray(id) || id.length !== 2) return undefined
    const [origin, seq] = id as unknown[]
    if (typeof origin !== 'string' || origin.length < 1 || origin.length > 100) return undefined
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) return undefined
    if (!Number.isSafeInteger(hops) || (hops as number) < 0) return undefined
  }
  return { i: i as Array<[string, number]>, h: h as number[] }
}
export const GotBody = z.strictObject({ i: z.array(z.string().max(128)).max(10_000) })
/** Per origin: [n, ...extra] = holds every seq below n, and each extra seq. */
export const DigestBody = z.strictObject({
  d: z.record(z.string().max(100), z.array(z.number().int().min(0)).min(1).max(100_000)),
  r: z.literal(1).optional(),
})

export const idOf = (origin: string, seq: number) => `${origin}.${seq}`
export const nameOf = (origin: string) => origin.split('~')[0] ?? origin
