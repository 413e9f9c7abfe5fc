// GET /metrics as Prometheus reads it (prom-client's text format): every sample belongs to a family
// with HELP and TYPE, today's counter names and labels are kept, and the three latency histograms
// (unicast round trip, broadcast delivery, membership probe) fill as real traffic crosses real
// sockets between three nodes; the process's default metrics (CPU, memory, event loop lag) are
// there too. Loopback block 127.79.x.y.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { unicast } from '../../src/protocols/unicast/index.js'
import { broadcast } from '../../src/protocols/broadcast/index.js'
import { membership } from '../../src/protocols/membership/index.js'
import { getJson, postJson, waitFor } from '../helpers.js'
import { createRequire } from 'node:module'
import { Metrics } from '../../src/node/metrics.js'

/** Whether prom-client (CommonJS, so in require's cache however it was imported) is loaded in this process. */
const promClientLoaded = () =>
  Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/prom-client/'))

interface Family {
  type: string
  help: string
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>
}

/** A strict reader of the text format: throws on any line that is not a comment or a sample. */
function parse(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count'])
      if (sample.endsWith(suffix)) {
        const f = families.get(sample.slice(0, sample.length - suffix.length))
        if (f) return f
      }
    return undefined
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (m) {
      const f = families.get(m[2]!) ?? { type: '', help: '', samples: [] }
      if (m[1] === 'HELP') f.help = m[3]!
      else f.type = m[3]!
      families.set(m[2]!, f)
      continue
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of m[2]?.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g) ?? [])
      labels[k!] = v!
    const f = familyOf(m[1]!)
    assert.ok(f, `sample ${m[1]} has no HELP/TYPE`)
    f.samples.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return families
}

/** A histogram's observation count, after checking its buckets are cumulative and end at +Inf. */
function histogramCount(f: Family | undefined): number {
  assert.ok(f, 'histogram present')
  assert.equal(f.type, 'histogram')
  const buckets = f.samples.filter((s) => s.name.endsWith('_bucket'))
  assert.ok(buckets.length >= 2)
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value)
  assert.equal(buckets.at(-1)!.labels.le, '+Inf')
  const count = f.samples.find((s) => s.name.endsWith('_count'))!.value
  assert.equal(count, buckets.at(-1)!.value)
  return count
}

test('counting and timing do not load prom-client (a node starts without it); the first render does, and writes the histogram', async () => {
  const m = new Metrics()
  m.inc('distlab_frames_sent_total', 'Frames put on the wire.', { proto: 'p', transport: 'udp' })
  for (const s of [0.0005, 0.02, 0.02, 7, -1, Number.NaN])
    m.observe('distlab_x_seconds', 'A test histogram.', s)
  assert.equal(promClientLoaded(), false, 'prom-client was loaded before /metrics was read')
  const families = parse(await m.render())
  assert.equal(promClientLoaded(), true)
  const h = families.get('distlab_x_seconds')
  assert.equal(histogramCount(h), 6)
  const bucket = (le: string) => h!.samples.find((s) => s.labels.le === le)!.value
  assert.deepEqual(
    [bucket('0.001'), bucket('0.025'), bucket('5'), bucket('10'), bucket('+Inf')],
    [3, 5, 5, 6, 6],
  )
  assert.equal(h!.samples.find((s) => s.name === 'distlab_x_seconds_sum')!.value, 7.0405)
  assert.equal(families.get('distlab_frames_sent_total')!.samples[0]!.value, 1)
})

describe('GET /metrics through prom-client', () => {
  const master = createNode({
    name: 'master',
    host: '127.79.1.1',
    httpPort: 0,
    framePort: 0,
    protocols: [membership({ registry: true, probeIntervalMs: 200, probeTimeoutMs: 150 })],
  })
  const nodes: Node[] = []

  before(async () => {
    await master.start()
    for (let i = 1; i <= 3; i++) {
      const n = createNode({
        name: `node${i}`,
        host: `127.79.2.${i}`,
        httpPort: 0,
        framePort: 0,
        masterUrl: master.httpUrl,
        protocols: [
          unicast(),
          broadcast(),
          membership({ bootstrapUrl: master.httpUrl, probeIntervalMs: 200, probeTimeoutMs: 150 }),
        ],
      })
      nodes.push(n)
      await n.start()
    }
    for (const n of nodes) await n.refreshMembers()
  })
  after(async () => {
    for (const n of nodes) await n.stop()
    await master.stop()
  })

  test('counters keep their names; unicast, broadcast and probe latencies are histograms; process metrics are there', async () => {
    const [n1, n2] = nodes as [Node, Node]
    for (let i = 0; i < 5; i++) {
      const r = await postJson(`${n1.httpUrl}/unicast`, { to: 'node2', msg: `m${i}`, timeoutMs: 20_000 })
      assert.equal(r.status, 200, JSON.stringify(r.body))
    }
    assert.equal((await postJson(`${n1.httpUrl}/broadcast`, { msg: 'b' })).status, 200)
    const scrape = async (n: Node) => parse((await getJson<string>(`${n.httpUrl}/metrics`)).body)

    const sender = await waitFor(
      'node1 to have probed a member',
      async () => {
        const f = await scrape(n1)
        const probes = f.get('distlab_membership_probe_seconds')
        return probes && histogramCount(probes) > 0 ? f : undefined
      },
      30_000,
      200,
    )
    assert.equal(histogramCount(sender.get('distlab_unicast_rtt_seconds')), 5)
    const sent = sender.get('distlab_frames_sent_total')!
    assert.equal(sent.type, 'counter')
    assert.match(sent.help, /Frames put on the wire/)
    const unicastFrames = sent.samples.filter((s) => s.labels.proto === 'unicast')
    assert.ok(unicastFrames.reduce((a, s) => a + s.value, 0) >= 5, JSON.stringify(unicastFrames))
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ])
      assert.ok(sender.has(name), name)

    const receiver = await waitFor(
      'node2 to have delivered the broadcast',
      async () => {
        const f = await scrape(n2)
        const b = f.get('distlab_broadcast_delivery_seconds')
        return b && histogramCount(b) >= 1 ? f : undefined
      },
      30_000,
      200,
    )
    const delivered = receiver.get('distlab_messages_delivered_total')!
    assert.ok(
      delivered.samples.some((s) => s.labels.proto === 'unicast' && s.value === 5),
      JSON.stringify(delivered),
    )
    // A delivery from the same machine takes well under the top bucket.
    const b = receiver.get('distlab_broadcast_delivery_seconds')!
    const within30 = b.samples.find((s) => s.name.endsWith('_bucket') && s.labels.le === '30')!.value
    assert.equal(within30, histogramCount(b))
  })
})
