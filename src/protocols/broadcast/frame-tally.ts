// Frames this node sent for each broadcast message, so `send broadcast` can say what one broadcast
// cost: payload frames (the message itself, duplicates included) and control frames (IHAVE, GRAFT,
// receipts, the PRUNE a duplicate caused). A frame that carries several messages counts once for each.

/** Messages whose frames are tallied; the oldest is forgotten beyond this. */
export const MAX_TALLIED_MESSAGES = 10_000

/** The frame types tallied by type; a frame of another type counts only as payload or control. */
const FRAME_TYPES = ['msg', 'ip', 'ihave', 'graft', 'got', 'prune', 'digest'] as const
const PAYLOAD = 0
const CONTROL = 1
const FIRST_TYPE = 2

/**
 * Frames per message id. An entry is one small array, [payload, control, one count per
 * FRAME_TYPES], not an object holding a Map: every message a node passes on gets an entry that
 * lives until MAX_TALLIED_MESSAGES newer ones push it out, so under a flood of messages its size
 * is what the heap's old space churns through (issue 14 item 9).
 */
export class FrameTally {
  private readonly byId = new Map<string, number[]>()

  /** Counts one frame of `type` for each id in `ids`; payload when it carried the message. */
  note(type: string, ids: Iterable<string>, payload: boolean): void {
    const slot = (FRAME_TYPES as readonly string[]).indexOf(type)
    for (const id of ids) {
      let t = this.byId.get(id)
      if (!t) {
        if (this.byId.size >= MAX_TALLIED_MESSAGES) {
          const oldest = this.byId.keys().next().value
          if (oldest !== undefined) this.byId.delete(oldest)
        }
        t = new Array<number>(FIRST_TYPE + FRAME_TYPES.length).fill(0)
        this.byId.set(id, t)
      }
      t[payload ? PAYLOAD : CONTROL]!++
      if (slot >= 0) t[FIRST_TYPE + slot]!++
    }
  }

  /** What was sent for `id`, as JSON; zeros for a message this node never sent a frame for. */
  get(id: string): { id: string; payload: number; control: number; byType: Record<string, number> } {
    const t = this.byId.get(id)
    const byType: Record<string, number> = {}
    if (t) FRAME_TYPES.forEach((type, k) => t[FIRST_TYPE + k] && (byType[type] = t[FIRST_TYPE + k]!))
    return { id, payload: t?.[PAYLOAD] ?? 0, control: t?.[CONTROL] ?? 0, byType }
  }
}

/** The message ids a frame body names: `m` items, `[origin, seq]` pairs, or id strings. */
export function idsOfBody(type: string, body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return []
  const b = body as { m?: Array<{ o: string; q: number }>; i?: unknown[] }
  if (type === 'msg') return (b.m ?? []).map((w) => `${w.o}.${w.q}`)
  if (!Array.isArray(b.i)) return []
  return b.i.map((x) => (Array.isArray(x) ? `${String(x[0])}.${String(x[1])}` : String(x)))
}
