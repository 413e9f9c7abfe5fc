// The workload generators: what Maelstrom's clients ask of the nodes, workload by workload, with
// Maelstrom's request and reply bodies (its doc/workloads.md), and what each completion records in
// the history (the value shapes of history.ts).
import { InvalidArgumentError } from '../core/errors.js'
import type { MaelstromBody } from './message.js'

export const WORKLOAD_NAMES = [
  'echo',
  'unique-ids',
  'broadcast',
  'g-set',
  'g-counter',
  'pn-counter',
  'lin-kv',
  'kafka',
  'txn-rw-register',
  'txn-list-append',
] as const
export type WorkloadName = (typeof WORKLOAD_NAMES)[number]

export const TOPOLOGIES = ['grid', 'line', 'tree2', 'tree3', 'tree4', 'total'] as const
export type Topology = (typeof TOPOLOGIES)[number]

export interface WorkloadOptions {
  /** Keys for lin-kv, kafka and the txn workloads. @default 3 (kafka 3, txn 3) */
  keyCount?: number
  /** Micro-operations per transaction at most. @default 4 */
  maxTxnLength?: number
  /** Broadcast's topology. @default 'grid' */
  topology?: Topology
  random?: () => number
}

/** One operation a client is about to invoke. */
export interface Invocation {
  f: string
  value: unknown
  body: MaelstromBody
}

export interface WorkloadGenerator {
  readonly name: WorkloadName
  /** Messages every node gets before the clients begin (broadcast's topology), per node. */
  setup?(nodeIds: readonly string[]): Array<{ node: string; body: MaelstromBody }>
  /** The next operation of `client`. */
  next(client: string): Invocation
  /** The value an ok completion records, from the `<type>_ok` reply; throws on a reply of the wrong shape. */
  okValue(inv: Invocation, reply: MaelstromBody, client: string): unknown
  /** Reads on every node after the workload and recovery (broadcast, g-set, counters). */
  finalRead?(): Invocation
}

export function isWorkloadName(s: string): s is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(s)
}

class ShapeError extends Error {}
const need = (cond: boolean, what: string) => {
  if (!cond) throw new ShapeError(what)
}
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
const intList = (v: unknown, field: string): number[] => {
  need(Array.isArray(v), `${field} is not a list`)
  const out: number[] = []
  for (const x of v as unknown[]) {
    need(isInt(x), `${field} holds a non-integer`)
    out.push(x as number)
  }
  return out
}

/** Maelstrom's topologies over node ids, in the `topology` message's shape. */
export function buildTopology(kind: Topology, ids: readonly string[]): Map<string, string[]> {
  const n = ids.length
  const out = new Map<string, string[]>(ids.map((id) => [id, []]))
  const link = (a: number, b: number) => {
    if (a === b || a < 0 || b < 0 || a >= n || b >= n) return
    const la = out.get(ids[a]!)!
    if (!la.includes(ids[b]!)) la.push(ids[b]!)
    const lb = out.get(ids[b]!)!
    if (!lb.includes(ids[a]!)) lb.push(ids[a]!)
  }
  if (kind === 'total') for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) link(i, j)
  else if (kind === 'line') for (let i = 0; i + 1 < n; i++) link(i, i + 1)
  else if (kind === 'grid') {
    const side = Math.max(1, Math.ceil(Math.sqrt(n)))
    for (let i = 0; i < n; i++) {
      if ((i + 1) % side !== 0) link(i, i + 1)
      link(i, i + side)
    }
  } else {
    const fan = Number(kind.slice(4))
    for (let i = 1; i < n; i++) link(i, Math.floor((i - 1) / fan))
  }
  return out
}

function echo(): WorkloadGenerator {
  let seq = 0
  return {
    name: 'echo',
    next: () => {
      const value = `Please echo ${++seq}`
      return { f: 'echo', value, body: { type: 'echo', echo: value } }
    },
    okValue: (_inv, reply) => reply.echo,
  }
}

function uniqueIds(): WorkloadGenerator {
  return {
    name: 'unique-ids',
    next: () => ({ f: 'generate', value: null, body: { type: 'generate' } }),
    okValue: (_inv, reply) => {
      need('id' in reply, 'generate_ok has no id')
      return reply.id
    },
  }
}

/**
 * A grow-only set's operations: half reads, half additions of the next integer (`f`, the value in
 * the body's `field`); a read's reply holds the whole set in `readField`.
 */
function readOrAdd(
  o: Required<WorkloadOptions>,
  f: 'broadcast' | 'add',
  field: 'message' | 'element',
  readField: 'messages' | 'value',
): Pick<WorkloadGenerator, 'next' | 'okValue' | 'finalRead'> {
  let seq = 0
  const read = (): Invocation => ({ f: 'read', value: null, body: { type: 'read' } })
  return {
    next: () => (o.random() < 0.5 ? read() : { f, value: seq, body: { type: f, [field]: seq++ } }),
    okValue: (inv, reply) => (inv.f === 'read' ? intList(reply[readField], readField) : inv.value),
    finalRead: read,
  }
}

function broadcast(o: Required<WorkloadOptions>): WorkloadGenerator {
  return {
    name: 'broadcast',
    setup: (ids) => {
      const topo = buildTopology(o.topology, ids)
      const topology: Record<string, string[]> = {}
      for (const [k, v] of topo) topology[k] = v
      return ids.map((node) => ({ node, body: { type: 'topology', topology } }))
    },
    ...readOrAdd(o, 'broadcast', 'message', 'messages'),
  }
}

function gSet(o: Required<WorkloadOptions>): WorkloadGenerator {
  return { name: 'g-set', ...readOrAdd(o, 'add', 'element', 'value') }
}

function counter(name: 'g-counter' | 'pn-counter', o: Required<WorkloadOptions>): WorkloadGenerator {
  return {
    name,
    next: () => {
      if (o.random() < 0.5) return { f: 'read', value: null, body: { type: 'read' } }
      const delta = name === 'g-counter' ? Math.floor(o.random() * 5) : Math.floor(o.random() * 11) - 5
      return { f: 'add', value: delta, body: { type: 'add', delta } }
    },
    okValue: (inv, reply) => {
      if (inv.f !== 'read') return inv.value
      need(isInt(reply.value), 'read_ok value is not an integer')
      return reply.value
    },
    finalRead: () => ({ f: 'read', value: null, body: { type: 'read' } }),
  }
}

function linKv(o: Required<WorkloadOptions>): WorkloadGenerator {
  const r = (n: number) => Math.floor(o.random() * n)
  return {
    name: 'lin-kv',
    next: () => {
      const key = r(o.keyCount)
      const p = o.random()
      if (p < 0.4) return { f: 'read', value: [key, null], body: { type: 'read', key } }
      if (p < 0.7) {
        const value = r(5)
        return { f: 'write', value: [key, value], body: { type: 'write', key, value } }
      }
      const from = r(5)
      const to = r(5)
      return { f: 'cas', value: [key, [from, to]], body: { type: 'cas', key, from, to } }
    },
    okValue: (inv, reply) => {
      if (inv.f !== 'read') return inv.value
      need('value' in reply, 'read_ok has no value')
      return [(inv.value as unknown[])[0], reply.value]
    },
  }
}

function kafka(o: Required<WorkloadOptions>): WorkloadGenerator {
  let seq = 0
  // Per client: the next offset it wants from each key (advanced by its polls).
  const positions = new Map<string, Map<string, number>>()
  const keys = Array.from({ length: o.keyCount }, (_, i) => String(i))
  const pos = (client: string) => {
    let m = positions.get(client)
    if (!m) positions.set(client, (m = new Map()))
    return m
  }
  return {
    name: 'kafka',
    next: (client) => {
      const p = o.random()
      if (p < 0.5) {
        const key = keys[Math.floor(o.random() * keys.length)]!
        const msg = seq++
        return { f: 'send', value: [key, msg], body: { type: 'send', key, msg } }
      }
      const mine = pos(client)
      if (p < 0.85) {
        const offsets: Record<string, number> = {}
        for (const k of keys) offsets[k] = mine.get(k) ?? 0
        return { f: 'poll', value: null, body: { type: 'poll', offsets } }
      }
      if (p < 0.95) {
        const offsets: Record<string, number> = {}
        for (const [k, v] of mine) if (v > 0) offsets[k] = v - 1
        return { f: 'commit_offsets', value: offsets, body: { type: 'commit_offsets', offsets } }
      }
      return {
        f: 'list_committed_offsets',
        value: keys.slice(),
        body: { type: 'list_committed_offsets', keys: keys.slice() },
      }
    },
    okValue: (inv, reply, client) => {
      if (inv.f === 'send') {
        need(isInt(reply.offset), 'send_ok offset is not an integer')
        return [(inv.value as unknown[])[0], reply.offset]
      }
      if (inv.f === 'poll') {
        const msgs = reply.msgs
        need(!!msgs && typeof msgs === 'object' && !Array.isArray(msgs), 'poll_ok msgs is not an object')
        const out: Record<string, Array<[number, unknown]>> = {}
        const mine = pos(client)
        for (const [k, list] of Object.entries(msgs as Record<string, unknown>)) {
          if (!keys.includes(k)) continue
          need(Array.isArray(list), `poll_ok msgs[${k}] is not a list`)
          const pairs: Array<[number, unknown]> = []
          for (const pair of list as unknown[]) {
            need(
              Array.isArray(pair) && pair.length === 2 && isInt(pair[0]),
              `poll_ok msgs[${k}] holds a bad pair`,
            )
            pairs.push([(pair as [number, unknown])[0], (pair as [number, unknown])[1]])
            mine.set(k, Math.max(mine.get(k) ?? 0, (pair as [number])[0] + 1))
          }
          out[k] = pairs
        }
        return out
      }
      if (inv.f === 'list_committed_offsets') {
        const offs = reply.offsets
        need(!!offs && typeof offs === 'object' && !Array.isArray(offs), 'offsets is not an object')
        const out: Record<string, number> = {}
        for (const [k, v] of Object.entries(offs as Record<string, unknown>))
          if (keys.includes(k) && isInt(v)) out[k] = v
        return out
      }
      return inv.value
    },
  }
}

function txn(name: 'txn-rw-register' | 'txn-list-append', o: Required<WorkloadOptions>): WorkloadGenerator {
  let seq = 0
  const writeFn = name === 'txn-rw-register' ? 'w' : 'append'
  return {
    name,
    next: () => {
      const len = 1 + Math.floor(o.random() * o.maxTxnLength)
      const ops: unknown[][] = []
      for (let i = 0; i < len; i++) {
        const key = Math.floor(o.random() * o.keyCount)
        ops.push(o.random() < 0.5 ? ['r', key, null] : [writeFn, key, ++seq])
      }
      return { f: 'txn', value: ops, body: { type: 'txn', txn: ops } }
    },
    okValue: (inv, reply) => {
      const asked = inv.value as unknown[][]
      need(
        Array.isArray(reply.txn) && (reply.txn as unknown[]).length === asked.length,
        'txn_ok txn does not match the request',
      )
      const out: unknown[][] = []
      ;(reply.txn as unknown[]).forEach((mop, i) => {
        need(Array.isArray(mop) && mop.length === 3, 'txn_ok holds a bad micro-op')
        const [f, k] = asked[i]!
        need(
          (mop as unknown[])[0] === f && (mop as unknown[])[1] === k,
          'txn_ok micro-ops differ from the request',
        )
        const v = (mop as unknown[])[2]
        if (f === 'r' && name === 'txn-list-append')
          need(v === null || Array.isArray(v), 'a list read is not a list')
        out.push([f, k, f === 'r' ? v : asked[i]![2]])
      })
      return out
    },
  }
}

/** Each workload's generator. */
const GENERATORS: Record<WorkloadName, (o: Required<WorkloadOptions>) => WorkloadGenerator> = {
  echo: () => echo(),
  'unique-ids': () => uniqueIds(),
  broadcast,
  'g-set': gSet,
  'g-counter': (o) => counter('g-counter', o),
  'pn-counter': (o) => counter('pn-counter', o),
  'lin-kv': linKv,
  kafka,
  'txn-rw-register': (o) => txn('txn-rw-register', o),
  'txn-list-append': (o) => txn('txn-list-append', o),
}

export function createWorkload(name: string, init: WorkloadOptions = {}): WorkloadGenerator {
  const o: Required<WorkloadOptions> = {
    keyCount: init.keyCount ?? 3,
    maxTxnLength: init.maxTxnLength ?? 4,
    topology: init.topology ?? 'grid',
    random: init.random ?? Math.random,
  }
  if (!Number.isInteger(o.keyCount) || o.keyCount < 1 || o.keyCount > 10_000)
    throw new InvalidArgumentError(`keyCount must be an integer 1..10000, got ${o.keyCount}`, 'keyCount')
  if (!Number.isInteger(o.maxTxnLength) || o.maxTxnLength < 1 || o.maxTxnLength > 100)
    throw new InvalidArgumentError(
      `maxTxnLength must be an integer 1..100, got ${o.maxTxnLength}`,
      'maxTxnLength',
    )
  if (!(TOPOLOGIES as readonly string[]).includes(o.topology))
    throw new InvalidArgumentError(
      `topology must be one of ${TOPOLOGIES.join(', ')}, got ${o.topology}`,
      'topology',
    )
  if (!isWorkloadName(name))
    throw new InvalidArgumentError(
      `unknown workload ${name}; one of ${WORKLOAD_NAMES.join(', ')}`,
      'workload',
    )
  return GENERATORS[name](o)
}

export { ShapeError }
