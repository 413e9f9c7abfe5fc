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
import {
  AnomalyExamples,
  isRecord,
  opRef,
  opStats,
  pairHistory,
  showValue,
  valueKey,
  type OpRef,
} from './common.js'

const MAX_EXAMPLES = 50

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

/** Every piece of evidence of which message sits at which offset, indexed in history order. */
class LogIndex {
  readonly sends: Send[] = []
  readonly polls: PollList[] = []
  private readonly lastSendOffset = new Map<string, number>() // process/key -> offset
  // Consumers: what each client last saw per key (positions survive a retired process, as the
  // runtime's clients keep them), unless the poll says where it starts.
  private readonly position = new Map<string, Map<string, number>>()
  // offset -> message per key, from every piece of evidence.
  readonly atOffset = new Map<string, Map<number, { msg: string; value: unknown; ref: OpRef }>>()
  private readonly offsetsOf = new Map<string, Map<string, number>>() // key -> msg -> first offset seen
  readonly seenMsgs = new Set<string>()

  constructor(private readonly found: AnomalyExamples) {}

  /** One message at one offset: inconsistent-offsets and duplicate are found here. */
  private record(key: string, offset: number, msg: string, value: unknown, ref: OpRef): void {
    let byOffset = this.atOffset.get(key)
    if (byOffset === undefined) this.atOffset.set(key, (byOffset = new Map()))
    const prior = byOffset.get(offset)
    if (prior === undefined) byOffset.set(offset, { msg, value, ref })
    else if (prior.msg !== msg) {
      this.found.add('inconsistent-offsets', () => ({
        key,
        offset,
        values: [showValue(prior.value), showValue(value)],
        ops: [prior.ref, ref],
      }))
    }
    let msgs = this.offsetsOf.get(key)
    if (msgs === undefined) this.offsetsOf.set(key, (msgs = new Map()))
    const at = msgs.get(msg)
    if (at === undefined) msgs.set(msg, offset)
    else if (at !== offset)
      this.found.add('duplicate', () => ({ key, value: showValue(value), offsets: [at, offset], op: ref }))
  }

  send(invoke: Op, complete: Op, ref: OpRef): void {
    const iv = invoke.value
    const cv = complete.value
    if (
      !Array.isArray(iv) ||
      iv.length !== 2 ||
      !Array.isArray(cv) ||
      cv.length !== 2 ||
      !Number.isSafeInteger(cv[1])
    ) {
      this.found.add('malformed', () => ({ op: ref, reason: 'send is not [key, msg] -> [key, offset]' }))
      return
    }
    const key = String(iv[0])
    const offset = cv[1] as number
    const s: Send = { key, offset, msg: valueKey(iv[1]), value: iv[1], ref }
    this.sends.push(s)
    this.record(key, offset, s.msg, s.value, ref)
    const pk = `${invoke.process}/${key}`
    const last = this.lastSendOffset.get(pk)
    if (last !== undefined && offset <= last)
      this.found.add('nonmonotonic-send', () => ({ key, offsets: [last, offset], op: ref }))
    this.lastSendOffset.set(pk, offset)
  }

  poll(invoke: Op, complete: Op, ref: OpRef): void {
    const cv = complete.value
    if (!isRecord(cv)) {
      this.found.add('malformed', () => ({
        op: ref,
        reason: 'poll result is not {key: [[offset, msg], ...]}',
      }))
      return
    }
    const requested = isRecord(invoke.value) ? invoke.value : undefined
    let pos = this.position.get(invoke.client)
    if (pos === undefined) this.position.set(invoke.client, (pos = new Map()))
    for (const [key, list] of Object.entries(cv)) {
      if (!Array.isArray(list)) {
        this.found.add('malformed', () => ({ op: ref, reason: `poll list for ${key} is not a list` }))
        continue
      }
      const asked = requested?.[key]
      const from = typeof asked === 'number' ? asked : (pos.get(key) ?? -1) + 1
      const p = this.pollList(key, list as unknown[], from, ref)
      this.polls.push(p)
      let max = pos.get(key) ?? -1
      for (const o of p.offsets) if (o > max) max = o
      pos.set(key, max)
    }
  }

  private pollList(key: string, list: readonly unknown[], from: number, ref: OpRef): PollList {
    const p: PollList = { key, offsets: [], msgs: [], from, ref }
    for (const pair of list) {
      if (!Array.isArray(pair) || pair.length !== 2 || !Number.isSafeInteger(pair[0])) {
        this.found.add('malformed', () => ({ op: ref, reason: `poll list for ${key} holds a bad pair` }))
        continue
      }
      const m = valueKey(pair[1])
      p.offsets.push(pair[0] as number)
      p.msgs.push(m)
      this.seenMsgs.add(`${key}\u0000${m}`)
      this.record(key, pair[0] as number, m, pair[1], ref)
    }
    return p
  }
}

/** Offsets known to exist, per key, sorted: the yardstick for skips; remembers what was skipped. */
class SkipFinder {
  private readonly existing = new Map<string, Float64Array>()
  readonly skipped = new Set<string>() // key \0 offset
  constructor(atOffset: LogIndex['atOffset']) {
    for (const [key, byOffset] of atOffset) this.existing.set(key, Float64Array.from(byOffset.keys()).sort())
  }
  /** Existing offsets strictly between lo and hi. */
  between(key: string, lo: number, hi: number): number[] {
    const arr = this.existing.get(key)
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
      this.skipped.add(`${key}\u0000${arr[i] as number}`)
    }
    return out
  }
}

/** nonmonotonic-poll, int-nonmonotonic-poll, poll-skip and int-poll-skip. */
function checkPolls(polls: readonly PollList[], skips: SkipFinder, found: AnomalyExamples): void {
  for (const p of polls) {
    let prev = p.from === undefined ? undefined : p.from - 1
    for (let i = 0; i < p.offsets.length; i++) {
      const o = p.offsets[i] as number
      if (prev !== undefined && o <= prev) {
        if (i === 0)
          found.add('nonmonotonic-poll', () => ({ key: p.key, expected: p.from, got: o, op: p.ref }))
        else found.add('int-nonmonotonic-poll', () => ({ key: p.key, offsets: [prev, o], op: p.ref }))
      } else if (prev !== undefined) {
        const gap = skips.between(p.key, prev, o)
        if (gap.length > 0) {
          const kind = i === 0 ? 'poll-skip' : 'int-poll-skip'
          const from = prev
          found.add(kind, () => ({ key: p.key, after: from, got: o, skipped: gap.slice(0, 10), op: p.ref }))
        }
      }
      prev = prev === undefined ? o : Math.max(prev, o)
    }
  }
}

/** lost-write for acknowledged sends no poll returned though one skipped over them; the rest unseen. */
function checkLost(log: LogIndex, skipped: ReadonlySet<string>, found: AnomalyExamples): number {
  let unseen = 0
  for (const s of log.sends) {
    if (log.seenMsgs.has(`${s.key}\u0000${s.msg}`)) continue
    if (skipped.has(`${s.key}\u0000${s.offset}`)) {
      found.add('lost-write', () => ({
        key: s.key,
        offset: s.offset,
        value: showValue(s.value),
        send: s.ref,
      }))
    } else unseen++
  }
  return unseen
}

export function checkKafka(history: History, _opts?: CheckOptions): CheckResult {
  const pairs = pairHistory(history)
  const found = new AnomalyExamples(MAX_EXAMPLES)
  const log = new LogIndex(found)
  let ok = 0
  // History order: pairs are in invocation order, which is each client's own order.
  for (const { invoke, complete } of pairs) {
    if (complete?.type !== 'ok') continue
    ok++
    const ref = opRef(invoke, complete)
    if (invoke.f === 'send') log.send(invoke, complete, ref)
    else if (invoke.f === 'poll') log.poll(invoke, complete, ref)
  }
  const skips = new SkipFinder(log.atOffset)
  checkPolls(log.polls, skips, found)
  const unseen = checkLost(log, skips.skipped, found)
  checkCommits(pairs, history, found)

  const anomalies: Record<string, unknown[]> = {}
  for (const [kind, list] of found.examples) anomalies[kind] = list
  const stats: Record<string, unknown> = {
    ...opStats(history, pairs),
    'send-count': log.sends.length,
    'poll-count': log.polls.length,
    'unseen-count': unseen,
    'key-count': log.atOffset.size,
  }
  for (const [kind, n] of found.counts) stats[`${kind}-count`] = n
  if (found.examples.size > 0) return { valid: false, anomalies, stats }
  if (ok === 0) return { valid: 'unknown', anomalies, stats, reason: 'no operation was acknowledged' }
  return { valid: true, anomalies, stats }
}

/** committed-offset-regression: a listing below what was committed or listed before it began. */
function checkCommits(pairs: ReturnType<typeof pairHistory>, history: History, found: AnomalyExamples): void {
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
