// Issue 14 item 9 (open cluster), what a node keeps while it takes in a flood of one origin's seqs
// above a gap (seq 0 never sent): gap repair holds one pending repair per origin, not a timer per
// message (the old repair scheduled one for every seq past the gap: 125k timers and closures for
// the bench's flood, each living a GRAFT timeout). Live node on real sockets (127.91.1.x, this
// file's block; ports from the OS); its protocol timers run on a manual clock, so every timer the
// flood leaves behind is counted, none has fired.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { ManualClock } from '../../src/core/clock.js'
import { broadcast, type Broadcast } from '../../src/protocols/broadcast/index.js'
import { waitFor } from '../helpers.js'
import { prefixed, rawFrame } from './frames.js'

const bc = (n: Node) => n.protocol<Broadcast>('broadcast')!

describe('a flood of one origin above a gap', () => {
  const clock = new ManualClock(Date.now())
  let n1: Node
  let sock: Socket

  before(async () => {
    n1 = createNode({
      name: 'node1',
      host: '127.91.1.2',
      httpPort: 0,
      framePort: 0,
      clock,
      protocols: [broadcast({ antiEntropyIntervalMs: 0 })],
    })
    await n1.start()
    sock = connect({ host: '127.91.1.2', port: n1.self().framePort, localAddress: '127.91.1.9' })
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
    sock.on('error', () => {})
  })
  after(async () => {
    sock.destroy()
    await n1.stop()
  })

  test('20k seqs from one origin past a missing seq 0 leave one repair timer, not one per message', async () => {
    const timersBefore = clock.pending()
    const deliveredBefore = bc(n1).stats().delivered
    const COUNT = 20_000
    const PER = 1000
    for (let at = 1; at <= COUNT; at += PER) {
      const m = []
      for (let k = at; k < at + PER; k++) m.push({ o: 'far~1', q: k, v: 0, s: 'flood', t: 1, h: 1 })
      const frame = rawFrame({
        header: {
          v: 1,
          id: `gap-${at}`,
          proto: 'broadcast',
          type: 'msg',
          src: 'far',
          dst: 'node1',
          ts: Date.now(),
        },
        body: Buffer.from(JSON.stringify({ m, a: 1 })),
      })
      await new Promise<void>((r) => sock.write(prefixed(frame), () => r()))
    }
    await waitFor('the flood delivered', () => bc(n1).stats().delivered - deliveredBefore >= COUNT, 60_000)
    const left = clock.pending() - timersBefore
    assert.ok(left <= 2, `${left} timers pending after ${COUNT} messages of one origin`)
  })
})
