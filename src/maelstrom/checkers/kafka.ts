// kafka: Maelstrom's replicated-log workload (Jepsen's queue analysis, as Maelstrom's kafka
// checker applies it). Evidence of which message sits at which offset comes from acknowledged
// sends ([key, offset]) and from polls ({key: [[offset, msg], ...]}). Checked:
// - inconsistent-offsets: two different messages at one offset of a key (e.g. a send acknowledged
//   with an offset another message already holds);
// - duplicate: one message at two offsets;
// - nonmonotonic-send: a process's successive acknowledged sends to a key got decreasing offsets;
// - int-nonmonotonic-poll: offsets out of order inside one poll's list;
// - nonmonotonic-poll: a consumer's poll going back before where it had asked to start;
// - int-poll-skip / poll-skip: an offset known to exist skipped inside one poll, or between where a
//   consumer asked to start (its last seen offset + 1) and the first offset it got;
// - lost-write: an acknowledged send that no poll ever returned although a consumer read past it
//   (it sits in a skip gap);
// - committed-offset-regression: list_committed_offsets returning less than an offset already
//   committed (or listed) before it began.
// Acknowledged sends that no consumer reached are counted as `unseen`, not an error.
import type { History, Op } from '../history.js'
import type { CheckOptions, CheckResult } from './types.js'
import { isRecord, opRef, opStats, pairHistory, showValue, valueKey, type OpRef } from './common.js'

const MAX_EXAMPLES = 50

class Anomalies {
  readonly found = new Map<string, unknown[]>()
  readonly counts = new Map<string, number>()
  add(kind: string, example: () => unknown): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
    let list = this.found.get(kind)
    if (list === undefined) this.found.set(kind, (list = []))
    if (list.length < MAX_EXAMPLES) list.push(example())
  }
}

interface Send {
  key: string
  offset: number
  msg: string
  value: unknown
  ref: OpRef
}

interface PollList {
  key: string
  /** Offsets in the order returned, and the message keys. */
  offsets: number[]
  msgs: string[]
  /** Where the consumer asked this key to start, if known. */
  from: number | undefined
  ref: OpRef
}

export function checkKafka(history: History, _opts?: CheckOptions): CheckResult {
  const pairs = pairHistory(history)
  const found = new Anomalies()
  const sends: Send[] = []
  const polls: PollList[] = []
  const lastSendOffset = new Map<string, number>() // process/key -> offset
  // Consumers: what each client last saw per key (positions survive a retired process, as the
  // runtime's clients keep them), unless the poll says where it starts.
  const position = new Map<string, Map<string, number>>()
  // offset -> message per key, from every piece of evidence.
  const atOffset = new Map<string, Map<number, { msg: string; value: unknown; ref: OpRef }>>()
  const offsetsOf = new Map<string, Map<string, number>>() // key -> msg -> first offset seen
  const seenMsgs = new Set<string>()
  const record = (key: string, offset: number, msg: string, value: unknown, ref: OpRef): void => {
    let byOffset = atOffset.get(key)
    if (byOffset === undefined) atOffset.set(key, (byOffset = new Map()))
    const prior = byOffset.get(offset)
    if (prior === undefined) byOffset.set(offset, { msg, value, ref })
    else if (prior.msg !== msg) {
      found.add('inconsistent-offsets', () => ({
        key,
        offset,
        values: [showValue(prior.value), showValue(value)],
        ops: [prior.ref, ref],
      }))
    }
    let msgs = offsetsOf.get(key)
    if (msgs === undefined) offsetsOf.set(key, (msgs = new Map()))
    const at = msgs.get(msg)
    if (at === undefined) msgs.set(msg, offset)
    else if (at !== offset)
      found.add('duplicate', () => ({ key, value: showValue(value), offsets: [at, offset], op: ref }))
  }

  let ok = 0
  // History order: pairs are in invocation order, which is each client's own order.
  for (const { invoke, complete } of pairs) {
    if (complete?.type !== 'ok') continue
    ok++
    const ref = opRef(invoke, complete)
    if (invoke.f === 'send') {
      const iv = invoke.value
      const cv = complete.value
      if (
        !Array.isArray(iv) ||
        iv.length !== 2 ||
        !Array.isArray(cv) ||
        cv.length !== 2 ||
        !Number.isSafeInteger(cv[1])
      ) {
        found.add('malformed', () => ({ op: ref, reason: 'send is not [key, msg] -> [key, offset]' }))
        continue
      }
      const key = String(iv[0])
      const offset = cv[1] as number
      const s: Send = { key, offset, msg: valueKey(iv[1]), value: iv[1], ref }
      sends.push(s)
      record(key, offset, s.msg, s.value, ref)
      const pk = `${invoke.process}/${key}`
      const last = lastSendOffset.get(pk)
      if (last !== undefined && offset <= last)
        found.add('nonmonotonic-send', () => ({ key, offsets: [last, offset], op: ref }))
      lastSendOffset.set(pk, offset)
    } else if (invoke.f === 'poll') {
      const cv = complete.value
      if (!isRecord(cv)) {
        found.add('malformed', () => ({ op: ref, reason: 'poll result is not {key: [[offset, msg], ...]}' }))
        continue
      }
      const requested = isRecord(invoke.value) ? invoke.value : undefined
      let pos = position.get(invoke.client)
      if (pos === undefined) position.set(invoke.client, (pos = new Map()))
      for (const [key, list] of Object.entries(cv)) {
        if (!Array.isArray(list)) {
          found.add('malformed', () => ({ op: ref, reason: `poll list for ${key} is not a list` }))
          continue
        }
        const asked = requested?.[key]
        const from = typeof asked === 'number' ? asked : (pos.get(key) ?? -1) + 1
        const p: PollList = { key, offsets: [], msgs: [], from, ref }
        for (const pair of list) {
          if (!Array.isArray(pair) || pair.length !== 2 || !Number.isSafeInteger(pair[0])) {
            found.add('malformed', () => ({ op: ref, reason: `poll list for ${key} holds a bad pair` }))
            continue
          }
          const m = valueKey(pair[1])
          p.offsets.push(pair[0] as number)
          p.msgs.push(m)
          seenMsgs.add(`${key}\u0000${m}`)
          record(key, pair[0] as number, m, pair[1], ref)
        }
        polls.push(p)
        let max = pos.get(key) ?? -1
        for (const o of p.offsets) if (o > max) max = o
        pos.set(key, max)
      }
    }
  }

  // Offsets known to exist, per key, sorted: the yardstick for skips.
  const existing = new Map<string, Float64Array>()
  for (const [key, byOffset] of atOffset) existing.set(key, Float64Array.from(byOffset.keys()).sort())
  const skipped = new Set<string>() // key \0 offset
  const between = (key: string, lo: number, hi: number): number[] => {
    // Existing offsets strictly between lo and hi (at most a few kept).
    const arr = existing.get(key)
    const out: number[] = []
    if (arr === undefined) return out
    let a = 0
    let b = arr.length
    while (a < b) {
      const mid = (a + b) >>> 1
      if ((arr[mid] as number) <= lo) a = mid + 1
      else b = mid
    }
    for (let i = a; i < arr.length && (arr[i] as number) < hi; i++) {
      out.push(arr[i] as number)
      skipped.add(`${key}\u0000${arr[i] as number}`)
    }
    return out
  }
  for (const p of polls) {
    let prev = p.from === undefined ? undefined : p.from - 1
    for (let i = 0; i < p.offsets.length; i++) {
      const o = p.offsets[i] as number
      if (prev !== undefined && o <= prev) {
        if (i === 0)
          found.add('nonmonotonic-poll', () => ({ key: p.key, expected: p.from, got: o, op: p.ref }))
        else found.add('int-nonmonotonic-poll', () => ({ key: p.key, offsets: [prev, o], op: p.ref }))
      } else if (prev !== undefined) {
        const gap = between(p.key, prev, o)
        if (gap.length > 0) {
          const kind = i === 0 ? 'poll-skip' : 'int-poll-skip'
          const from = prev
          found.add(kind, () => ({ key: p.key, after: from, got: o, skipped: gap.slice(0, 10), op: p.ref }))
        }
      }
      prev = prev === undefined ? o : Math.max(prev, o)
    }
  }
  let unseen = 0
  for (const s of sends) {
    if (seenMsgs.has(`${s.key}\u0000${s.msg}`)) continue
    if (skipped.has(`${s.key}\u0000${s.offset}`)) {
      found.add('lost-write', () => ({
        key: s.key,
        offset: s.offset,
        value: showValue(s.value),
        send: s.ref,
      }))
    } else unseen++
  }
  checkCommits(pairs, history, found)

  const anomalies: Record<string, unknown[]> = {}
  for (const [kind, list] of found.found) anomalies[kind] = list
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'send-count': sends.length,
    'poll-count': polls.length,
    'unseen-count': unseen,
    'key-count': atOffset.size,
  }
  for (const [kind, n] of found.counts) stats[`${kind}-count`] = n
  if (found.found.size > 0) return { valid: false, anomalies, stats }
  if (ok === 0) return { valid: 'unknown', anomalies, stats, reason: 'no operation was acknowledged' }
  return { valid: true, anomalies, stats }
}

/** committed-offset-regression: a listing below what was committed or listed before it began. */
function checkCommits(pairs: ReturnType<typeof pairHistory>, history: History, found: Anomalies): void {
  const completeOf = new Map<number, Op>()
  for (const { invoke, complete } of pairs) if (complete !== undefined) completeOf.set(invoke.index, complete)
  const floor = new Map<string, { offset: number; ref: OpRef }>()
  const snapshot = new Map<number, Map<string, { offset: number; ref: OpRef }>>() // process -> floor at invoke
  const invokes = new Map<number, Op>()
  for (const op of history) {
    if (op.type === 'invoke') {
      invokes.set(op.process, op)
      if (op.f === 'list_committed_offsets') snapshot.set(op.process, new Map(floor))
      continue
    }
    const inv = invokes.get(op.process)
    if (inv === undefined || op.type !== 'ok' || completeOf.get(inv.index) !== op) continue
    invokes.delete(op.process)
    const ref = opRef(inv, op)
    const value =
      inv.f === 'commit_offsets' ? inv.value : inv.f === 'list_committed_offsets' ? op.value : undefined
    if (!isRecord(value)) continue
    const before = inv.f === 'list_committed_offsets' ? snapshot.get(op.process) : undefined
    snapshot.delete(op.process)
    for (const [key, o] of Object.entries(value)) {
      if (typeof o !== 'number' || !Number.isFinite(o)) continue
      const was = before?.get(key)
      if (was !== undefined && o < was.offset) {
        found.add('committed-offset-regression', () => ({
          key,
          committed: was.offset,
          listed: o,
          commit: was.ref,
          op: ref,
        }))
      }
      const cur = floor.get(key)
      if (cur === undefined || o > cur.offset) floor.set(key, { offset: o, ref })
    }
  }
}
