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
export const WireItem = z.lazy(() =>
  z.strictObject({
    o: z.string().min(1).max(100),
    q: z.number().int().min(0),
    v: z.unknown(),
    s: z.enum(STRATEGIES),
    k: z.literal('g').optional(),
    t: z.number().finite().nonnegative(),
    h: z.number().int().min(0).max(10_000),
  }),
)
export type WireItem = z.infer<typeof WireItem>
export const MsgBody = z.lazy(() =>
  z.strictObject({
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
  }),
)
export type MsgBody = z.infer<typeof MsgBody>

const MSG_KEYS = new Set(['m', 'r', 'g', 'a', 'n', 'c'])
const ITEM_KEYS = new Set(['o', 'q', 'v', 's', 'k', 't', 'h'])

/** A list of ids as MsgBody's `r` and `g` take it: up to 10,000 strings of up to 128 characters. */
const isIdStrings = (x: unknown): x is string[] =>
  Array.isArray(x) && x.length <= 10_000 && x.every((id) => typeof id === 'string' && id.length <= 128)

/** One message as WireItem accepts it (strict: no other keys), checked in place. */
function isWireItem(x: unknown): x is WireItem {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  const w = x as Record<string, unknown>
  let keys = 0
  for (const key in w) {
    if (!Object.hasOwn(w, key)) continue
    if (!ITEM_KEYS.has(key)) return false
    keys++
  }
  const { o, q, s, k, t, h } = w
  return (
    keys === ('k' in w ? 7 : 6) &&
    'v' in w &&
    typeof o === 'string' &&
    o.length >= 1 &&
    o.length <= 100 &&
    Number.isSafeInteger(q) &&
    (q as number) >= 0 &&
    (STRATEGIES as readonly unknown[]).includes(s) &&
    (k === undefined || k === 'g') &&
    typeof t === 'number' &&
    Number.isFinite(t) &&
    t >= 0 &&
    Number.isSafeInteger(h) &&
    (h as number) >= 0 &&
    (h as number) <= 10_000
  )
}

/**
 * A msg body checked in place (what MsgBody accepts, tested side by side in
 * test/protocols/broadcast/wire.test.ts), without the copy a schema parse makes of every message:
 * a frame of 1000 messages parsed by the schema allocated several times the decoded JSON, most of
 * a flooded node's garbage (issue 14 item 9). The body is the frame's own decoded JSON, not copied:
 * callers must not change it.
 */
export function readMsg(body: unknown): MsgBody | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const b = body as Record<string, unknown>
  for (const key in b) if (Object.hasOwn(b, key) && !MSG_KEYS.has(key)) return undefined
  const { m, r, g, a, n, c } = b
  if (!Array.isArray(m) || m.length < 1 || m.length > 10_000) return undefined
  for (let i = 0; i < m.length; i++) if (!isWireItem(m[i])) return undefined
  if (r !== undefined && !isIdStrings(r)) return undefined
  if (g !== undefined && !isIdStrings(g)) return undefined
  if (a !== undefined && a !== 1 && a !== 2) return undefined
  if (n !== undefined && n !== 1) return undefined
  if (c !== undefined && !(typeof c === 'string' && c.length <= 300)) return undefined
  return b as MsgBody
}
export const IdList = z.lazy(() =>
  z.array(z.tuple([z.string().min(1).max(100), z.number().int().min(0)])).max(K.MAX_IDS_PER_FRAME),
)
export const IhaveBody = z.lazy(() =>
  z.strictObject({
    i: IdList,
    h: z.array(z.number().int().min(0)).max(K.MAX_IDS_PER_FRAME),
  }),
)
export const GraftBody = z.lazy(() => z.strictObject({ i: IdList }))

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
export const GotBody = z.lazy(() => z.strictObject({ i: z.array(z.string().max(128)).max(10_000) }))
/**
 * Per origin: [n, lo1, hi1, lo2, hi2, ...] = holds every seq below n, and every seq of each range
 * [lo, hi) above it (a sender's ranges are ascending and disjoint; a receiver sorts and clips them
 * anyway: see digestRanges).
 */
export const DigestBody = z.lazy(() =>
  z.strictObject({
    d: z.record(
      z.string().max(100),
      z
        .array(z.number().int().min(0))
        .min(1)
        .max(100_001)
        .refine((a) => a.length % 2 === 1, 'ranges come in pairs'),
    ),
    r: z.literal(1).optional(),
  }),
)

/**
 * The ranges of a digest entry from a peer, made ascending and disjoint (a peer's list is hostile:
 * unsorted or overlapping ranges must not make counts go wrong), each above `contiguous`.
 */
export function digestRanges(list: readonly number[]): number[] {
  const contiguous = list[0] ?? 0
  const pairs: Array<[number, number]> = []
  let sorted = true
  for (let i = 1; i + 1 < list.length; i += 2) {
    const lo = Math.max(list[i]!, contiguous)
    const hi = list[i + 1]!
    if (hi <= lo) continue
    if (pairs.length && lo < pairs[pairs.length - 1]![1]) sorted = false
    pairs.push([lo, hi])
  }
  if (!sorted) pairs.sort((a, b) => a[0] - b[0])
  const out: number[] = []
  for (const [lo, hi] of pairs) {
    const last = out.length - 1
    if (last > 0 && lo <= out[last]!) out[last] = Math.max(out[last]!, hi)
    else out.push(lo, hi)
  }
  return out
}

/** Whether `seq` falls in `ranges` (pairs lo, hi; ascending and disjoint): a binary search. */
export function inRanges(ranges: readonly number[], seq: number): boolean {
  let a = 0
  let b = ranges.length / 2 - 1
  while (a <= b) {
    const mid = (a + b) >> 1
    if (seq < ranges[2 * mid]!) b = mid - 1
    else if (seq >= ranges[2 * mid + 1]!) a = mid + 1
    else return true
  }
  return false
}

export const idOf = (origin: string, seq: number) => `${origin}.${seq}`
export const nameOf = (origin: string) => origin.split('~')[0] ?? origin
