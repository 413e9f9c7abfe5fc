// A forged heartbeat counts as a sign of life only if it is a heartbeat: a `beat` whose body is not
// {n: a positive integer} (heartbeat/wire.ts) is dropped as bad_body before the master's onBeat
// sees it; a well-formed one is delivered. Real sockets: a master on 127.63.18.1 and an attacker's
// TCP connection to its frame port from 127.63.18.9, ports from the OS.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { createNode } from '../../src/cluster/node-assembly.js'
import { waitFor } from '../helpers.js'
import { attackerSocket, jsonFrame, prefixed } from './frames.js'

describe('forged heartbeats', () => {
  const master = createNode({ name: 'master', host: '127.63.18.1', httpPort: 0, framePort: 0 })
  const discarded = () =>
    master.metrics.get('distlab_messages_discarded_total', { proto: 'heartbeat', reason: 'bad_body' })
  const delivered = () => master.metrics.get('distlab_messages_delivered_total', { proto: 'heartbeat' })
  let sock: Socket

  const beat = (body: unknown, id: string) =>
    new Promise<void>((r) =>
      sock.write(prefixed(jsonFrame('heartbeat', 'beat', 'node1', 'master', body, id)), () => r()),
    )

  before(async () => {
    await master.start()
    sock = await attackerSocket('127.63.18.1', master.self().framePort, '127.63.18.9')
  })
  after(async () => {
    sock.destroy()
    await master.stop()
  })

  test('a beat whose body is not {n} is dropped; a well-formed beat is delivered', async () => {
    const bad: unknown[] = [null, {}, { n: 'x' }, { n: 0 }, { n: 1.5 }, [1], 'beat', { n: -3 }]
    for (const [i, body] of bad.entries()) await beat(body, `bad-beat-${i}`)
    await waitFor('the bad beats dropped', () => discarded() >= bad.length, 30_000)
    assert.equal(discarded(), bad.length)
    assert.equal(delivered(), 0, 'no bad beat reached onBeat')

    await beat({ n: 1 }, 'good-beat-1')
    await waitFor('the good beat delivered', () => delivered() === 1, 30_000)
    assert.equal(discarded(), bad.length)
  })
})
