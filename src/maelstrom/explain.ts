// Names the operations behind a Maelstrom verdict for a person: each anomaly's examples become lines
// that say which operation (client, node, index in the history) and which distlab frames carried it,
// so `distlab analyze` and the dashboard can point at them in the run's telemetry.

/** What a Maelstrom run leaves in its run file's meta table under `maelstrom`. */
export interface MaelstromRunMeta {
  valid: true | false | 'unknown'
  workload: string
  summary: string
  anomalies: Record<string, unknown[]>
  reason?: string
  results?: string
  /** History index of an invoke → the frames of its request and reply (offending operations only). */
  opFrames?: Record<string, { request: string; reply?: string }>
}

interface OpRef {
  index?: number
  completeIndex?: number
  client?: string
  node?: string
  f?: string
  value?: unknown
  type?: string
}

const isOpRef = (v: unknown): v is OpRef =>
  !!v &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  typeof (v as OpRef).index === 'number' &&
  typeof (v as OpRef).f === 'string'

/** Operation references inside one anomaly example, at most two levels down (examples are small). */
function opsIn(example: unknown): OpRef[] {
  const out: OpRef[] = []
  const visit = (v: unknown, depth: number) => {
    if (out.length >= 20 || depth > 2 || !v || typeof v !== 'object') return
    if (isOpRef(v)) {
      out.push(v)
      return
    }
    for (const child of Array.isArray(v)
      ? v.slice(0, 50)
      : Object.values(v as Record<string, unknown>).slice(0, 50))
      visit(child, depth + 1)
  }
  visit(example, 0)
  return out
}

/** History indexes of every operation an anomaly example names. */
export function offendingOps(anomalies: Record<string, unknown[]>): number[] {
  const seen = new Set<number>()
  for (const examples of Object.values(anomalies))
    for (const ex of (Array.isArray(examples) ? examples : [examples]).slice(0, 20))
      for (const op of opsIn(ex)) seen.add(op.index!)
  return [...seen].sort((a, b) => a - b)
}

const short = (v: unknown) => {
  const s = JSON.stringify(v) ?? 'null'
  return s.length > 80 ? s.slice(0, 77) + '...' : s
}

function describeOp(op: OpRef, frames?: MaelstromRunMeta['opFrames']): string {
  const f = frames?.[String(op.index)]
  const where = `${op.client ?? '?'} → ${op.node ?? '?'}`
  const wire = f ? ` [frames ${f.request}${f.reply ? ` / ${f.reply}` : ', no reply'}]` : ''
  return `op ${op.index} ${op.f}(${short(op.value)}) by ${where}${wire}`
}

/** One line per anomaly example (at most `perKind` each), with the operations it names. */
export function describeAnomalies(meta: MaelstromRunMeta, perKind = 5): string[] {
  const lines: string[] = []
  for (const [kind, examples] of Object.entries(meta.anomalies ?? {})) {
    const list = Array.isArray(examples) ? examples : [examples]
    lines.push(`${kind}: ${list.length} example${list.length === 1 ? '' : 's'}`)
    for (const ex of list.slice(0, perKind)) {
      const ops = opsIn(ex)
      const facts: string[] = []
      if (ex && typeof ex === 'object' && !Array.isArray(ex))
        for (const [k, v] of Object.entries(ex as Record<string, unknown>).slice(0, 12))
          if (!isOpRef(v) && !(Array.isArray(v) && v.some(isOpRef))) facts.push(`${k}=${short(v)}`)
      lines.push(`  - ${facts.join(' ') || short(ex)}`)
      for (const op of ops.slice(0, 8)) lines.push(`      ${describeOp(op, meta.opFrames)}`)
    }
  }
  return lines
}
