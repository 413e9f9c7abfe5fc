// Cooperative download (seed 003): the line server's SUBMIT reply, taken apart.
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
