// The receiver's side of unicast as a bounded table: what the node holds for the senders it hears
// from. Anyone who reaches the frame port can invent sender names, so every dimension has a cap:
// senders (least recently heard evicted first, members of the cluster last), out-of-order bytes
// per sender and in total, and time (a buffer nobody works on is freed, a silent sender forgotten).
// A sender's state is keyed by its name and the transport address it speaks from: on an open
// cluster a frame claiming another node's name from somewhere else gets a state of its own and
// cannot move (or retire) the session of the real node.
import type { Envelope } from '../../core/envelope.js'

/** One out-of-order message waiting for the gap before it. */
export interface HeldMessage {
  env: Envelope
  msg: unknown
  transport: string
  /** Frame bytes, charged against the per-sender and total caps. */
  bytes: number
}

export interface ReceiveState {
  readonly src: string
  /** The transport host this state was learned from. */
  readonly host: string
  session: string
  expected: number
  buffer: Map<number, HeldMessage>
  bufferedBytes: number
  retired: string[]
  /** Clock time of the last frame of this state. */
  heardAt: number
}

export interface ReceiveLimits {
  maxSenders: number
  bytesPerSender: number
  totalBytes: number
  /** Buffered messages of a sender silent this long are freed, in ms. */
  bufferIdleMs: number
  /** A sender silent this long is forgotten, in ms. */
  senderIdleMs: number
}

/** Older senders looked at for a non-member to evict before the oldest one goes. */
const EVICTION_SCAN = 64

/** `::ffff:127.0.0.1` and `127.0.0.1` are one host. */
function hostKey(host: string): string {
  return host.startsWith('::ffff:') ? host.slice(7) : host
}

export class ReceiveTable {
  private readonly states = new Map<string, ReceiveState>()
  private held = 0
  /** Counters for stats: states evicted by the sender cap, buffers and states expired. */
  evicted = 0
  expired = 0

  constructor(private readonly limits: ReceiveLimits) {}

  get size(): number {
    return this.states.size
  }

  /** Out-of-order bytes held for every sender. */
  get heldBytes(): number {
    return this.held
  }

  /** The state of `src` speaking from `host`, marked as just heard (moved to the LRU's young end). */
  get(src: string, host: string, now: number): ReceiveState | undefined {
    const key = `${hostKey(host)} ${src}`
    const st = this.states.get(key)
    if (!st) return undefined
    this.states.delete(key)
    this.states.set(key, st)
    st.heardAt = now
    return st
  }

  /** Puts a fresh state (replacing any for the same sender and host), evicting past the cap. */
  set(
    src: string,
    host: string,
    init: { session: string; expected: number; retired: string[] },
    now: number,
    isMember: (name: string) => boolean,
  ): ReceiveState {
    const key = `${hostKey(host)} ${src}`
    const old = this.states.get(key)
    if (old) this.free(old)
    this.states.delete(key)
    const st: ReceiveState = {
      src,
      host: hostKey(host),
      ...init,
      buffer: new Map(),
      bufferedBytes: 0,
      heardAt: now,
    }
    this.states.set(key, st)
    if (this.states.size > this.limits.maxSenders) this.evictOne(key, isMember)
    return st
  }

  /** Whether `bytes` more may be buffered for `st` without passing a cap. */
  fits(st: ReceiveState, bytes: number): boolean {
    return (
      st.bufferedBytes + bytes <= this.limits.bytesPerSender && this.held + bytes <= this.limits.totalBytes
    )
  }

  hold(st: ReceiveState, seq: number, m: HeldMessage): void {
    st.buffer.set(seq, m)
    st.bufferedBytes += m.bytes
    this.held += m.bytes
  }

  /** Takes the held message `seq` out of `st`'s buffer. */
  take(st: ReceiveState, seq: number): HeldMessage | undefined {
    const m = st.buffer.get(seq)
    if (!m) return undefined
    st.buffer.delete(seq)
    st.bufferedBytes -= m.bytes
    this.held -= m.bytes
    return m
  }

  /** Frees idle buffers and forgets silent senders; returns how many states it touched. */
  sweep(now: number): number {
    let touched = 0
    for (const [key, st] of this.states) {
      const idle = now - st.heardAt
      if (idle >= this.limits.senderIdleMs) {
        this.free(st)
        this.states.delete(key)
        touched++
      } else if (idle >= this.limits.bufferIdleMs && st.buffer.size > 0) {
        this.free(st)
        touched++
      }
    }
    this.expired += touched
    return touched
  }

  clear(): void {
    this.states.clear()
    this.held = 0
  }

  private free(st: ReceiveState): void {
    this.held -= st.bufferedBytes
    st.bufferedBytes = 0
    st.buffer.clear()
  }

  /** Evicts the least recently heard non-member among the oldest few, else the oldest of all. */
  private evictOne(keep: string, isMember: (name: string) => boolean): void {
    let victim: string | undefined
    let first: string | undefined
    let scanned = 0
    for (const [key, st] of this.states) {
      if (key === keep) continue
      first ??= key
      if (!isMember(st.src)) {
        victim = key
        break
      }
      if (++scanned >= EVICTION_SCAN) break
    }
    victim ??= first
    if (victim === undefined) return
    const st = this.states.get(victim)!
    this.free(st)
    this.states.delete(victim)
    this.evicted++
  }
}
