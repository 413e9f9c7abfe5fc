// The dashboard server without a browser: its static files, its state and stream, its controls'
// errors, the runs pages, and the live aggregate's sampling above 1000 events per second.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { MasterExtras } from '../../src/monitor/master-extras.js'
import { LiveAggregator } from '../../src/monitor/live.js'
import type { TelemetryEvent } from '../../src/core/telemetry.js'
import { getJson, scratchDir, waitFor } from '../helpers.js'

const dir = scratchDir('distlab-dashboard-')
let master: Node
let node1: Node
let extras: MasterExtras
let url = ''
let token = ''

before(async () => {
  master = createNode({ name: 'master', host: '127.70.5.1', httpPort: 0, framePort: 0 })
  await master.start()
  node1 = createNode({
    name: 'node1',
    host: '127.70.5.2',
    httpPort: 0,
    framePort: 0,
    masterUrl: master.httpUrl,
  })
  await node1.start()
  extras = new MasterExtras(master, {
    runsDir: join(dir, 'runs'),
    dashboardPort: 0,
    stateDir: join(dir, 'state'),
  })
  await extras.start()
  url = extras.dashboard.url
  token = (await getJson<{ token: string }>(`${url}/api/session`)).body.token
})

/** POST /api/action as the page does: with the page token the dashboard issued. */
function act<T = unknown>(body: unknown): Promise<{ status: number; body: T }> {
  return getJson<T>(`${url}/api/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-distlab-token': token },
    body: JSON.stringify(body),
  })
}
after(async () => {
  await extras?.stop()
  await node1?.stop()
  await master?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Reads server-sent events until `until` says stop (bounded by time). */
async function readStream(
  until: (event: string, data: unknown) => boolean,
  timeoutMs = 15_000,
): Promise<Array<{ event: string; data: unknown }>> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), timeoutMs)
  const seen: Array<{ event: string; data: unknown }> = []
  try {
    const res = await fetch(`${url}/api/stream`, { signal: ctrl.signal })
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const decoder = new TextDecoder()
    let buf = ''
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true })
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (!event || data === undefined) continue
        const parsed = JSON.parse(data) as unknown
        seen.push({ event, data: parsed })
        if (until(event, parsed)) return seen
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err
  } finally {
    clearTimeout(timer)
    ctrl.abort()
  }
  return seen
}

describe('dashboard server', () => {
  test('serves the front end from web/, and nothing outside it', async () => {
    const index = await fetch(`${url}/`)
    assert.equal(index.status, 200)
    assert.match(index.headers.get('content-type') ?? '', /text\/html/)
    const html = await index.text()
    assert.match(html, /<script src="app.js"/)
    assert.doesNotMatch(html, /https?:\/\//, 'no request leaves the machine (no CDN)')
    const js = await fetch(`${url}/app.js`)
    assert.equal(js.status, 200)
    assert.match(js.headers.get('content-type') ?? '', /javascript/)
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/nope.js'])
      assert.equal((await fetch(`${url}${path}`)).status, 404, path)
  })

  test('state lists the cluster and says why a control is disabled', async () => {
    await waitFor('node1 joined', () => master.member('node1'))
    const { status, body } = await getJson<{
      nodes: Array<{ name: string; up: boolean; host: string }>
      controls: Record<string, { enabled: boolean; reason?: string }>
      run: { id: string }
    }>(`${url}/api/state`)
    assert.equal(status, 200)
    assert.deepEqual(
      body.nodes.map((n) => [n.name, n.up, n.host]),
      [
        ['master', true, '127.70.5.1'],
        ['node1', true, '127.70.5.2'],
      ],
    )
    assert.equal(body.run.id, extras.store.id)
    assert.equal(body.controls.ping!.enabled, true)
    assert.equal(body.controls.kill!.enabled, false)
    assert.match(body.controls.kill!.reason!, /supervisor/)
  })

  test('a control sent to the server reaches the node, and the stream shows its traffic', async () => {
    const streamed = readStream(
      (event, data) =>
        event === 'tick' &&
        ((data as { counters: { protocols: Record<string, { received: number }> } }).counters.protocols.ping
          ?.received ?? 0) >= 2,
    )
    await new Promise((r) => setTimeout(r, 300))
    const r = await act<{ ok: boolean; result: { rttMs: number } }>({
      action: 'send',
      kind: 'ping',
      from: 'master',
      to: 'node1',
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.ok, true)
    const seen = await streamed
    assert.equal(seen[0]!.event, 'hello')
    const ticks = seen.filter((s) => s.event === 'tick').map((s) => s.data as { events: TelemetryEvent[] })
    const events = ticks.flatMap((t) => t.events)
    assert.ok(
      events.some((e) => e.proto === 'ping' && e.kind === 'send' && e.node === 'master' && e.dst === 'node1'),
    )
    assert.ok(events.some((e) => e.proto === 'ping' && e.kind === 'recv' && e.node === 'node1'))
  })

  test('controls that cannot work answer with a reason, never a crash', async () => {
    const kill = await act<{ message: string }>({ action: 'kill', node: 'node1' })
    assert.equal(kill.status, 501)
    assert.match(kill.body.message, /supervisor/)
    const noTo = await act<{ field: string }>({
      action: 'send',
      kind: 'ping',
      from: 'master',
    })
    assert.equal(noTo.status, 400)
    assert.equal(noTo.body.field, 'to')
    const bad = await act<{ error: string }>({ action: 'explode' })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error, 'invalid_body')
    const ghost = await act<{ message: string }>({
      action: 'send',
      kind: 'ping',
      from: 'ghost',
      to: 'node1',
    })
    assert.equal(ghost.status, 404)
    assert.match(ghost.body.message, /no node named ghost/)
    // A link cut goes to both ends.
    const cut = await act({ action: 'link', a: 'master', b: 'node1', cut: true })
    assert.equal(cut.status, 200)
    assert.equal(master.links.ruleFor('node1').loss, 1)
    assert.equal(node1.links.ruleFor('master').loss, 1)
    const heal = await act({ action: 'heal' })
    assert.equal(heal.status, 200)
    assert.equal(master.links.ruleFor('node1').loss, 0)
  })

  test('past runs: the current run is listed and analysed', async () => {
    const list = await getJson<{ current: string; runs: Array<{ id: string }> }>(`${url}/api/runs`)
    assert.equal(list.status, 200)
    assert.equal(list.body.current, extras.store.id)
    assert.ok(list.body.runs.some((r) => r.id === extras.store.id))
    const one = await getJson<{ report: { run: string; protocols: Record<string, { sent: number }> } }>(
      `${url}/api/runs/${extras.store.id}`,
    )
    assert.equal(one.status, 200)
    assert.equal(one.body.report.run, extras.store.id)
    assert.ok(one.body.report.protocols.ping!.sent >= 2)
    assert.equal((await getJson(`${url}/api/runs/nope`)).status, 404)
  })
})

describe('live aggregate', () => {
  const e = (i: number): TelemetryEvent => ({
    ts: Date.now(),
    node: `node${i % 5}`,
    proto: 'broadcast',
    kind: i % 2 ? 'recv' : 'send',
    msgId: `m${i >> 1}`,
    src: 'node0',
    dst: '*',
    bytes: 10,
    transport: 'udp',
  })

  test('above 1000 events per second the page gets a sample, flagged, and exact counters', () => {
    const live = new LiveAggregator(250, 1000)
    live.ingest(Array.from({ length: 5000 }, (_, i) => e(i)))
    const tick = live.tick()
    assert.equal(tick.total, 5000)
    assert.equal(tick.sampled, true)
    assert.equal(tick.events.length, 250)
    const c = live.counters().protocols.broadcast!
    assert.equal(c.sent, 2500)
    assert.equal(c.received, 2500)
  })

  test('below the limit every event is shown', () => {
    const live = new LiveAggregator(250, 1000)
    live.ingest(Array.from({ length: 100 }, (_, i) => e(i)))
    const tick = live.tick()
    assert.equal(tick.sampled, false)
    assert.equal(tick.events.length, 100)
    assert.ok(tick.events.filter((x) => x.kind === 'recv').every((x) => x.latencyMs !== undefined))
  })
})
