// Maelstrom's services, the key-value stores and the timestamp oracle a node program calls by name
// (its doc/services.md): `lin-kv` (linearizable), `seq-kv` (sequentially consistent: a client may
// read the past, never going backwards), `lww-kv` (last-write-wins, reads may be stale), `lin-tso`
// (strictly increasing timestamps). Requests: read {key} -> read_ok {value}; write {key, value} ->
// write_ok; cas {key, from, to, create_if_not_exists?} -> cas_ok; ts -> ts_ok {ts}. Errors use
// Maelstrom's codes: 20 key-does-not-exist, 22 precondition-failed, 10 not-supported, 12 malformed.
import { MaelstromErrorCode } from './history.js'
import { errorBody, type MaelstromBody, type MaelstromMessage } from './message.js'

export const SERVICE_NAMES = ['lin-kv', 'seq-kv', 'lww-kv', 'lin-tso'] as const
export type ServiceName = (typeof SERVICE_NAMES)[number]

/** Keys one store holds at most; beyond it writes of new keys are refused (11, temporarily unavailable). */
export const MAX_SERVICE_KEYS = 100_000
/** Past versions kept per key for the stale reads of seq-kv and lww-kv. */
export const VERSIONS_PER_KEY = 16
/** How far back (in writes to the store) a seq-kv or lww-kv read may look. */
export const STALENESS_WRITES = 8

export interface Service {
  readonly name: ServiceName
  /** Answers one request; the reply body (with in_reply_to set), or undefined for no reply. */
  handle(msg: MaelstromMessage): MaelstromBody | undefined
}

const keyOf = (k: unknown) => JSON.stringify(k ?? null)
const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

function reply(req: MaelstromBody, body: Record<string, unknown>): MaelstromBody {
  const out: MaelstromBody = { ...body, type: String(body.type) }
  if (typeof req.msg_id === 'number') out.in_reply_to = req.msg_id
  return out
}

interface Version {
  version: number
  value: unknown
}

/**
 * A key-value store with its recent past. `pickVersion` decides which version of the store a read
 * sees: the latest for lin-kv, any not older than the caller's last view for seq-kv, a recent one
 * for lww-kv. Writes and cas always act on the latest state.
 */
class KvService implements Service {
  private readonly keys = new Map<string, Version[]>()
  private version = 0
  /** seq-kv: per caller, the oldest version it may still see (it never goes backwards). */
  private readonly floor = new Map<string, number>()

  constructor(
    readonly name: 'lin-kv' | 'seq-kv' | 'lww-kv',
    private readonly random: () => number = Math.random,
  ) {}

  private pickVersion(caller: string): number {
    if (this.name === 'lin-kv') return this.version
    const recent = Math.max(0, this.version - STALENESS_WRITES)
    const lo = this.name === 'seq-kv' ? Math.max(this.floor.get(caller) ?? 0, recent) : recent
    const v = lo + Math.floor(this.random() * (this.version - lo + 1))
    if (this.name === 'seq-kv') this.see(caller, v)
    return v
  }

  private see(caller: string, v: number): void {
    if (this.floor.size >= MAX_SERVICE_KEYS && !this.floor.has(caller)) return
    this.floor.set(caller, Math.max(this.floor.get(caller) ?? 0, v))
  }

  /** The key's value as of version `v`; undefined when it did not exist then. */
  private valueAt(k: string, v: number): { exists: boolean; value?: unknown } {
    const list = this.keys.get(k)
    if (!list) return { exists: false }
    for (let i = list.length - 1; i >= 0; i--)
      if (list[i]!.version <= v) return { exists: true, value: list[i]!.value }
    // Older than what we kept: the oldest kept version stands in (it is never in the future).
    return list[0]!.version <= this.version ? { exists: true, value: list[0]!.value } : { exists: false }
  }

  private latest(k: string): { exists: boolean; value?: unknown } {
    const list = this.keys.get(k)
    return list ? { exists: true, value: list[list.length - 1]!.value } : { exists: false }
  }

  private put(k: string, value: unknown, caller: string): boolean {
    let list = this.keys.get(k)
    if (!list) {
      if (this.keys.size >= MAX_SERVICE_KEYS) return false
      list = []
      this.keys.set(k, list)
    }
    this.version++
    list.push({ version: this.version, value })
    if (list.length > VERSIONS_PER_KEY) list.shift()
    if (this.name === 'seq-kv') this.see(caller, this.version)
    return true
  }

  handle(msg: MaelstromMessage): MaelstromBody | undefined {
    const b = msg.body
    const id = typeof b.msg_id === 'number' ? b.msg_id : undefined
    if (!('key' in b)) return errorBody(id, MaelstromErrorCode.malformedRequest, 'the request has no key')
    const k = keyOf(b.key)
    if (k.length > 4096) return errorBody(id, MaelstromErrorCode.malformedRequest, 'key too large')
    const full = () => errorBody(id, MaelstromErrorCode.temporarilyUnavailable, 'the store is full')
    switch (b.type) {
      case 'read': {
        const r = this.valueAt(k, this.pickVersion(msg.src))
        if (!r.exists) return errorBody(id, MaelstromErrorCode.keyDoesNotExist, 'key does not exist')
        return reply(b, { type: 'read_ok', value: r.value })
      }
      case 'write':
        if (!this.put(k, b.value, msg.src)) return full()
        return reply(b, { type: 'write_ok' })
      case 'cas': {
        const cur = this.latest(k)
        if (!cur.exists) {
          if (b.create_if_not_exists !== true)
            return errorBody(id, MaelstromErrorCode.keyDoesNotExist, 'key does not exist')
        } else if (!sameValue(cur.value, b.from))
          return errorBody(
            id,
            MaelstromErrorCode.preconditionFailed,
            `current value ${JSON.stringify(cur.value).slice(0, 100)} is not ${JSON.stringify(b.from).slice(0, 100)}`,
          )
        if (!this.put(k, b.to, msg.src)) return full()
        return reply(b, { type: 'cas_ok' })
      }
      default:
        return errorBody(id, MaelstromErrorCode.notSupported, `${this.name} does not support ${b.type}`)
    }
  }
}

/** lin-tso: a strictly increasing counter. */
class TsoService implements Service {
  readonly name = 'lin-tso' as const
  private next = 0

  handle(msg: MaelstromMessage): MaelstromBody | undefined {
    const b = msg.body
    if (b.type !== 'ts')
      return errorBody(
        typeof b.msg_id === 'number' ? b.msg_id : undefined,
        MaelstromErrorCode.notSupported,
        `lin-tso does not support ${b.type}`,
      )
    return reply(b, { type: 'ts_ok', ts: this.next++ })
  }
}

export function createService(name: ServiceName, random: () => number = Math.random): Service {
  return name === 'lin-tso' ? new TsoService() : new KvService(name, random)
}

export function isServiceName(s: string): s is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(s)
}
