// What multicast puts on the wire, for both of its kinds.
//
// Overlay group multicast sends no frame type of its own: a node's groups travel as a broadcast
// message of kind `group` (GroupState), and a message to a group travels to each member over the
// unicast channel's `data`/`ack` frames (../unicast/wire.ts), its value a GroupMessage. Both are
// checked on receipt; what does not fit is ignored (state) or dropped as `bad_body` (message).
//
// IP multicast sends plain datagrams, seed 001's: a JSON text or raw bytes. A receiver tells them
// apart with datagramKind.
import { z } from 'zod'
import { GROUP_NAME_PATTERN } from './constants.js'

/** The broadcast kind that carries a node's group membership. */
export const GROUP_STATE_KIND = 'group'

/** A node's whole set of groups, with a version that grows on every change. */
export const GroupState = z.lazy(() =>
  z.strictObject({
    groups: z.array(z.string().regex(GROUP_NAME_PATTERN)).max(1000),
    version: z.number().int().min(0),
  }),
)
export type GroupState = z.infer<typeof GroupState>

/** A message to a group, as the reliable channel carries it to one member: group and message. */
export const GroupMessage = z.lazy(() =>
  z.strictObject({ g: z.string().regex(GROUP_NAME_PATTERN), m: z.unknown() }),
)
export type GroupMessage = z.infer<typeof GroupMessage>

/** Seed 001's JSON payload, spelled as Python's json.dumps writes it. */
export const SEED_JSON_PAYLOAD = '{"sensor": "temp", "value": 23.5}'
/** Size of the binary blob the sender sends after the JSON, in bytes. */
export const BINARY_BLOB_BYTES = 64

/** The binary blob of the seed's sender: bytes that are neither UTF-8 text nor JSON. */
export function binaryBlob(bytes = BINARY_BLOB_BYTES): Buffer {
  return Buffer.from(Array.from({ length: bytes }, (_, i) => (0xff - i * 37) & 0xff))
}

/**
 * A datagram taken apart: JSON when its bytes survive a UTF-8 round trip and parse (then with the
 * text and the value), binary otherwise.
 */
export function datagramKind(
  buf: Buffer,
): { kind: 'json'; text: string; json: unknown } | { kind: 'binary' } {
  if (buf.length === 0) return { kind: 'binary' }
  const text = buf.toString('utf8')
  if (!Buffer.from(text, 'utf8').equals(buf)) return { kind: 'binary' }
  try {
    return { kind: 'json', text, json: JSON.parse(text) as unknown }
  } catch {
    return { kind: 'binary' }
  }
}
