/* global window, document, location, EventSource, requestAnimationFrame, URLSearchParams, sessionStorage */
// distlab dashboard: plain browser JavaScript, no build step, no external requests. The master's
// dashboard server pushes one aggregated tick every 250 ms over server-sent events (/api/stream);
// this file draws the topology with animated flows, the counters, a sequence diagram and charts,
// and sends the controls to /api/action.

import { showFailure } from './anomalies.js'

const $ = (sel) => document.querySelector(sel)
const SVG_NS = 'http://www.w3.org/2000/svg'
const svgEl = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text !== undefined) e.textContent = String(text)
  return e
}
// Number formats: the rules of src/monitor/format.ts (counts 1,234; ms 1,234.5; bytes 12.5 KiB; 78.6%).
const fmtInt = (n) => Math.round(n ?? 0).toLocaleString('en-US')
const fmtBytes = (n) =>
  n < 1024
    ? `${Math.round(n)} B`
    : n < 1048576
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1073741824
        ? `${(n / 1048576).toFixed(1)} MiB`
        : `${(n / 1073741824).toFixed(1)} GiB`
const fmtMs = (x) =>
  x === null || x === undefined
    ? '-'
    : x.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })

// Protocol colours come from the master (GET /api/palette, src/monitor/palette.ts), the palette
// every distlab chart uses: fixed for the known protocols, hashed for the rest by the served rule.
const PALETTE = { known: {}, fallback: ['#8b97b1'] }
async function loadPalette() {
  try {
    const p = await (await fetch('api/palette')).json()
    if (p && typeof p.known === 'object' && Array.isArray(p.fallback) && p.fallback.length) {
      PALETTE.known = p.known
      PALETTE.fallback = p.fallback
    }
  } catch {
    // the page still draws, in one grey, and says nothing: the stream's own errors show
  }
}
function colorOf(proto) {
  if (Object.hasOwn(PALETTE.known, proto)) return PALETTE.known[proto]
  let h = 0
  for (let i = 0; i < proto.length; i++) h = (h * 31 + proto.charCodeAt(i)) >>> 0
  return PALETTE.fallback[h % PALETTE.fallback.length]
}

// Background traffic (heartbeats, membership probes, anti-entropy digests: the master says which,
// in its state) starts hidden in the flows, the sequence diagram, the charts and the rate badge; the
// "background" button shows it in one click. The counters always show everything.
const BG = { protocols: new Set(['heartbeat', 'membership']), types: new Set(['digest']) }
const isBackground = (m) => BG.protocols.has(m.proto) || (m.type !== undefined && BG.types.has(m.type))
const shown = (m) => !S.hidden.has(m.proto) && (S.showBackground || !isBackground(m))

const S = {
  state: null,
  nodes: [],
  pos: new Map(),
  counters: { protocols: {}, nodes: {}, links: {} },
  history: [],
  hidden: new Set(),
  showBackground: false,
  // What the throughput chart and the rate badge show for the last whole second.
  rate: { t: 0, value: 0, series: {} },
  seen: new Set(),
  particles: [],
  seq: [],
  pendingSends: new Map(),
  orphans: new Map(),
  lamport: new Map(),
  cut: new Set(),
  selected: null,
  flows: {},
  ticks: 0,
}
// For tests and curious people: what the page has drawn so far.
window.__distlab = S

// ---------- live stream ----------

function connect() {
  const es = new EventSource('api/stream')
  es.addEventListener('hello', (ev) => {
    const { state, snapshot } = JSON.parse(ev.data)
    setConn(true)
    applyState(state)
    S.counters = { protocols: snapshot.protocols, nodes: snapshot.nodes, links: snapshot.links }
    S.history = snapshot.history
    for (const e of snapshot.recent) addToSequence(e)
    renderCounters()
    renderSequence()
    renderCharts()
  })
  es.addEventListener('tick', (ev) => onTick(JSON.parse(ev.data)))
  es.addEventListener('nodes', (ev) => {
    S.nodes = JSON.parse(ev.data)
    renderTopology()
    renderCounters()
    fillNodeSelects()
  })
  es.onerror = () => setConn(false)
  es.onopen = () => setConn(true)
}

function setConn(ok) {
  const c = $('#conn')
  c.textContent = ok ? 'live' : 'reconnecting…'
  c.className = `pill ${ok ? 'good' : 'bad'}`
}

function applyState(state) {
  S.state = state
  S.nodes = state.nodes
  if (state.background) {
    BG.protocols = new Set(state.background.protocols)
    BG.types = new Set(state.background.types)
  }
  $('#run-id').textContent = state.run ? `run ${state.run.id}` : ''
  layout()
  renderTopology()
  fillNodeSelects()
  applyControls()
}

function onTick(t) {
  S.ticks++
  S.counters = t.counters
  if (t.seconds.length) {
    S.history.push(...t.seconds)
    if (S.history.length > 300) S.history = S.history.slice(-300)
    renderCharts()
  }
  const samp = $('#sampling')
  if (t.sampled) {
    samp.hidden = false
    samp.textContent = `sampling: showing ${fmtInt(t.events.length)} of ${fmtInt(t.total)} events in this tick; counters are exact`
    samp.dataset.lastSampled = String(Date.now())
  } else if (Number(samp.dataset.lastSampled ?? 0) < Date.now() - 3000) samp.hidden = true

  const now = performance.now()
  const first = t.events.length ? t.events[0].ts : 0
  for (const e of t.events) {
    if (!S.seen.has(e.proto)) {
      S.seen.add(e.proto)
      renderLegend()
    }
    // Spread the tick's events over the next tick so that motion stays even.
    const delay = Math.min(250, Math.max(0, e.ts - first))
    spawnFlow(e, now + delay)
    addToSequence(e)
  }
  renderCounters()
  if (!$('#seq-pause').checked) renderSequence()
}

// ---------- topology ----------

function layout() {
  const wrap = $('#topo-wrap')
  const w = wrap.clientWidth || 800
  const h = wrap.clientHeight || 470
  const cx = w / 2
  const cy = h / 2
  const others = S.nodes.filter((n) => n.role !== 'master')
  const r = Math.max(80, Math.min(w, h) / 2 - 48)
  S.pos.clear()
  for (const n of S.nodes) if (n.role === 'master') S.pos.set(n.name, { x: cx, y: cy })
  others.forEach((n, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, others.length)
    S.pos.set(n.name, { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) })
  })
  const c = $('#flows')
  const dpr = window.devicePixelRatio || 1
  c.width = w * dpr
  c.height = h * dpr
  c.getContext('2d').setTransform(dpr, 0, 0, dpr, 0, 0)
  $('#topo').setAttribute('viewBox', `0 0 ${w} ${h}`)
}

function renderTopology() {
  const svg = $('#topo')
  if (S.pos.size !== S.nodes.length || S.nodes.some((n) => !S.pos.has(n.name))) layout()
  svg.replaceChildren()
  const defs = svgEl('defs')
  const grad = svgEl('radialGradient', { id: 'node-grad', cx: '35%', cy: '35%' })
  grad.append(
    svgEl('stop', { offset: '0%', 'stop-color': '#2f4a7a' }),
    svgEl('stop', { offset: '100%', 'stop-color': '#17223a' }),
  )
  const mgrad = svgEl('radialGradient', { id: 'master-grad', cx: '35%', cy: '35%' })
  mgrad.append(
    svgEl('stop', { offset: '0%', 'stop-color': '#3b6fb8' }),
    svgEl('stop', { offset: '100%', 'stop-color': '#1b2f55' }),
  )
  defs.append(grad, mgrad)
  svg.append(defs)
  const names = S.nodes.map((n) => n.name)
  const links = S.counters.links ?? {}
  const dense = names.length > 40
  for (let i = 0; i < names.length; i++)
    for (let j = i + 1; j < names.length; j++) {
      const a = names[i]
      const b = names[j]
      const used = (links[`${a}>${b}`] ?? 0) + (links[`${b}>${a}`] ?? 0)
      const cut = S.cut.has(`${a}|${b}`) || S.cut.has(`${b}|${a}`)
      if (dense && !used && !cut) continue
      const pa = S.pos.get(a)
      const pb = S.pos.get(b)
      svg.append(
        svgEl('line', {
          class: `edge${used ? ' active' : ''}${cut ? ' cut' : ''}`,
          x1: pa.x,
          y1: pa.y,
          x2: pb.x,
          y2: pb.y,
          'stroke-opacity': used ? Math.min(1, 0.35 + Math.log10(used + 1) / 4) : 0.5,
        }),
      )
    }
  for (const n of S.nodes) {
    const p = S.pos.get(n.name)
    const master = n.role === 'master'
    const g = svgEl('g', {
      class: `node-g${n.up ? '' : ' down'}${S.selected === n.name ? ' selected' : ''}`,
      'data-node': n.name,
      'data-up': n.up ? 'true' : 'false',
      transform: `translate(${p.x},${p.y})`,
    })
    const radius = master ? 30 : 24
    g.append(
      svgEl('circle', {
        r: radius + 6,
        fill: 'none',
        stroke: n.up ? 'rgba(90,169,255,0.12)' : 'none',
        'stroke-width': 6,
      }),
      svgEl('circle', {
        class: 'body',
        r: radius,
        fill: master ? 'url(#master-grad)' : 'url(#node-grad)',
        stroke: n.up ? (master ? '#7fb8ff' : '#4f79b8') : '#ff5d6c',
      }),
    )
    const name = svgEl('text', { class: 'name', dy: 4 })
    name.textContent = n.name
    const sub = svgEl('text', { class: 'sub', dy: radius + 16 })
    const c = S.counters.nodes?.[n.name]
    sub.textContent = n.up
      ? `${n.host}${c ? ` · ${fmtInt(c.sent)}↑ ${fmtInt(c.received)}↓` : ''}`
      : `down (${n.why ?? '?'})`
    g.append(name, sub)
    const title = svgEl('title')
    title.textContent = `${n.name} (${n.role}) ${n.host}:${n.httpPort} — ${n.up ? 'up' : `down: ${n.why}`}`
    g.append(title)
    g.addEventListener('click', () => selectNode(n.name))
    svg.append(g)
  }
}

function selectNode(name) {
  S.selected = name
  $('#send-from').value = name
  $('#node-target').value = name
  $('#link-a').value = name
  renderTopology()
}

// ---------- flows ----------

const MAX_PARTICLES = 800
const FLIGHT_MS = 700

function spawnFlow(e, at) {
  let from
  let targets
  const toGroup = typeof e.dst === 'string' && e.dst.startsWith('group:')
  if (e.kind === 'recv' && toGroup && e.src !== e.node) {
    // A group datagram (a foreign cluster's captured IP multicast): one flight per member that took
    // it off the wire, counted once at its send.
    if (!shown(e) || !S.pos.has(e.src) || !S.pos.has(e.node)) return
    if (S.particles.length >= MAX_PARTICLES) S.particles.shift()
    S.particles.push({ from: e.src, to: e.node, start: at, color: colorOf(e.proto) })
    return
  }
  if (e.kind === 'send') {
    from = e.node
    if (e.dst === '*') targets = S.nodes.filter((n) => n.name !== from).map((n) => n.name)
    else if (S.pos.has(e.dst)) targets = [e.dst]
    else if (toGroup) targets = []
    else return
  } else if (e.kind === 'deliver' && e.transport === 'http' && S.pos.has(e.src) && e.src !== e.node) {
    from = e.src
    targets = [e.node]
  } else return
  S.flows[e.proto] = (S.flows[e.proto] ?? 0) + 1
  if (!shown(e) || !S.pos.has(from)) return
  for (const to of targets) {
    if (S.particles.length >= MAX_PARTICLES) S.particles.shift()
    S.particles.push({ from, to, start: at, color: colorOf(e.proto) })
  }
}

function animate(now) {
  const c = $('#flows')
  const ctx = c.getContext('2d')
  ctx.clearRect(0, 0, c.width, c.height)
  const alive = []
  for (const p of S.particles) {
    const t = (now - p.start) / FLIGHT_MS
    if (t > 1) continue
    alive.push(p)
    if (t < 0) continue
    const a = S.pos.get(p.from)
    const b = S.pos.get(p.to)
    if (!a || !b) continue
    const ease = t < 0.5 ? 2 * t * t : 1 - Math.pow(-2 * t + 2, 2) / 2
    const x = a.x + (b.x - a.x) * ease
    const y = a.y + (b.y - a.y) * ease
    const tail = Math.max(0, ease - 0.08)
    ctx.strokeStyle = p.color
    ctx.globalAlpha = 0.35
    ctx.lineWidth = 3
    ctx.beginPath()
    ctx.moveTo(a.x + (b.x - a.x) * tail, a.y + (b.y - a.y) * tail)
    ctx.lineTo(x, y)
    ctx.stroke()
    ctx.globalAlpha = 1
    ctx.fillStyle = p.color
    ctx.shadowColor = p.color
    ctx.shadowBlur = 10
    ctx.beginPath()
    ctx.arc(x, y, 4, 0, Math.PI * 2)
    ctx.fill()
    ctx.shadowBlur = 0
  }
  S.particles = alive
  requestAnimationFrame(animate)
}

function renderLegend() {
  const box = $('#legend')
  box.replaceChildren()
  for (const proto of [...S.seen].sort()) {
    const off = S.hidden.has(proto) || (!S.showBackground && BG.protocols.has(proto))
    const b = el('button', { type: 'button', class: off ? 'off' : '', 'data-proto': proto })
    const dot = el('i')
    dot.style.background = colorOf(proto)
    b.append(dot, document.createTextNode(proto))
    b.addEventListener('click', () => {
      if (S.hidden.has(proto)) S.hidden.delete(proto)
      else S.hidden.add(proto)
      renderLegend()
      renderSequence()
    })
    box.append(b)
  }
}

// ---------- counters ----------

function renderCounters() {
  const pt = $('#proto-table tbody')
  const lastP50 = {}
  const last = S.history[S.history.length - 1]
  if (last) for (const [k, v] of Object.entries(last.p50 ?? {})) lastP50[k] = v
  const rows = Object.entries(S.counters.protocols ?? {}).sort((a, b) => b[1].sent - a[1].sent)
  pt.replaceChildren(
    ...rows.map(([proto, c]) => {
      const tr = el('tr', { 'data-proto': proto })
      const name = el('td')
      const dot = el('span', { class: 'dot' })
      dot.style.background = colorOf(proto)
      name.append(dot, document.createTextNode(proto))
      tr.append(
        name,
        el('td', { 'data-k': 'sent' }, fmtInt(c.sent)),
        el('td', { 'data-k': 'received' }, fmtInt(c.received)),
        el('td', { 'data-k': 'delivered' }, fmtInt(c.delivered)),
        el('td', { 'data-k': 'dropped' }, fmtInt(c.dropped)),
        el('td', {}, fmtBytes(c.bytes)),
        el('td', {}, fmtMs(lastP50[proto])),
      )
      return tr
    }),
  )
  const nt = $('#node-table tbody')
  nt.replaceChildren(
    ...S.nodes.map((n) => {
      const c = S.counters.nodes?.[n.name] ?? { sent: 0, received: 0, delivered: 0, dropped: 0, bytes: 0 }
      const tr = el('tr', { 'data-node': n.name })
      tr.append(
        el('td', {}, n.name),
        el(
          'td',
          { class: n.up ? 'state-up' : 'state-down', 'data-k': 'state' },
          n.up ? 'up' : `down (${n.why ?? '?'})`,
        ),
        el('td', { 'data-k': 'sent' }, fmtInt(c.sent)),
        el('td', { 'data-k': 'received' }, fmtInt(c.received)),
        el('td', { 'data-k': 'delivered' }, fmtInt(c.delivered)),
        el('td', { 'data-k': 'dropped' }, fmtInt(c.dropped)),
        el('td', {}, fmtBytes(c.bytes)),
      )
      return tr
    }),
  )
}

// ---------- sequence diagram ----------

const SEQ_MAX = 40

function addToSequence(e) {
  const base = { id: e.msgId, proto: e.proto, type: e.type, bytes: e.bytes, transport: e.transport }
  if (e.kind === 'send') {
    // Telemetry from different nodes arrives in different batches: a receive may come first.
    const early = e.msgId ? S.orphans.get(e.msgId) : undefined
    if (early) {
      S.orphans.delete(e.msgId)
      Object.assign(early, { from: e.node, to: e.dst, sendTs: e.ts })
      S.pendingSends.set(e.msgId, early)
      return
    }
    const rec = { ...base, from: e.node, to: e.dst, sendTs: e.ts, recvs: [] }
    if (e.msgId) remember(S.pendingSends, e.msgId, rec)
    S.seq.push(rec)
  } else if (e.kind === 'recv') {
    const hit = { node: e.node, ts: e.ts, latencyMs: e.latencyMs }
    const rec = e.msgId ? (S.pendingSends.get(e.msgId) ?? S.orphans.get(e.msgId)) : undefined
    if (rec) rec.recvs.push(hit)
    else {
      const orphan = { ...base, from: e.src, to: e.dst === '*' ? e.node : e.dst, sendTs: null, recvs: [hit] }
      if (e.msgId) remember(S.orphans, e.msgId, orphan)
      S.seq.push(orphan)
    }
  } else if (e.kind === 'drop') {
    S.seq.push({
      ...base,
      from: e.src,
      to: e.dst,
      sendTs: e.ts,
      recvs: [],
      dropped: e.reason ?? 'dropped',
      at: e.node,
    })
  } else if (e.kind === 'deliver' && e.transport === 'http') {
    S.seq.push({
      ...base,
      from: e.src,
      to: e.node,
      sendTs: e.ts,
      transport: 'http',
      recvs: [{ node: e.node, ts: e.ts }],
    })
  }
  if (S.seq.length > 400) S.seq = S.seq.slice(-400)
}

function remember(map, key, value) {
  map.set(key, value)
  if (map.size > 3000) map.delete(map.keys().next().value)
}

function renderSequence() {
  const svg = $('#seq')
  const wrap = svg.parentElement
  const names = S.nodes.map((n) => n.name)
  const visible = S.seq.filter(shown).slice(-SEQ_MAX)
  S.seqShown = visible
  // A gutter on the left for the row labels, so that no Lamport number sits on a label, and rows
  // tall enough that a receive's number and the next send's number do not touch.
  const gutter = 118
  const w = Math.max(wrap.clientWidth - 4, gutter + names.length * 90)
  const colW = (w - gutter) / Math.max(1, names.length)
  const headH = 34
  const rowH = 30
  const h = headH + Math.max(visible.length, 6) * rowH + 30
  svg.setAttribute('width', w)
  svg.setAttribute('height', h)
  svg.replaceChildren()
  const x = new Map(names.map((n, i) => [n, gutter + colW * i + colW / 2]))
  for (const n of names) {
    const cx = x.get(n)
    svg.append(svgEl('line', { class: 'lifeline', x1: cx, y1: headH, x2: cx, y2: h - 6 }))
    const g = svgEl('g', { class: 'head' })
    g.append(svgEl('rect', { x: cx - 38, y: 4, width: 76, height: 24, rx: 6 }))
    const t = svgEl('text', { x: cx, y: 20 })
    t.textContent = n
    g.append(t)
    svg.append(g)
  }
  // Lamport clocks over the messages shown: a send ticks the sender; a receive takes max + 1.
  const L = new Map(names.map((n) => [n, 0]))
  visible.forEach((m, i) => {
    const y1 = headH + 14 + i * rowH
    const color = colorOf(m.proto)
    const x1 = x.get(m.from)
    const sendL = x1 !== undefined ? (L.set(m.from, (L.get(m.from) ?? 0) + 1), L.get(m.from)) : undefined
    const targets = m.recvs.length ? m.recvs : m.to === '*' ? [] : [{ node: m.to, missing: true }]
    const g = svgEl('g', { class: 'msg', 'data-proto': m.proto, 'data-kind': m.dropped ? 'drop' : 'msg' })
    for (const r of targets) {
      const x2 = x.get(r.node)
      if (x2 === undefined && x1 === undefined) continue
      const sx = x1 ?? x2 - 30
      const ex = x2 ?? sx + 30
      const y2 = y1 + rowH * 0.5
      let recvL
      if (!r.missing && x2 !== undefined) {
        recvL = Math.max(L.get(r.node) ?? 0, sendL ?? 0) + 1
        L.set(r.node, recvL)
      }
      const line = svgEl('line', {
        x1: sx,
        y1,
        x2: ex,
        y2,
        stroke: color,
        'stroke-dasharray': r.missing || m.dropped ? '4 3' : '',
        'marker-end': '',
      })
      g.append(svgEl('line', { class: 'hit', x1: sx, y1, x2: ex, y2 }), line)
      // Arrow head, or a cross where the message was lost.
      const ang = Math.atan2(y2 - y1, ex - sx)
      if (m.dropped || r.missing) {
        g.append(
          svgEl('path', {
            d: `M${ex - 4},${y2 - 4} L${ex + 4},${y2 + 4} M${ex - 4},${y2 + 4} L${ex + 4},${y2 - 4}`,
            stroke: '#ff5d6c',
            'stroke-width': 2,
          }),
        )
      } else {
        const hx = ex - 8 * Math.cos(ang - 0.4)
        const hy = y2 - 8 * Math.sin(ang - 0.4)
        const kx = ex - 8 * Math.cos(ang + 0.4)
        const ky = y2 - 8 * Math.sin(ang + 0.4)
        g.append(svgEl('path', { d: `M${ex},${y2} L${hx},${hy} L${kx},${ky} Z`, fill: color }))
      }
      if (recvL !== undefined) {
        const t = svgEl('text', { x: ex + (ex >= sx ? 6 : -16), y: y2 - 3 })
        t.textContent = String(recvL)
        g.append(t)
      }
    }
    if (sendL !== undefined && x1 !== undefined) {
      const t = svgEl('text', { x: x1 + (targets[0] && x.get(targets[0].node) < x1 ? 6 : -16), y: y1 - 3 })
      t.textContent = String(sendL)
      g.append(t)
      g.append(svgEl('circle', { cx: x1, cy: y1, r: 3, fill: color }))
    }
    const label = svgEl('text', { x: 6, y: y1 + 4 })
    label.textContent = `${m.proto}${m.type ? '/' + m.type : ''}`
    g.append(label)
    g.addEventListener('mousemove', (ev) => showTip(ev, m, sendL))
    g.addEventListener('mouseleave', hideTip)
    svg.append(g)
  })
}

function showTip(ev, m, sendL) {
  const tip = $('#tip')
  tip.replaceChildren()
  const line = (k, v) => {
    const d = el('div')
    d.append(el('span', { class: 'k' }, `${k}: `), document.createTextNode(String(v)))
    tip.append(d)
  }
  const head = el('div')
  head.append(el('b', {}, `${m.proto}${m.type ? ' / ' + m.type : ''}`))
  tip.append(head)
  line('from → to', `${m.from} → ${m.to}`)
  if (m.id) line('message id', m.id)
  line('bytes', `${m.bytes} over ${m.transport}`)
  if (m.sendTs) line('sent', new Date(m.sendTs).toISOString().slice(11, 23))
  if (sendL !== undefined) line('Lamport (send)', sendL)
  for (const r of m.recvs)
    line(
      `received by ${r.node}`,
      `${new Date(r.ts).toISOString().slice(11, 23)}${r.latencyMs !== undefined ? ` (+${r.latencyMs} ms)` : ''}`,
    )
  if (m.dropped) line('dropped', `${m.dropped}${m.at ? ` at ${m.at}` : ''}`)
  if (!m.recvs.length && !m.dropped) line('receive', 'not seen (not yet, lost, or not in the sample)')
  tip.hidden = false
  tip.style.left = `${Math.min(window.innerWidth - 350, ev.clientX + 14)}px`
  tip.style.top = `${ev.clientY + 14}px`
}
function hideTip() {
  $('#tip').hidden = true
}

// ---------- charts ----------

function drawChart(canvas, seriesList, opts) {
  const dpr = window.devicePixelRatio || 1
  const w = canvas.clientWidth
  const h = canvas.clientHeight
  canvas.width = w * dpr
  canvas.height = h * dpr
  const ctx = canvas.getContext('2d')
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  ctx.clearRect(0, 0, w, h)
  const L = 44
  const R = 10
  const T = 10
  const B = 22
  const now = Math.floor(Date.now() / 1000) * 1000
  const span = 120_000
  const t0 = now - span
  let ymax = 1
  for (const s of seriesList) for (const p of s.points) if (p.t >= t0) ymax = Math.max(ymax, p.v)
  ymax = niceMax(ymax)
  const X = (t) => L + ((t - t0) / span) * (w - L - R)
  const Y = (v) => h - B - (v / ymax) * (h - T - B)
  ctx.font = '11px system-ui, DejaVu Sans, sans-serif'
  ctx.fillStyle = '#8b97b1'
  ctx.strokeStyle = '#232c44'
  ctx.lineWidth = 1
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4
    const y = Y(v)
    ctx.beginPath()
    ctx.moveTo(L, y)
    ctx.lineTo(w - R, y)
    ctx.stroke()
    ctx.fillText(v >= 100 ? Math.round(v).toString() : +v.toFixed(1) + '', 4, y + 4)
  }
  for (let s = 0; s <= 120; s += 30) {
    const x = X(t0 + s * 1000)
    ctx.fillText(s === 120 ? 'now' : `-${120 - s}s`, x - 10, h - 6)
  }
  if (!seriesList.some((s) => s.points.length)) {
    ctx.fillText(opts.empty, L + 10, T + 20)
    return
  }
  for (const s of seriesList) {
    ctx.strokeStyle = s.color
    ctx.lineWidth = 2
    ctx.setLineDash(s.dashed ? [5, 4] : [])
    ctx.beginPath()
    let started = false
    for (const p of s.points) {
      if (p.t < t0) continue
      if (!started) ctx.moveTo(X(p.t), Y(p.v))
      else ctx.lineTo(X(p.t), Y(p.v))
      started = true
    }
    ctx.stroke()
  }
  ctx.setLineDash([])
  // Legend in the top right.
  let lx = w - R - 4
  ctx.textAlign = 'right'
  for (const s of seriesList.filter((x) => !x.dashed && x.points.some((p) => p.t >= t0)).reverse()) {
    ctx.fillStyle = s.color
    ctx.fillText(s.name, lx, T + 10)
    lx -= ctx.measureText(s.name).width + 14
  }
  ctx.textAlign = 'left'
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function renderCharts() {
  const protos = new Set()
  for (const p of S.history) for (const k of Object.keys(p.sent)) protos.add(k)
  const visible = [...protos].filter((p) => !S.hidden.has(p) && (S.showBackground || !BG.protocols.has(p)))
  // Messages sent per second, without the background ones unless they are shown.
  const sentIn = (p, proto) =>
    (p.sent[proto] ?? 0) - (S.showBackground ? 0 : ((p.background ?? {})[proto] ?? 0))
  const thr = visible.map((proto) => ({
    name: proto,
    color: colorOf(proto),
    points: S.history.map((p) => ({ t: p.t, v: sentIn(p, proto) })),
  }))
  drawChart($('#thr-chart'), thr, { empty: 'no messages yet' })
  // The badge is the chart's last point summed: the same second, the same messages.
  const last = S.history[S.history.length - 1]
  const series = {}
  for (const s of thr) series[s.name] = last ? (s.points[s.points.length - 1]?.v ?? 0) : 0
  const value = Object.values(series).reduce((a, b) => a + b, 0)
  S.rate = { t: last?.t ?? 0, value, series }
  const badge = $('#rate')
  badge.textContent = `${fmtInt(value)} msg/s`
  badge.dataset.t = String(S.rate.t)
  badge.dataset.value = String(value)
  const lat = []
  for (const proto of visible) {
    const p50 = S.history.filter((p) => p.p50[proto] !== undefined).map((p) => ({ t: p.t, v: p.p50[proto] }))
    const p95 = S.history.filter((p) => p.p95[proto] !== undefined).map((p) => ({ t: p.t, v: p.p95[proto] }))
    if (p50.length)
      lat.push(
        { name: proto, color: colorOf(proto), points: p50 },
        { name: proto, color: colorOf(proto), points: p95, dashed: true },
      )
  }
  drawChart($('#lat-chart'), lat, { empty: 'no matched send → receive yet' })
}

// ---------- controls ----------

function fillNodeSelects() {
  const names = S.nodes.map((n) => n.name)
  for (const sel of document.querySelectorAll('.node-select')) {
    const cur = sel.value
    const same = sel.options.length === names.length && [...sel.options].every((o, i) => o.value === names[i])
    if (!same) {
      sel.replaceChildren(...names.map((n) => el('option', { value: n }, n)))
      if (names.includes(cur)) sel.value = cur
    }
    for (const o of sel.options) {
      const n = S.nodes.find((x) => x.name === o.value)
      o.textContent = n && !n.up ? `${n.name} (down)` : o.value
    }
  }
  const from = $('#send-from')
  const to = $('#send-to')
  if (!from.dataset.init && names.length > 1) {
    from.value = names.find((n) => n !== 'master') ?? names[0]
    to.value = names.filter((n) => n !== 'master' && n !== from.value)[0] ?? names[0]
    $('#node-target').value = names[names.length - 1]
    $('#link-a').value = names[1] ?? names[0]
    $('#link-b').value = names[2] ?? names[0]
    from.dataset.init = '1'
  }
}

function applyControls() {
  const c = S.state?.controls ?? {}
  const kindSel = $('#send-kind')
  for (const o of kindSel.options) {
    const ctl = c[o.value]
    o.dataset.reason = ctl && !ctl.enabled ? ctl.reason : ''
    o.textContent =
      o.textContent.replace(/ \(unavailable\)$/, '') + (ctl && !ctl.enabled ? ' (unavailable)' : '')
  }
  if (c[kindSel.value] && !c[kindSel.value].enabled) {
    const firstOk = [...kindSel.options].find((o) => c[o.value]?.enabled)
    if (firstOk) kindSel.value = firstOk.value
  }
  onKindChange()
  for (const [id, key] of [
    ['#kill-btn', 'kill'],
    ['#restart-btn', 'restart'],
  ]) {
    const b = $(id)
    b.disabled = c[key] ? !c[key].enabled : false
    b.title = c[key]?.reason ?? ''
  }
  $('#node-note').textContent = c.kill && !c.kill.enabled ? c.kill.reason : ''
}

function onKindChange() {
  const kind = $('#send-kind').value
  $('#to-label').hidden = kind === 'broadcast' || kind === 'multicast'
  $('#group-label').hidden = kind !== 'multicast'
  $('#strategy-label').hidden = kind !== 'broadcast'
  const reason = $('#send-kind').selectedOptions[0]?.dataset.reason
  $('#send-note').textContent = reason ?? ''
  $('#send-btn').disabled = Boolean(reason)
}

function toast(msg, ok) {
  const t = el('div', { class: `toast${ok ? '' : ' err'}` }, msg)
  $('#toasts').prepend(t)
  setTimeout(() => t.remove(), 6000)
  while ($('#toasts').children.length > 4) $('#toasts').lastChild.remove()
}

// Actions carry the page token the dashboard issues at api/session; a keyed cluster issues it
// only to a page opened with #key=<token> (what `distlab token` prints).
let pageToken
async function session() {
  if (pageToken) return pageToken
  // The key survives the page's own #/runs navigation for this tab only.
  const key = new URLSearchParams(location.hash.slice(1)).get('key') ?? sessionStorage.getItem('distlab-key')
  if (key) sessionStorage.setItem('distlab-key', key)
  const res = await fetch('api/session', { headers: key ? { authorization: `Bearer ${key}` } : {} })
  const json = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(json.message ?? `HTTP ${res.status}`)
  pageToken = json.token
  return pageToken
}

async function act(body) {
  try {
    const res = await fetch('api/action', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-distlab-token': await session() },
      body: JSON.stringify(body),
    })
    const json = await res.json().catch(() => ({}))
    if (!res.ok) throw new Error(json.message ?? `HTTP ${res.status}`)
    toast(json.message ?? 'done', true)
    return json
  } catch (err) {
    toast(err.message, false)
    return undefined
  }
}

function toggleBackground() {
  S.showBackground = !S.showBackground
  const b = $('#bg-toggle')
  b.setAttribute('aria-pressed', String(S.showBackground))
  b.textContent = S.showBackground ? 'background: shown' : 'background: hidden'
  b.classList.toggle('off', !S.showBackground)
  renderLegend()
  renderSequence()
  renderCharts()
}

function wireControls() {
  $('#bg-toggle').addEventListener('click', toggleBackground)
  $('#send-kind').addEventListener('change', onKindChange)
  $('#send-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const kind = $('#send-kind').value
    const body = { action: 'send', kind, from: $('#send-from').value, text: $('#send-text').value }
    if (kind !== 'broadcast' && kind !== 'multicast') body.to = $('#send-to').value
    if (kind === 'multicast') body.group = $('#send-group').value
    if (kind === 'broadcast' && $('#send-strategy').value) body.strategy = $('#send-strategy').value
    void act(body)
  })
  $('#kill-btn').addEventListener('click', async () => {
    await act({ action: 'kill', node: $('#node-target').value })
    refreshNodes()
  })
  $('#restart-btn').addEventListener('click', async () => {
    await act({ action: 'restart', node: $('#node-target').value })
    refreshNodes()
  })
  $('#cut-btn').addEventListener('click', async () => {
    const a = $('#link-a').value
    const b = $('#link-b').value
    if (await act({ action: 'link', a, b, cut: true })) S.cut.add(`${a}|${b}`)
    renderTopology()
  })
  $('#uncut-btn').addEventListener('click', async () => {
    const a = $('#link-a').value
    const b = $('#link-b').value
    if (await act({ action: 'link', a, b, cut: false })) {
      S.cut.delete(`${a}|${b}`)
      S.cut.delete(`${b}|${a}`)
    }
    renderTopology()
  })
  $('#partition-btn').addEventListener('click', () => {
    const groups = $('#partition-groups')
      .value.split('|')
      .map((g) =>
        g
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .filter((g) => g.length)
    if (groups.length < 2) return toast('write at least two groups, e.g. node1,node2 | node3,node4', false)
    void act({ action: 'partition', groups })
  })
  $('#heal-btn').addEventListener('click', async () => {
    if (await act({ action: 'heal' })) S.cut.clear()
    renderTopology()
  })
}

async function refreshNodes() {
  try {
    const state = await (await fetch('api/state')).json()
    S.nodes = state.nodes
    renderTopology()
    renderCounters()
    fillNodeSelects()
  } catch {
    // the stream will bring it
  }
}

// ---------- past runs ----------

async function showRuns() {
  const body = $('#runs-table tbody')
  body.replaceChildren(el('tr', {}, ''))
  try {
    const { runs, current } = await (await fetch('api/runs')).json()
    body.replaceChildren(
      ...runs.map((r) => {
        const tr = el('tr', { 'data-run': r.id })
        const dur = r.open
          ? r.id === current
            ? 'recording'
            : 'open'
          : `${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s`
        tr.append(
          el('td', {}, r.id),
          el('td', {}, new Date(r.startedAt).toLocaleString()),
          el('td', {}, dur),
          el('td', {}, fmtInt(r.events)),
          el('td', {}, fmtInt(r.lostEvents)),
          el('td', {}, r.nodes.length),
          el('td', {}, r.protocols.join(', ')),
          el('td', {}, fmtBytes(r.sizeBytes)),
        )
        tr.addEventListener('click', () => showRun(r.id))
        return tr
      }),
    )
    if (!runs.length) body.replaceChildren(el('tr', {}, 'no runs yet'))
  } catch (err) {
    body.replaceChildren(el('tr', {}, `could not list runs: ${err.message}`))
  }
}

async function showRun(id) {
  const res = await fetch(`api/runs/${encodeURIComponent(id)}`)
  const json = await res.json()
  if (!res.ok) return toast(json.message, false)
  const r = json.report
  $('#run-detail').hidden = false
  $('#run-title').textContent = `Run ${r.run}: ${fmtInt(r.events)} events, ${fmtInt(r.lostEvents)} lost`
  void showFailure($('#run-failure'), id)
  const pct = (x) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`)
  $('#run-protocols tbody').replaceChildren(
    ...Object.entries(r.protocols).map(([name, p]) => {
      const tr = el('tr')
      const td = el('td')
      const dot = el('span', { class: 'dot' })
      dot.style.background = colorOf(name)
      td.append(dot, document.createTextNode(name))
      tr.append(
        td,
        ...[
          fmtInt(p.sent),
          fmtInt(p.received),
          fmtInt(p.dropped),
          fmtBytes(p.bytes),
          fmtInt(p.uniqueMessages),
          pct(p.deliveryRatio),
          fmtInt(p.duplicates),
          fmtMs(p.latencyMs.p50),
          fmtMs(p.latencyMs.p95),
          fmtMs(p.latencyMs.p99),
          fmtMs(p.latencyMs.max),
          pct(p.unnecessaryRatio),
        ].map((v) => el('td', {}, v)),
      )
      return tr
    }),
  )
  $('#run-nodes tbody').replaceChildren(
    ...Object.entries(r.nodes).map(([name, n]) => {
      const tr = el('tr')
      tr.append(
        ...[
          name,
          fmtInt(n.sent),
          fmtInt(n.received),
          fmtInt(n.dropped),
          fmtBytes(n.bytes),
          fmtBytes(n.bytesReceived),
          fmtInt(n.delivered),
          fmtInt(n.duplicates),
        ].map((v) => el('td', {}, v)),
      )
      return tr
    }),
  )
}

function route() {
  const runs = location.hash.startsWith('#/runs')
  $('#live').hidden = runs
  $('#runs').hidden = !runs
  $('#tab-live').classList.toggle('active', !runs)
  $('#tab-runs').classList.toggle('active', runs)
  if (runs) void showRuns()
  else {
    layout()
    renderTopology()
    renderSequence()
    renderCharts()
  }
}

window.addEventListener('hashchange', route)
window.addEventListener('resize', () => {
  layout()
  renderTopology()
  renderSequence()
  renderCharts()
})
wireControls()
route()
void loadPalette().then(connect)
requestAnimationFrame(animate)
setInterval(renderCharts, 1000)
