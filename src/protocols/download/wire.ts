// What goes over the wire in seed 003's cooperative download: the line server's text protocol, and
// the cooperating clients' own channel.
//
// The line protocol ("vayu"), one command per '\n'-terminated line (a trailing '\r' or spaces are
// ignored):
//
//   SENDLINE                        → <n>\n<text>\n   a uniformly random line, or -1\n\n over the rate
//   SUBMIT\n<id>\n<count>\n then <count> pairs <n>\n<text>\n
//                                   → SUBMIT SUCCESS: <id> - <addr> - <correct>, <incorrect>, <read>, <served>, <seconds>\n
//                                     or SUBMIT FAILED: <id> - <reason>\n
//   SESSION RESET                   → Ok\n
//   anything else                   → ERROR: <reason>\n   (the connection stays usable)
//
// In SUBMIT SUCCESS, <correct> pairs match the text, <incorrect> do not (wrong text, a number out of
// range, or a number already submitted), <read> is the pairs read; then the lines served to this
// address in its session and the seconds since its first SENDLINE.
//
// The channel: newline-delimited JSON over TCP, one ChannelMessage per line, checked on receipt.
import { z } from 'zod'

/** The line protocol's commands. */
export const SENDLINE = 'SENDLINE'
export const SUBMIT = 'SUBMIT'
export const SESSION_RESET = 'SESSION RESET'

/** The reply to a SENDLINE over the rate limit. */
export const RATE_LIMITED_REPLY = '-1\n\n'
/** The reply to SESSION RESET. */
export const SESSION_RESET_REPLY = 'Ok\n'
/** How an error reply starts. */
export const ERROR_PREFIX = 'ERROR:'

/** The reply to a SENDLINE that hands out line `n`. */
export const servedLineReply = (n: number, text: string) => `${n}\n${text}\n`
/** An error reply (the connection stays usable, unless the server cut it off). */
export const errorReply = (reason: string) => `${ERROR_PREFIX} ${reason}\n`

export interface SubmitSuccess {
  id: string
  address: string
  correct: number
  incorrect: number
  read: number
  served: number
  seconds: number
}

export const submitSuccessReply = (s: SubmitSuccess) =>
  `SUBMIT SUCCESS: ${s.id} - ${s.address} - ${s.correct}, ${s.incorrect}, ${s.read}, ${s.served}, ${s.seconds.toFixed(3)}\n`
export const submitFailedReply = (id: string, reason: string) => `SUBMIT FAILED: ${id} - ${reason}\n`

/** A SUBMIT request of `lines` (all of them, in the order given) under `id`. */
export function submitRequest(id: string, lines: Iterable<{ n: number; text: string }>): string {
  const body: string[] = []
  let count = 0
  for (const l of lines) {
    body.push(`${l.n}\n${l.text}\n`)
    count++
  }
  return `${SUBMIT}\n${id}\n${count}\n${body.join('')}`
}

/** The line number of a SENDLINE reply's first line (-1: over the rate), or undefined when it is none. */
export function parseLineNumber(line: string): number | undefined {
  const t = line.trim()
  return /^-?\d+$/.test(t) ? Number(t) : undefined
}

/** SUBMIT SUCCESS/FAILED reply, taken apart. */
export interface SubmitReply {
  ok: boolean
  id: string
  address?: string
  correct?: number
  incorrect?: number
  read?: number
  reason?: string
}

export function parseSubmitReply(reply: string): SubmitReply | undefined {
  let m = /^SUBMIT SUCCESS: (.*) - (\S+) - (\d+), (\d+), (\d+)(?:,.*)?$/.exec(reply)
  if (m) return { ok: true, id: m[1]!, address: m[2]!, correct: +m[3]!, incorrect: +m[4]!, read: +m[5]! }
  m = /^SUBMIT FAILED: (.*?) - (.*)$/.exec(reply)
  if (m) return { ok: false, id: m[1]!, reason: m[2]! }
  return undefined
}

/** Longest channel message in bytes (a batch of lines is split well below this). */
export const MAX_CHANNEL_MESSAGE_BYTES = 8 * 1024 * 1024

const count = z.number().int().min(0)
/** A message between cooperating clients. */
export const ChannelMessage = z.discriminatedUnion('t', [
  /** member → master: I am client `rank`; may I join? */
  z.object({ t: z.literal('hello'), rank: count }),
  /** master → member: joined; the master holds `have` lines */
  z.object({ t: z.literal('welcome'), rank: count, have: count }),
  /** → a client that asked a non-master */
  z.object({ t: z.literal('not-master') }),
  /** member → master: one line it fetched */
  z.object({ t: z.literal('line'), n: z.number().int(), text: z.string() }),
  /** member → master: a batch of lines it holds, [n, text] each */
  z.object({ t: z.literal('lines'), lines: z.array(z.tuple([z.number().int(), z.string()])).max(100_000) }),
  /** master → members: the text is complete (stop fetching) */
  z.object({ t: z.literal('complete'), lines: count }),
  /** master → members: the master submitted; its reply line */
  z.object({ t: z.literal('submitted'), reply: z.string() }),
])
export type ChannelMessage = z.infer<typeof ChannelMessage>

export const encodeChannelMessage = (m: ChannelMessage) => JSON.stringify(m) + '\n'

/** One channel line taken apart, or undefined for a line that is not a channel message. */
export function decodeChannelMessage(line: string): ChannelMessage | undefined {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return undefined
  }
  const r = ChannelMessage.safeParse(v)
  return r.success ? r.data : undefined
}
