import { test, describe, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { LinkEmulator, LinkTable } from '../../src/link/emulator.js'
import { MemoryNetwork, MemoryTransport } from '../../src/transport/memory.js'
import { ManualClock } from '../../src/core/clock.js'
import { seededRandom } from '../../src/core/random.js'
import { createEnvelope } from '../../src/core/envelope.js'
import type { DropInfo, InboundMessage } from '../../src/core/interfaces.js'

/** A repeatable source of randomness. */
const seeded = seededRandom

const tick = () => new Promise((r) => setImmediate(r))
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick()
}

describe('link emulator', () => {
  let net: MemoryNetwork
  let clock: ManualClock
  let a: LinkEmulator
  let b: LinkEmulator
  let atB: InboundMessage[]
  let dropsA: DropInfo[]
  let dropsB: DropInfo[]

  beforeEach(async () => {
    net = new MemoryNetwork()
    clock = new ManualClock()
    atB = []
    dropsA = []
    dropsB = []
    a = new LinkEmulator(new MemoryTransport({ network: net, host: 'a' }), {
      table: new LinkTable('node1'),
      clock,
      random: seeded(1),
    })
    b = new LinkEmulator(new MemoryTransport({ network: net, host: 'b' }), {
      table: new LinkTable('node2'),
      clock,
      random: seeded(2),
    })
    a.setHandler({ message: () => {}, drop: (d) => dropsA.push(d) })
    b.setHandler({ message: (m) => atB.push(m), drop: (d) => dropsB.push(d) })
    await a.start()
    await b.start()
  })
  afterEach(async () => {
    await a.stop()
    await b.stop()
  })

  const sendN = async (n: number, from = a, src = 'node1', dst = 'node2', to = () => b.address()) => {
    for (let i = 0; i < n; i++)
      await from.send(to(), createEnvelope({ proto: 't', type: 'x', src, dst, body: i }))
    await settle()
  }

  test('with no rule every frame arrives', async () => {
    await sendN(50)
    assert.equal(atB.length, 50)
  })

  test('loss 1 stops all traffic on the link and each drop is reported', async () => {
    a.table.setRule('node2', { loss: 1 })
    await sendN(20)
    assert.equal(atB.length, 0)
    assert.equal(dropsA.filter((d) => d.reason === 'loss').length, 20)
  })

  test('loss 0.3 loses about 30%', async () => {
    a.table.setRule('*', { loss: 0.3 })
    await sendN(1000)
    assert.ok(atB.length > 600 && atB.length < 800, `delivered ${atB.length} of 1000`)
  })

  test('drop every 3rd', async () => {
    a.table.setRule('node2', { dropEvery: 3 })
    await sendN(9)
    assert.deepEqual(
      atB.map((m) => m.env.body),
      [0, 1, 3, 4, 6, 7],
    )
  })

  test('delay holds a frame until its time comes', async () => {
    a.table.setRule('node2', { delayMs: 50 })
    await sendN(1)
    assert.equal(atB.length, 0)
    clock.advance(49)
    await settle()
    assert.equal(atB.length, 0)
    clock.advance(1)
    await settle()
    assert.equal(atB.length, 1)
  })

  test('duplicate 1 sends every frame twice', async () => {
    a.table.setRule('node2', { duplicate: 1 })
    await sendN(5)
    assert.equal(atB.length, 10)
  })

  test('reorder lets later frames overtake', async () => {
    a.table.setRule('node2', { reorder: 0.5, delayMs: 1 })
    await sendN(40)
    clock.advance(1000)
    await settle()
    const order = atB.map((m) => m.env.body as number)
    assert.equal(order.length, 40)
    assert.notDeepEqual(
      order,
      [...order].sort((x, y) => x - y),
    )
  })

  test('a partition cuts both directions, spares nodes outside it, and heal restores', async () => {
    for (const e of [a, b]) e.table.setPartition([['node1'], ['node2']])
    await sendN(3)
    assert.equal(atB.length, 0)
    assert.equal(dropsA.filter((d) => d.reason === 'partition').length, 3)
    // A broadcast-addressed frame from node1 is cut at node2's side too.
    a.table.heal()
    await sendN(1, a, 'node1', '*')
    assert.equal(atB.length, 0)
    assert.equal(dropsB.at(-1)?.reason, 'partition')
    // node3 is in no group: it reaches node2.
    await sendN(1, a, 'node3', 'node2')
    assert.equal(atB.length, 1)
    b.table.heal()
    await sendN(2)
    assert.equal(atB.length, 3)
  })

  test('a rule for one peer overrides the rule for all, and rules are checked', () => {
    a.table.setRule('*', { loss: 0.5 })
    a.table.setRule('node3', { delayMs: 10 })
    assert.equal(a.table.ruleFor('node3').loss, 0)
    assert.equal(a.table.ruleFor('node9').loss, 0.5)
    assert.throws(() => a.table.setRule('*', { loss: 2 }), { code: 'ERR_INVALID_ARGUMENT', field: 'loss' })
    assert.throws(() => a.table.setPartition([['node1'], ['node1']]), { code: 'ERR_INVALID_ARGUMENT' })
  })
})
