// The shared vocabulary of distlab's Maelstrom layer: a history of client operations, as Jepsen
// and Maelstrom record them, and what a workload module provides. The runtime (clients, nodes,
// services, nemesis) produces histories; each workload's checker reads one and gives a verdict.
//
// An operation is recorded twice: an `invoke` when a client sends it and a completion when the
// reply (or the lack of one) is known. `ok`: it took effect; `fail`: it certainly did not (a
// definite Maelstrom error such as 20 key-does-not-exist or 22 precondition-failed); `info`: we
// cannot know (a timeout, error 0 or 13). After an `info` the client's process is retired and the
// client continues under a new process number, so a process never has two operations open.

/** Maelstrom's error codes (its protocol document, "Errors"). */
export const MaelstromErrorCode = {
  timeout: 0,
  nodeNotFound: 1,
  notSupported: 10,
  temporarilyUnavailable: 11,
  malformedRequest: 12,
  crash: 13,
  abort: 14,
  keyDoesNotExist: 20,
  keyAlreadyExists: 21,
  preconditionFailed: 22,
  txnConflict: 30,
} as const

/** Codes that mean the operation certainly did not happen; the others are indefinite. */
export const DEFINITE_ERROR_CODES: ReadonlySet<number> = new Set([1, 10, 11, 12, 14, 20, 21, 22, 30])

export type OpType = 'invoke' | 'ok' | 'fail' | 'info'

export interface Op {
  /** Position in the history, 0-based, in the order events were recorded. */
  index: number
  /** The logical process (a client may own several over a run, one at a time). */
  process: number
  /** The client that issued it: `c1`, `c2`, ... */
  client: string
  type: OpType
  /** The workload's function name: `read`, `write`, `cas`, `add`, `send`, `poll`, `txn`, ... */
  f: string
  /**
   * The operation's value. On an invoke, what was asked; on a completion, what was learned (a
   * read's result fills in the invoke's `null`). Shapes per workload (f: invoke value -> ok value):
   * - echo: `echo`: string -> string
   * - unique-ids: `generate`: null -> the id (any JSON value)
   * - broadcast: `broadcast`: number -> number; `read`: null -> number[]
   * - g-set: `add`: element -> element; `read`: null -> element[]
   * - g-counter, pn-counter: `add`: delta -> delta; `read`: null -> number
   * - lin-kv: `read`: [k, null] -> [k, v]; `write`: [k, v]; `cas`: [k, [from, to]]
   * - kafka: `send`: [key, msg] -> [key, offset]; `poll`: null -> { key: [[offset, msg], ...] };
   *   `commit_offsets`: { key: offset }; `list_committed_offsets`: key[] -> { key: offset }
   * - txn-rw-register: `txn`: [['r', k, null] | ['w', k, v], ...] -> the same with reads filled
   * - txn-list-append: `txn`: [['r', k, null] | ['append', k, v], ...] -> reads filled (lists)
   */
  value: unknown
  /** Nanoseconds since the run started (monotonic clock). */
  time: number
  /** The server node the request went to. */
  node?: string
  /** For `fail` and `info`: Maelstrom's error `[code, text]`, or `[0, 'timeout']` for no reply. */
  error?: [number, string]
}

export type History = Op[]

export type Validity = true | false | 'unknown'

/** What a checker returns; `anomalies` names each kind found with examples a person can read. */
export interface CheckResult {
  valid: Validity
  /** Anomaly kind -> examples (ops, keys, elements). Empty when valid. */
  anomalies: Record<string, unknown[]>
  /** Workload-specific figures (lost/stale counts, latencies ...), in Maelstrom's names. */
  stats?: Record<string, unknown>
  /** Why the verdict is `unknown` (e.g. the search ran out of its time budget). */
  reason?: string
}

/** Pairs each invoke with its completion (same process, next event); open invokes get none. */
export function pairOps(history: History): Array<{ invoke: Op; complete: Op | undefined }> {
  const open = new Map<number, number>()
  const out: Array<{ invoke: Op; complete: Op | undefined }> = []
  for (const op of history) {
    if (op.type === 'invoke') {
      open.set(op.process, out.length)
      out.push({ invoke: op, complete: undefined })
      continue
    }
    const slot = open.get(op.process)
    if (slot === undefined) continue
    open.delete(op.process)
    out[slot]!.complete = op
  }
  return out
}
