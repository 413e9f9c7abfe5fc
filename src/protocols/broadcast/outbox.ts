// Everything the broadcast protocol sends to a peer goes through here: eager pushes (at once to a
// quiet peer, coalesced Nagle-style to a busy one, or batched), frames split to a target size, and
// the per-type frame counters and per-message tally behind `stats()` and `send broadcast`.
import type { ProtocolComponents } from '../../core/interfaces.js'
import type { TimerHandle } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import * as K from './constants.js'
import { FrameTally, idsOfBody } from './frame-tally.js'
import type { BroadcastOptions } from './options.js'
import { idOf, type FrameType, type WireItem } from './wire.js'

export interface Counters {
  framesSent: Record<string, number>
  payloadSent: number
  payloadReceived: number
  duplicates: number
  ipBytes: number
  grafts: number
  prunes: number
  dropped: number
  /** Messages a peer's digest lacked that were delivered here but whose payload was evicted. */
  unservable: number
  /** Messages refused for a value over MAX_MESSAGE_BYTES. */
  oversized: number
}

export const newCounters = (): Counters => ({
  framesSent: {},
  payloadSent: 0,
  payloadReceived: 0,
  duplicates: 0,
  ipBytes: 0,
  grafts: 0,
  prunes: 0,
  dropped: 0,
  unservable: 0,
  oversized: 0,
})

/** Receipts one peer's pending list holds at most (a `got` frame's limit). */
const MAX_PENDING_RECEIPTS = 10_000
/** Peers with receipts pending at once. */
const MAX_RECEIPT_PEERS = 1024

export interface OutboxHost {
  readonly c: ProtocolComponents
  readonly log: Logger
  readonly counters: Counters
  options(): BroadcastOptions
  running(): boolean
}

export class Outbox {
  /** Frames sent per message id, for `GET /broadcast/frames?id=`. */
  readonly tally = new FrameTally()
  // Batching of eager pushes.
  private readonly eagerQueue = new Map<string, { items: WireItem[]; receipts: string[] }>()
  private batchTimer?: TimerHandle
  // Coalescing: when each peer was last sent a msg frame, and what waits for it.
  private readonly lastPushAt = new Map<string, number>()
  private readonly coalesced = new Map<
    string,
    { items: WireItem[]; receipts: string[]; timer: TimerHandle }
  >()

  /** Receipts waiting up to coalesceMs for a msg frame to the same peer to ride on. */
  private readonly pendingGot = new Map<string, { ids: string[]; timer: TimerHandle }>()

  constructor(private readonly h: OutboxHost) {}

  /**
   * Confirms holding `ids` to `peer`: on the next msg frame there if one goes within coalesceMs
   * (at a tree's hub, nearly always), else in a `got` frame of its own then.
   */
  receipt(peer: string, ids: string[]): void {
    const wait = this.h.options().coalesceMs
    const p = this.pendingGot.get(peer)
    if (p && p.ids.length + ids.length <= MAX_PENDING_RECEIPTS) {
      for (const id of ids) p.ids.push(id)
      return
    }
    // Bounded: a sender's name is a claim, so beyond the caps a receipt goes at once.
    if (wait <= 0 || p || this.pendingGot.size >= MAX_RECEIPT_PEERS)
      return this.sendFrame(peer, 'got', { i: ids })
    const timer = this.h.c.clock.setTimeout(() => {
      const q = this.pendingGot.get(peer)
      this.pendingGot.delete(peer)
      if (q && this.h.running()) this.sendFrame(peer, 'got', { i: q.ids })
    }, wait)
    this.pendingGot.set(peer, { ids: ids.slice(), timer })
  }

  /** The receipts waiting for `peer`, taken to ride on a frame going there. */
  private takeReceipts(peer: string): string[] | undefined {
    const p = this.pendingGot.get(peer)
    if (!p) return undefined
    this.h.c.clock.clearTimeout(p.timer)
    this.pendingGot.delete(peer)
    return p.ids
  }

  stop(): void {
    for (const p of this.pendingGot.values()) this.h.c.clock.clearTimeout(p.timer)
    this.pendingGot.clear()
    if (this.batchTimer) this.h.c.clock.clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    for (const q of this.coalesced.values()) this.h.c.clock.clearTimeout(q.timer)
    this.coalesced.clear()
    this.lastPushAt.clear()
    this.eagerQueue.clear()
  }

  /** A peer left the membership. */
  forget(peer: string): void {
    this.lastPushAt.delete(peer)
  }

  push(peer: string, w: WireItem, receipt: boolean): void {
    const o = this.h.options()
    const id = receipt ? idOf(w.o, w.q) : undefined
    if (o.batchMs <= 0) return this.coalesce(peer, w, id)
    let q = this.eagerQueue.get(peer)
    if (!q) this.eagerQueue.set(peer, (q = { items: [], receipts: [] }))
    q.items.push(w)
    if (id) q.receipts.push(id)
    if (!this.batchTimer)
      this.batchTimer = this.h.c.clock.setTimeout(() => {
        this.batchTimer = undefined
        this.flushBatches()
      }, o.batchMs)
  }

  /** Sends at once to a quiet peer; otherwise queues until coalesceMs after the last frame there. */
  private coalesce(peer: string, w: WireItem, receipt: string | undefined): void {
    const queued = this.coalesced.get(peer)
    if (queued) {
      queued.items.push(w)
      if (receipt) queued.receipts.push(receipt)
      return
    }
    const now = Date.now()
    const wait = (this.lastPushAt.get(peer) ?? -Infinity) + this.h.options().coalesceMs - now
    if (wait <= 0) {
      this.lastPushAt.set(peer, now)
      this.h.counters.payloadSent++
      const body: Record<string, unknown> = receipt ? { m: [w], r: [receipt] } : { m: [w] }
      const g = this.takeReceipts(peer)
      if (g) body.g = g
      this.sendFrame(peer, 'msg', body)
      return
    }
    const timer = this.h.c.clock.setTimeout(() => {
      const q = this.coalesced.get(peer)
      this.coalesced.delete(peer)
      if (!q || !this.h.running()) return
      this.lastPushAt.set(peer, Date.now())
      this.sendItems(peer, q.items, q.receipts)
    }, wait)
    this.coalesced.set(peer, { items: [w], receipts: receipt ? [receipt] : [], timer })
  }

  private flushBatches(): void {
    if (!this.h.running()) return
    const queues = [...this.eagerQueue]
    this.eagerQueue.clear()
    for (const [peer, q] of queues) this.sendItems(peer, q.items, q.receipts)
  }

  /**
   * Sends items in frames of about FRAME_TARGET_BYTES each; `more` marks the last frame of an
   * anti-entropy answer that stopped short.
   */
  sendItems(
    peer: string,
    items: WireItem[],
    receipts: string[] = [],
    answer: 0 | 1 | 2 = 0,
    more = false,
  ): void {
    let chunk: WireItem[] = []
    let bytes = 0
    const flush = (last = false) => {
      if (chunk.length === 0) return
      const body: Record<string, unknown> = { m: chunk }
      if (receipts.length) {
        const ids = new Set(chunk.map((w) => idOf(w.o, w.q)))
        const r = receipts.filter((id) => ids.has(id))
        if (r.length) body.r = r
      }
      if (answer) body.a = answer
      if (last && more) body.n = 1
      const g = this.takeReceipts(peer)
      if (g) body.g = g
      this.h.counters.payloadSent += chunk.length
      this.sendFrame(peer, 'msg', body)
      chunk = []
      bytes = 0
    }
    for (const w of items) {
      const size = Buffer.byteLength(JSON.stringify(w.v ?? null)) + 80
      if (bytes + size > K.FRAME_TARGET_BYTES) flush()
      chunk.push(w)
      bytes += size
    }
    flush(true)
  }

  sendFrame(peer: string, type: FrameType, body: unknown): void {
    this.h.counters.framesSent[type] = (this.h.counters.framesSent[type] ?? 0) + 1
    this.tally.note(type, idsOfBody(type, body), type === 'msg')
    this.h.c.send(peer, type, body, { transport: 'udp' }).catch((err: unknown) => {
      this.h.log.debug(`${type} to ${peer} failed: ${(err as Error).message}`)
    })
  }
}
