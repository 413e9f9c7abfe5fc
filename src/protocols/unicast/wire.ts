// The unicast protocol's frames: `data` carries one message of a sender's session, `ack` confirms
// it (and, cumulatively, everything before it), `skip` tells a receiver that the sender gave up on
// everything below a base when no data frame is left to carry it. All are checked on receipt; a
// body that does not fit is dropped as `bad_body`.
import { randomBytes } from 'node:crypto'
import { z } from 'zod'

/** Frame types: a message and its acknowledgement. */
export const DATA = 'data'
export const ACK = 'ack'
export const SKIP = 'skip'

/**
 * A sender's session: its start time in base 36, a dash, random hex. It changes on every start, so
 * a receiver tells a restarted sender from replays of its old frames, and a later session from an
 * earlier one.
 */
export const SESSION = /^([0-9a-z]{1,12})-[0-9a-f]{1,16}$/

/** A new session name, started now. */
export const newSession = () => `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`

/** When a session started (ms since the epoch), read from its name; 0 for a name that is not one. */
export const sessionStart = (s: string) => parseInt(SESSION.exec(s)?.[1] ?? '0', 36)

/** The body of a `data` frame. */
export const DataBody = z.lazy(() =>
  z.strictObject({
    /** the sender's session */
    s: z.string().regex(SESSION),
    /** the message's sequence number in the session, from 0 */
    q: z.number().int().min(0),
    /** base: the sender gave up on every message below it (never above q) */
    b: z.number().int().min(0),
    /** the message */
    m: z.unknown(),
  }),
)
export type DataBody = z.infer<typeof DataBody>

/**
 * The body of a `skip` frame: the sender gave up on every message below b and has nothing in flight
 * to say so, so the receiver delivers what it holds behind the gap instead of waiting for good. It
 * is answered by an `ack` with q = b - 1 and c at least b.
 */
export const SkipBody = z.lazy(() =>
  z.strictObject({
    /** the sender's session */
    s: z.string().regex(SESSION),
    /** base: the sender gave up on every message below it */
    b: z.number().int().min(1),
  }),
)
export type SkipBody = z.infer<typeof SkipBody>

/** The body of an `ack` frame. */
export const AckBody = z.lazy(() =>
  z.strictObject({
    /** the session of the data frame it answers */
    s: z.string().min(1).max(32),
    /** the sequence number it answers */
    q: z.number().int().min(0),
    /** cumulative: the receiver has delivered every message below c */
    c: z.number().int().min(0),
  }),
)
export type AckBody = z.infer<typeof AckBody>
