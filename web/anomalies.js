/* global document */
// The "Failure" panel of the past-run view: for a Maelstrom run judged invalid, the verdict, each
// anomaly named, and the offending operations drawn from GET api/runs/:id/anomalies. Broadcast and
// g-set lost values: the path of the client's request frame through the nodes (sent, received,
// dropped) as a small sequence diagram, outlined in red, and the nodes whose final read lacked the
// value. lin-kv: the non-linearizable history as a timeline per key, one lane per client process,
// each operation a bar from invoke to completion. A run file is hostile input: every string from it
// goes in as text (textContent, attribute values), every list is cut to a few entries.

const SVG_NS = 'http://www.w3.org/2000/svg'
const MAX_EXAMPLES = 8
const MAX_OPS = 60
const MAX_LANES = 12
const MAX_HOPS = 64

const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text !== undefined) e.textContent = String(text)
  return e
}
const svgEl = (tag, attrs = {}, text) => {
  const e = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text !== undefined) e.textContent = String(text)
  return e
}
const isObj = (v) => !!v && typeof v === 'object' && !Array.isArray(v)
const list = (v, n) => (Array.isArray(v) ? v.slice(0, n) : v === undefined ? [] : [v])
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const short = (v, n = 40) => {
  let s
  try {
    s = typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null')
  } catch {
    s = '?'
  }
  return s.length > n ? s.slice(0, n - 1) + '…' : s
}
const isOp = (v) => isObj(v) && typeof v.index === 'number' && typeof v.f === 'string'

/**
 * The label of one lin-kv operation: `w 3`, `r 2`, `cas 1->4` (its value is [key, v] for a read
 * or write, [key, [from, to]] for a cas), or its function and value otherwise.
 */
export function opLabel(op) {
  const v = Array.isArray(op.value) && op.value.length === 2 ? op.value[1] : undefined
  if (op.f === 'write' && v !== undefined) return `w ${short(v, 16)}`
  if (op.f === 'read') return `r ${op.type === 'ok' && v !== undefined ? short(v, 16) : '?'}`
  if (op.f === 'cas' && Array.isArray(v) && v.length === 2) return `cas ${short(v[0], 8)}->${short(v[1], 8)}`
  return `${short(op.f, 12)} ${short(op.value, 16)}`
}

/**
 * Fills `panel` for run `id`; hides it when the run is not an invalid Maelstrom run. Returns the
 * view it drew from (or null).
 */
export async function showFailure(panel, id) {
  panel.hidden = true
  panel.replaceChildren()
  let view
  try {
    const res = await fetch(`api/runs/${encodeURIComponent(id)}/anomalies`)
    if (!res.ok) return null
    view = await res.json()
  } catch {
    return null
  }
  const m = isObj(view) ? view.maelstrom : null
  if (!isObj(m) || m.valid !== false) return null
  const frames = isObj(view.frames) ? view.frames : {}
  const opFrames = isObj(m.opFrames) ? m.opFrames : {}
  const anomalies = isObj(m.anomalies) ? m.anomalies : {}
  const kinds = Object.keys(anomalies).slice(0, 20)

  panel.append(
    el('h2', {}, 'Failure'),
    el('p', { class: 'verdict', 'data-valid': 'false' }, `${short(m.workload, 40)}: invalid`),
  )
  if (typeof m.summary === 'string' && m.summary)
    panel.append(el('p', { class: 'muted' }, short(m.summary, 400)))
  const names = el('ul', { class: 'anomaly-kinds' })
  for (const k of kinds) {
    const n = Array.isArray(anomalies[k]) ? anomalies[k].length : 1
    names.append(el('li', { 'data-anomaly': k }, `${k}: ${n} example${n === 1 ? '' : 's'} shown`))
  }
  panel.append(names)

  for (const k of kinds) {
    const sec = el('section', { class: 'anomaly', 'data-anomaly': k })
    sec.append(el('h3', {}, k))
    const examples = list(anomalies[k], MAX_EXAMPLES)
    for (const ex of examples) {
      if (k === 'lost' && isObj(ex)) sec.append(drawLost(ex, opFrames, frames))
      else if (k === 'nonlinearizable' && isObj(ex) && Array.isArray(ex.ops)) sec.append(drawTimeline(ex))
      else sec.append(el('pre', { class: 'example' }, short(ex, 600)))
    }
    panel.append(sec)
  }
  panel.hidden = false
  return view
}

// ---------- broadcast / g-set: a lost value's path ----------

function drawLost(ex, opFrames, frames) {
  const box = el('div', { class: 'lost', 'data-element': short(ex.element, 40) })
  const add = isOp(ex.add) ? ex.add : undefined
  const missing = list(ex['missing-on'], 20).map((n) => short(n, 24))
  box.append(
    el('h4', {}, `value ${short(ex.element, 40)} lost`),
    el(
      'p',
      { class: 'small' },
      add
        ? `added by ${short(add.client, 24)} at ${short(add.node, 24)} (op ${add.index}, ${short(add.type, 8)})`
        : 'added by an unknown operation',
    ),
    el(
      'p',
      { class: 'small missing-on' },
      missing.length
        ? `final read lacked it on: ${missing.join(', ')}`
        : 'the last read after it was known lacked it',
    ),
  )
  const f = add ? opFrames[String(add.index)] : undefined
  const request = isObj(f) && typeof f.request === 'string' ? f.request : undefined
  const reply = isObj(f) && typeof f.reply === 'string' ? f.reply : undefined
  const paths = []
  if (request) paths.push({ id: request, role: 'request', hops: list(frames[request], MAX_HOPS) })
  if (reply) paths.push({ id: reply, role: 'reply', hops: list(frames[reply], MAX_HOPS) })
  if (!paths.length || paths.every((p) => !p.hops.length)) {
    box.append(el('p', { class: 'muted small' }, 'no frames of this operation were recorded'))
    return box
  }
  for (const p of paths) {
    const kinds = p.hops.map((h) => (isObj(h) ? short(h.kind, 12) : '?'))
    box.append(
      el(
        'p',
        { class: 'small mono', 'data-frame': p.id },
        `${p.role} frame ${short(p.id, 60)}: ${kinds.join(' → ')}`,
      ),
    )
  }
  box.append(drawPath(paths))
  return box
}

/** A small sequence diagram: one lane per node, time downwards, each frame's send → receive/drop. */
function drawPath(paths) {
  const hops = []
  for (const p of paths)
    for (const h of p.hops) {
      if (!isObj(h) || num(h.ts) === undefined) continue
      hops.push({
        frame: p.id,
        role: p.role,
        ts: h.ts,
        node: short(h.node, 24),
        kind: short(h.kind, 12),
        src: short(h.src, 24),
        dst: short(h.dst, 24),
        reason: typeof h.reason === 'string' ? short(h.reason, 40) : '',
      })
    }
  // Time order; within one millisecond a send comes before what it caused.
  const rank = (k) => (k === 'send' ? 0 : k === 'deliver' ? 2 : 1)
  hops.sort((a, b) => a.ts - b.ts || rank(a.kind) - rank(b.kind))
  const lanes = []
  const laneOf = new Map()
  for (const h of hops)
    for (const n of [h.src, h.node, h.dst])
      if (n && !laneOf.has(n) && lanes.length < MAX_LANES) {
        laneOf.set(n, lanes.length)
        lanes.push(n)
      }
  const t0 = hops.length ? hops[0].ts : 0
  // One row per event (timestamps are milliseconds: many share one), labelled with its time.
  const laneW = 190
  const top = 34
  const rowH = 24
  const height = top + Math.max(2, hops.length) * rowH + 10
  const width = Math.max(2, lanes.length) * laneW + 80
  const rowOf = new Map(hops.map((h, i) => [h, i]))
  const y = (h) => top + (rowOf.get(h) ?? 0) * rowH
  const x = (n) => 60 + (laneOf.get(n) ?? 0) * laneW
  const svg = svgEl('svg', { class: 'path-diagram', width, height, viewBox: `0 0 ${width} ${height}` })
  for (const n of lanes) {
    svg.append(
      svgEl('text', { x: x(n), y: 14, 'text-anchor': 'middle', class: 'lane-name' }, n),
      svgEl('line', { x1: x(n), y1: 22, x2: x(n), y2: height - 6, class: 'lane' }),
    )
  }
  // Each send joined to the receive, delivery or drop of the same frame at another node.
  for (const s of hops) {
    if (s.kind !== 'send' || !laneOf.has(s.src)) continue
    for (const r of hops) {
      if (r.frame !== s.frame || r === s || r.kind === 'send' || r.node === s.src) continue
      if (!laneOf.has(r.node)) continue
      // A delivery after a receive at the same node is the same arrival.
      if (
        r.kind === 'deliver' &&
        hops.some((q) => q.frame === r.frame && q.kind === 'recv' && q.node === r.node)
      )
        continue
      const g = svgEl('g', {
        class: `hop offending ${r.kind === 'drop' ? 'dropped' : ''}`,
        'data-frame': s.frame,
      })
      g.append(
        svgEl('line', { x1: x(s.src), y1: y(s), x2: x(r.node), y2: y(r), class: 'arrow' }),
        svgEl(
          'title',
          {},
          `${s.role} ${s.frame}: ${s.src} → ${r.node} ${r.kind}${r.reason ? ` (${r.reason})` : ''}`,
        ),
      )
      svg.append(g)
    }
  }
  for (const h of hops) {
    const n = h.kind === 'send' ? h.src : h.node
    if (!laneOf.has(n)) continue
    const cx = x(n)
    const cy = y(h)
    const g = svgEl('g', { class: `mark ${h.kind}`, 'data-kind': h.kind })
    if (h.kind === 'drop')
      g.append(
        svgEl('path', {
          d: `M${cx - 6} ${cy - 6} L${cx + 6} ${cy + 6} M${cx + 6} ${cy - 6} L${cx - 6} ${cy + 6}`,
        }),
      )
    else g.append(svgEl('circle', { cx, cy, r: 5 }))
    g.append(
      svgEl(
        'text',
        { x: cx + 9, y: cy + 4, class: 'mark-label' },
        `${h.role} ${h.kind}${h.reason ? ` (${h.reason})` : ''} +${h.ts - t0} ms`,
      ),
    )
    svg.append(g)
  }
  return svg
}

// ---------- lin-kv: the non-linearizable history as a timeline ----------

function drawTimeline(ex) {
  const ops = ex.ops.slice(0, MAX_OPS).filter(isOp)
  const prefix = new Set(
    list(ex['linearizable-prefix'], MAX_OPS * 4)
      .filter(isOp)
      .map((o) => o.index),
  )
  const box = el('div', { class: 'timeline', 'data-key': short(ex.key, 40) })
  box.append(
    el(
      'h4',
      {},
      `key ${short(ex.key, 40)}: ${ops.length} operation${ops.length === 1 ? '' : 's'} with no linearizable order` +
        `${ex.minimal === true ? ' (minimal)' : ''}`,
    ),
  )
  const lanes = []
  const laneOf = new Map()
  let t0 = Infinity
  let t1 = -Infinity
  for (const op of ops) {
    const p = `${short(op.client, 16)} (p${Number(op.process) || 0})`
    if (!laneOf.has(p)) {
      laneOf.set(p, lanes.length)
      lanes.push(p)
    }
    const a = num(op.time) ?? 0
    t0 = Math.min(t0, a)
    t1 = Math.max(t1, num(op.completeTime) ?? a)
  }
  const span = Math.max(1, t1 - t0)
  const left = 110
  const width = 760
  const laneH = 34
  const height = 30 + lanes.length * laneH
  const x = (t) => left + ((t - t0) / span) * (width - left - 70)
  const svg = svgEl('svg', { class: 'kv-timeline', width, height, viewBox: `0 0 ${width} ${height}` })
  lanes.forEach((p, i) => {
    const ly = 24 + i * laneH
    svg.append(
      svgEl('text', { x: 4, y: ly + 16, class: 'lane-name' }, p),
      svgEl('line', { x1: left, y1: ly + 26, x2: width - 6, y2: ly + 26, class: 'lane' }),
    )
  })
  svg.append(svgEl('text', { x: left, y: 12, class: 'axis' }, `0 ms`))
  svg.append(svgEl('text', { x: width - 66, y: 12, class: 'axis' }, `${(span / 1e6).toFixed(1)} ms`))
  for (const op of ops) {
    const p = `${short(op.client, 16)} (p${Number(op.process) || 0})`
    const ly = 24 + (laneOf.get(p) ?? 0) * laneH
    const a = x(num(op.time) ?? t0)
    const done = num(op.completeTime)
    const b = done === undefined ? width - 40 : Math.max(a + 4, x(done))
    const blocked = !prefix.has(op.index)
    const label = opLabel(op)
    const g = svgEl('g', {
      class: `op witness ${blocked ? 'blocked' : ''} ${done === undefined ? 'open' : ''}`,
      'data-op': op.index,
      'data-label': label,
    })
    g.append(
      svgEl('rect', { x: a, y: ly + 4, width: b - a, height: 20, rx: 4 }),
      svgEl('text', { x: a + 4, y: ly + 18, class: 'op-label' }, label),
      svgEl(
        'title',
        {},
        `op ${op.index} ${label} by ${short(op.client, 16)} at ${short(op.node, 16)}: ${short(op.type, 8)}` +
          (blocked ? ' (cannot be placed after the linearizable prefix)' : ''),
      ),
    )
    svg.append(g)
  }
  box.append(svg)
  box.append(
    el(
      'p',
      { class: 'muted small' },
      'Each bar runs from invoke to completion (an open end: no reply). Red bars: operations the ' +
        'linearizability search could not place after the longest linearizable prefix.',
    ),
  )
  return box
}
