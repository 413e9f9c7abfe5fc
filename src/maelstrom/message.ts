// Maelstrom's message, as its protocol document gives it: one JSON object per line,
// `{"src", "dest", "body": {"type", "msg_id"?, "in_reply_to"?, ...}}`. What a node program prints is
// hostile input: it is size-checked, parsed, depth-checked and shape-checked before anyone routes it.
import { MAX_BODY_DEPTH, MAX_LINE_BYTES } from './constants.js'

export interface MaelstromBody {
  type: string
  msg_id?: number
  in_reply_to?: number
  [field: string]: unknown
}

export interface MaelstromMessage {
  /** Optional in Maelstrom's own messages (it numbers them); kept when present. */
  id?: number
  src: string
  dest: string
  body: MaelstromBody
}

/** Node, client and service ids: `n0`, `c3`, `lin-kv`. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/
const TYPE_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/

export type ParseResult = { ok: true; msg: MaelstromMessage } | { ok: false; reason: string }

/** True when `v`'s nesting is at most `max` levels; iterative, so hostile depth cannot blow the stack. */
export function depthWithin(v: unknown, max: number): boolean {
  const stack: Array<{ v: unknown; d: number }> = [{ v, d: 0 }]
  while (stack.length > 0) {
    const { v: x, d } = stack.pop()!
    if (x === null || typeof x !== 'object') continue
    if (d >= max) return false
    for (const child of Array.isArray(x) ? x : Object.values(x as Record<string, unknown>))
      if (child !== null && typeof child === 'object') stack.push({ v: child, d: d + 1 })
  }
  return true
}

/** Checks a parsed value is a Maelstrom message; the reason names the field when it is not. */
export function checkMessage(v: unknown): ParseResult {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return { ok: false, reason: 'not a JSON object' }
  const m = v as Record<string, unknown>
  if (typeof m.src !== 'string' || !ID_PATTERN.test(m.src)) return { ok: false, reason: 'bad or missing src' }
  if (typeof m.dest !== 'string' || !ID_PATTERN.test(m.dest))
    return { ok: false, reason: 'bad or missing dest' }
  const body = m.body
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return { ok: false, reason: 'body is not an object' }
  const b = body as Record<string, unknown>
  if (typeof b.type !== 'string' || !TYPE_PATTERN.test(b.type))
    return { ok: false, reason: 'bad or missing body.type' }
  for (const f of ['msg_id', 'in_reply_to'] as const)
    if (b[f] !== undefined && b[f] !== null && (typeof b[f] !== 'number' || !Number.isFinite(b[f])))
      return { ok: false, reason: `body.${f} is not a number` }
  if (!depthWithin(body, MAX_BODY_DEPTH))
    return { ok: false, reason: `body nests deeper than ${MAX_BODY_DEPTH}` }
  const msg: MaelstromMessage = { src: m.src, dest: m.dest, body: b as MaelstromBody }
  if (typeof m.id === 'number') msg.id = m.id
  return { ok: true, msg }
}

/** Parses one line a node program printed. */
export function parseLine(line: string): ParseResult {
  if (line.length > MAX_LINE_BYTES) return { ok: false, reason: `line longer than ${MAX_LINE_BYTES} bytes` }
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  return checkMessage(v)
}

/** `n3` → 3; anything else → undefined. */
export function serverIndex(id: string): number | undefined {
  const m = /^n(0|[1-9][0-9]{0,5})$/.exec(id)
  return m ? Number(m[1]) : undefined
}

/** Maelstrom id of the node program wrapped by distlab node `nodeK` (1-based): `n{K-1}`. */
export function maelstromId(distlabName: string): string | undefined {
  const m = /^node([1-9][0-9]*)$/.exec(distlabName)
  return m ? `n${Number(m[1]) - 1}` : undefined
}

/** The distlab node that wraps Maelstrom node `nK`: `node{K+1}`. */
export function distlabName(maelstromNodeId: string): string | undefined {
  const i = serverIndex(maelstromNodeId)
  return i === undefined ? undefined : `node${i + 1}`
}

/** Maelstrom's error body. */
export function errorBody(inReplyTo: number | undefined, code: number, text: string): MaelstromBody {
  const b: MaelstromBody = { type: 'error', code, text }
  if (inReplyTo !== undefined) b.in_reply_to = inReplyTo
  return b
}
