// Synthetic histories for tests and benches: concurrent clients against a sequential register
// map, each operation taking effect at a random instant inside its interval, so the history is
// linearizable by construction; and mutations that make one read impossible.
import type { History, Op } from '../history.js'
import { MaelstromErrorCode } from '../history.js'
import { seededRandom } from '../../core/random.js'

export interface SynthLinKvInit {
  /** Operations in the history (invocations). @default 1000 */
  ops?: number
  /** Keys the operations spread over. @default 5 */
  keys?: number
  /** Clients running at once. @default 10 */
  concurrency?: number
  /** PRNG seed; the same seed gives the same history. @default 1 */
  seed?: number
  /** Fraction of operations that end `info` (a timeout); their effect happens or not. @default 0.02 */
  infoRate?: number
}

interface Planned {
  process: number
  client: string
  f: 'read' | 'write' | 'cas'
  key: number
  start: number
  end: number
  lin: number
  info: boolean
  applies: boolean
  invokeValue: unknown
  result: { type: 'ok' | 'fail' | 'info'; value: unknown; error?: [number, string] }
}

/** A linearizable lin-kv history: reads, unique-valued writes and cas over several keys. */
export function synthLinKv(init: SynthLinKvInit = {}): History {
  const keys = init.keys ?? 5
  const rnd = seededRandom(init.seed ?? 1)
  const planned = planOps(init.ops ?? 1000, keys, init.concurrency ?? 10, init.infoRate ?? 0.02, rnd)
  new RegisterMap(keys, rnd).applyAll(planned)
  return toHistory(planned)
}

/** Each client's operations back to back, with random gaps, lengths and linearization points. */
function planOps(
  total: number,
  keys: number,
  concurrency: number,
  infoRate: number,
  rnd: () => number,
): Planned[] {
  const planned: Planned[] = []
  const clock = new Float64Array(concurrency)
  const processOf = Int32Array.from({ length: concurrency }, (_, i) => i)
  let nextProcess = concurrency
  for (let i = 0; i < total; i++) {
    const c = i % concurrency
    const start = (clock[c] as number) + 1 + Math.floor(rnd() * 2_000_000)
    const end = start + 100_000 + Math.floor(rnd() * 5_000_000)
    const info = rnd() < infoRate
    const r = rnd()
    const f = r < 0.5 ? 'read' : r < 0.8 ? 'write' : 'cas'
    planned.push({
      process: processOf[c] as number,
      client: `c${c + 1}`,
      f,
      key: Math.floor(rnd() * keys),
      start,
      end,
      lin: start + 1 + Math.floor(rnd() * (end - start - 2)),
      info,
      applies: !info || rnd() < 0.5,
      invokeValue: null,
      result: { type: 'ok', value: null },
    })
    clock[c] = end
    if (info) processOf[c] = nextProcess++
  }
  return planned
}

const missing = (value: unknown): Planned['result'] => ({
  type: 'fail',
  value,
  error: [MaelstromErrorCode.keyDoesNotExist, 'key does not exist'],
})

/** A sequential register per key; operations take effect on it in linearization order. */
class RegisterMap {
  private readonly state = new Map<number, number>()
  private readonly written: number[][]
  private nextValue = 1

  constructor(
    keys: number,
    private readonly rnd: () => number,
  ) {
    this.written = Array.from({ length: keys }, () => [])
  }

  applyAll(planned: readonly Planned[]): void {
    const byLin = planned.slice().sort((a, b) => a.lin - b.lin)
    for (const p of byLin) {
      if (p.f === 'read') this.read(p)
      else if (p.f === 'write') this.write(p)
      else this.cas(p)
      if (p.info) {
        // An indefinite op: only a write or a cas that would succeed may have taken effect.
        if (p.result.type === 'fail' && p.f === 'cas') p.applies = false
        p.result = { type: 'info', value: p.invokeValue, error: [MaelstromErrorCode.timeout, 'timeout'] }
      }
    }
  }

  private read(p: Planned): void {
    const cur = this.state.get(p.key)
    p.invokeValue = [p.key, null]
    p.result = cur === undefined ? missing([p.key, null]) : { type: 'ok', value: [p.key, cur] }
  }

  private write(p: Planned): void {
    const v = this.nextValue++
    p.invokeValue = [p.key, v]
    p.result = { type: 'ok', value: [p.key, v] }
    if (p.applies) {
      this.state.set(p.key, v)
      ;(this.written[p.key] as number[]).push(v)
    }
  }

  /** A cas from the current value (most often) or from any value the key ever held. */
  private cas(p: Planned): void {
    const cur = this.state.get(p.key)
    const to = this.nextValue++
    const hist = this.written[p.key] as number[]
    const rnd = this.rnd
    const from =
      cur !== undefined && rnd() < 0.6
        ? cur
        : hist.length > 0
          ? (hist[Math.floor(rnd() * hist.length)] as number)
          : 0
    p.invokeValue = [p.key, [from, to]]
    if (cur === undefined) p.result = missing(p.invokeValue)
    else if (cur !== from) {
      p.result = {
        type: 'fail',
        value: p.invokeValue,
        error: [MaelstromErrorCode.preconditionFailed, 'expected another value'],
      }
    } else {
      p.result = { type: 'ok', value: p.invokeValue }
      if (p.applies) {
        this.state.set(p.key, to)
        hist.push(to)
      }
    }
  }
}

function toHistory(planned: Planned[]): History {
  const events: Array<{ time: number; op: Omit<Op, 'index'> }> = []
  for (const p of planned) {
    events.push({
      time: p.start,
      op: {
        process: p.process,
        client: p.client,
        type: 'invoke',
        f: p.f,
        value: p.invokeValue,
        time: p.start,
        node: 'n1',
      },
    })
    const done: Omit<Op, 'index'> = {
      process: p.process,
      client: p.client,
      type: p.result.type,
      f: p.f,
      value: p.result.value,
      time: p.end,
      node: 'n1',
    }
    if (p.result.error !== undefined) done.error = p.result.error
    events.push({ time: p.end, op: done })
  }
  events.sort((a, b) => a.time - b.time)
  return events.map((e, index) => ({ ...e.op, index }))
}

/**
 * Makes one ok read of `history` impossible. `never-written`: the read returns a value no one
 * wrote. `stale`: it returns a value that a later write had overwritten before the read began.
 * Returns the history index of the changed completion, or undefined when no read qualifies.
 */
export function corruptRead(
  history: History,
  mode: 'never-written' | 'stale',
  seed = 1,
): { history: History; index: number } | undefined {
  const rnd = seededRandom(seed)
  const h = history.map((op) => ({ ...op }))
  const invokeOf = new Map<number, Op>()
  const reads: Array<{ invoke: Op; complete: Op }> = []
  const writes: Array<{ key: unknown; value: unknown; invoke: Op; complete: Op }> = []
  for (const op of h) {
    if (op.type === 'invoke') {
      invokeOf.set(op.process, op)
      continue
    }
    const inv = invokeOf.get(op.process)
    if (inv === undefined || op.type !== 'ok') continue
    const iv = inv.value as [unknown, unknown]
    if (op.f === 'read') reads.push({ invoke: inv, complete: op })
    else if (op.f === 'write') writes.push({ key: iv[0], value: iv[1], invoke: inv, complete: op })
    else if (op.f === 'cas')
      writes.push({ key: iv[0], value: (iv[1] as [unknown, unknown])[1], invoke: inv, complete: op })
  }
  if (reads.length === 0) return undefined
  const offset = Math.floor(rnd() * reads.length)
  for (let j = 0; j < reads.length; j++) {
    const r = reads[(offset + j) % reads.length] as { invoke: Op; complete: Op }
    const key = (r.complete.value as [unknown, unknown])[0]
    if (mode === 'never-written') {
      r.complete.value = [key, -1 - Math.floor(rnd() * 1e9)]
      return { history: h, index: r.complete.index }
    }
    // Newest write to the key finished before the read began, and an older one finished before it started.
    let newer: (typeof writes)[number] | undefined
    for (const w of writes)
      if (
        w.key === key &&
        w.complete.index < r.invoke.index &&
        (newer === undefined || w.invoke.index > newer.invoke.index)
      )
        newer = w
    if (newer === undefined) continue
    const nw = newer
    const older = writes.find((w) => w.key === key && w.complete.index < nw.invoke.index)
    if (older === undefined) continue
    r.complete.value = [key, older.value]
    return { history: h, index: r.complete.index }
  }
  return undefined
}
