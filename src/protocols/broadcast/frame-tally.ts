// Frames this node sent for each broadcast message, so `send broadcast` can say what one broadcast
// cost: payload frames (the message itself, duplicates included) and control frames (IHAVE, GRAFT,
// receipts, the PRUNE a duplicate caused). A frame that carries several messages counts once for each.

/** Messages whose frames are tallied; the oldest is forgotten beyond this. */
export const MAX_TALLIED_MESSAGES = 10_000

export interface MessageFrames {
  /** Frames that carried the message itself (eager pushes, repair copies, the ip datagram). */
  payload: number
  /** Frames that named it without carrying it: ihave, graft, got, prune. */
  control: number
  /** The same, by frame type. */
  byType: Map<string, number>
}

export class FrameTally {
  private readonly byId = new Map<string, MessageFrames>()

  /** Counts one frame of `type` for each id in `ids`; payload when it carried the message. */
  note(type: string, ids: Iterable<string>, payload: boolean): void {
    for (const id of ids) {
      let t = this.byId.get(id)
      if (!t) {
        if (this.byId.size >= MAX_TALLIED_MESSAGES) {
          const oldest = this.byId.keys().next().value
          if (oldest !== undefined) this.byId.delete(oldest)
        }
        t = { payload: 0, control: 0, byType: new Map() }
        this.byId.set(id, t)
      }
      if (payload) t.payload++
      else t.control++
      t.byType.set(type, (t.byType.get(type) ?? 0) + 1)
    }
  }

  /** What was sent for `id`, as JSON; zeros for a message this node never sent a frame for. */
  get(id: string): { id: string; payload: number; control: number; byType: Record<string, number> } {
    const t = this.byId.get(id)
    const byType: Record<string, number> = {}
    if (t) for (const [type, n] of t.byType) byType[type] = n
    return { id, payload: t?.payload ?? 0, control: t?.control ?? 0, byType }
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
