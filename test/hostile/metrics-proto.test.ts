// Issue 14 item 7 against a live node on real sockets (127.61.2.x, ports from the OS): frames
// naming thousands of invented protocols are dropped as `no_protocol` and counted under one label,
// proto="other", so GET /metrics does not grow with them.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { createNode } from '../../src/cluster/node-assembly.js'
import { waitFor } from '../helpers.js'
import { prefixed, rawFrame } from './frames.js'

describe('/metrics under invented protocol names', () => {
  const node = createNode({ name: 'node1', host: '127.61.2.1', httpPort: 0, framePort: 0 })

  before(() => node.start())
  after(() => node.stop())

  const metricsText = async () => {
    const res = await fetch(`${node.httpUrl}/metrics`)
    assert.equal(res.status, 200)
    return res.text()
  }
  const noProtocol = () =>
    node.metrics.total('distlab_frames_dropped_total', { reason: 'no_protocol', direction: 'in' })

  test('5000 invented protos: /metrics stays small, the frames are counted as proto="other"', async () => {
    // One frame of a real protocol first, so that the page holds its ordinary families.
    await fetch(`${node.httpUrl}/`)
    const before = (await metricsText()).length
    const PROTOS = 5000
    const sock = connect({ host: '127.61.2.1', port: node.self().framePort, localAddress: '127.61.2.9' })
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
    sock.on('error', () => {})
    try {
      const dropsBefore = noProtocol()
      for (let i = 0; i < PROTOS; i += 250) {
        const batch: Buffer[] = []
        for (let k = i; k < i + 250; k++)
          batch.push(
            prefixed(
              rawFrame({
                header: {
                  v: 1,
                  id: `p-${k}`,
                  proto: `invented-proto-${k}`,
                  type: 'x',
                  src: 'ghost',
                  dst: 'node1',
                  ts: Date.now(),
                },
                body: Buffer.from('{}'),
              }),
            ),
          )
        await new Promise<void>((r) => sock.write(Buffer.concat(batch), () => r()))
      }
      await waitFor('the frames counted', () => noProtocol() - dropsBefore >= PROTOS, 60_000)
    } finally {
      sock.destroy()
    }
    const text = await metricsText()
    assert.ok(!text.includes('invented-proto-'), 'no invented proto reaches a label')
    assert.match(
      text,
      /distlab_frames_dropped_total\{[^}]*proto="other"[^}]*reason="no_protocol"[^}]*\} (\d+)/,
    )
    assert.match(text, /distlab_frames_received_total\{[^}]*proto="other"[^}]*\} (\d+)/)
    const grown = text.length - before
    assert.ok(grown < 4096, `/metrics grew ${grown} bytes (from ${before})`)
    assert.equal((await fetch(`${node.httpUrl}/health`)).status, 200)
  })
})
