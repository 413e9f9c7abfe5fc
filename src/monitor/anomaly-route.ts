// GET /api/runs/:id/anomalies: what a Maelstrom run left in its run file (the verdict, the
// checker's anomaly examples with the offending operations, and the frames that carried them),
// plus each of those frames' path in the run's telemetry: which node sent it, which received or
// dropped it, when. The past-run view draws the offending operations from it.
import type { FastifyInstance } from 'fastify'
import { HttpBodyError } from '../core/errors.js'
import { resolveRun, RunReader, type RunStore } from './store.js'

/** One telemetry event of an offending operation's frame. */
export interface FrameHop {
  ts: number
  node: string
  kind: string
  src: string
  dst: string
  reason?: string
}

export interface AnomalyView {
  run: string
  /** Null when the run was not a Maelstrom test. */
  maelstrom: {
    workload: string
    valid: unknown
    summary: string
    reason?: string
    anomalies: Record<string, unknown[]>
    opFrames: Record<string, { request: string; reply?: string }>
  } | null
  /** Frame id → its events in time order (frames of offending operations only). */
  frames: Record<string, FrameHop[]>
}

/** Frames looked up per run, and hops kept per frame: the page draws a few. */
const MAX_FRAMES = 200
const MAX_HOPS = 64

const str = (v: unknown): string => (typeof v === 'string' ? v : '')

/** Reads the anomaly view of one run file (bounded whatever the file holds). */
export function readAnomalyView(reader: RunReader): AnomalyView {
  const meta = reader.meta()
  const raw = (meta as Record<string, unknown>)['maelstrom']
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return { run: meta.id, maelstrom: null, frames: {} }
  const m = raw as Record<string, unknown>
  const anomalies = new Map<string, unknown[]>()
  if (m.anomalies && typeof m.anomalies === 'object' && !Array.isArray(m.anomalies)) {
    for (const [k, v] of Object.entries(m.anomalies as Record<string, unknown>).slice(0, 50))
      anomalies.set(k, Array.isArray(v) ? v.slice(0, 20) : [v])
  }
  const opFrames = new Map<string, { request: string; reply?: string }>()
  const wanted = new Set<string>()
  if (m.opFrames && typeof m.opFrames === 'object' && !Array.isArray(m.opFrames)) {
    for (const [k, v] of Object.entries(m.opFrames as Record<string, unknown>).slice(0, MAX_FRAMES)) {
      if (!v || typeof v !== 'object') continue
      const f = v as Record<string, unknown>
      const request = str(f.request)
      if (!request) continue
      const reply = str(f.reply)
      opFrames.set(k, reply ? { request, reply } : { request })
      wanted.add(request)
      if (reply) wanted.add(reply)
    }
  }
  const frames = new Map<string, FrameHop[]>()
  for (const e of reader.events()) {
    if (!wanted.has(e.msgId)) continue
    let hops = frames.get(e.msgId)
    if (hops === undefined) {
      hops = []
      frames.set(e.msgId, hops)
    }
    if (hops.length >= MAX_HOPS) continue
    const hop: FrameHop = { ts: e.ts, node: e.node, kind: e.kind, src: e.src, dst: e.dst }
    if (e.reason !== undefined) hop.reason = e.reason
    hops.push(hop)
  }
  const view: AnomalyView = {
    run: meta.id,
    maelstrom: {
      workload: str(m.workload),
      valid: m.valid === true || m.valid === false ? m.valid : 'unknown',
      summary: str(m.summary),
      anomalies: Object.fromEntries(anomalies),
      opFrames: Object.fromEntries(opFrames),
    },
    frames: Object.fromEntries(frames),
  }
  if (typeof m.reason === 'string' && view.maelstrom) view.maelstrom.reason = m.reason
  return view
}

/** Registers the route on the dashboard's server. */
export function anomalyRoutes(app: FastifyInstance, runsDir: string, store?: RunStore): void {
  app.get('/api/runs/:id/anomalies', async (req) => {
    const id = (req.params as { id: string }).id
    if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new HttpBodyError('bad run id', 'id')
    if (store && id === store.id) store.flush()
    const reader = new RunReader(resolveRun(id, runsDir))
    try {
      return readAnomalyView(reader)
    } finally {
      reader.close()
    }
  })
}
