// Go-Back-N delivers the exact byte stream whatever the network does to it: loss from 0 to 50% (the
// course's emulation on both data and ACKs), corruption in flight, several messages in a row. In
// memory with a fake clock so runs are fast and repeatable; one run over real UDP on loopback.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ManualClock } from '../../../src/core/clock.js'
import { goBackN, memoryNetwork, type GoBackN, type GbnEvent } from '../../../src/protocols/gbn/index.js'
import { encodePacket } from '../../../src/protocols/gbn/wire.js'
import { seededRandom } from '../../../src/core/random.js'

interface Pair {
  a: GoBackN
  b: GoBackN
  clock: ManualClock
  received: Buffer[]
}

async function pair(opts: {
  window: number
  dropProbability?: number
  dropEvery?: number
  netLoss?: number
  corrupt?: number
  seed: number
  segmentBytes?: number
}): Promise<Pair> {
  const clock = new ManualClock(1_700_000_000_000)
  const random = seededRandom(opts.seed)
  const network = memoryNetwork({
    clock,
    latencyMs: 1,
    loss: opts.netLoss ?? 0,
    corrupt: opts.corrupt ?? 0,
    random: seededRandom(opts.seed + 1),
  })
  const common = {
    window: opts.window,
    dropProbability: opts.dropProbability,
    dropEvery: opts.dropEvery,
    segmentBytes: opts.segmentBytes ?? 100,
  }
  const a = goBackN({ port: 1111, peerPort: 2222, ...common })({ network, clock, random })
  const b = goBackN({ port: 2222, peerPort: 1111, ...common })({ network, clock, random })
  await a.start()
  await b.start()
  const received: Buffer[] = []
  b.on('data', (m) => received.push(m))
  return { a, b, clock, received }
}

/** Advances the fake clock until the promise settles; bounded in steps. */
async function drive<T>(clock: ManualClock, p: Promise<T>, maxSteps = 2_000_000): Promise<T> {
  let done = false
  let value: T | undefined
  let error: unknown
  p.then(
    (v) => ((done = true), (value = v)),
    (e) => ((done = true), (error = e)),
  )
  for (let i = 0; i < maxSteps && !done; i++) {
    clock.advance(1)
    if (i % 64 === 0) await new Promise((r) => setImmediate(r))
    else await Promise.resolve()
  }
  await new Promise((r) => setImmediate(r))
  assert.ok(done, 'transfer did not finish within the step bound')
  if (error) throw error
  return value as T
}

describe('Go-Back-N byte stream', () => {
  for (const loss of [0, 0.1, 0.2, 0.3, 0.4, 0.5]) {
    test(`delivers the exact bytes at ${loss * 100}% loss on data and ACKs`, async () => {
      const { a, b, clock, received } = await pair({
        window: 8,
        dropProbability: loss,
        seed: 42 + loss * 100,
      })
      const message = randomBytes(6000)
      const summary = await drive(clock, a.send(message))
      assert.equal(received.length, 1)
      assert.deepEqual(received[0], message)
      assert.equal(summary.packets, 60)
      if (loss === 0) assert.equal(summary.transmissions, 60)
      else assert.ok(summary.transmissions > 60, 'losses make retransmissions')
      await a.stop()
      await b.stop()
    })
  }

  test('drops every n-th packet with -d and still delivers', async () => {
    const { a, b, clock, received } = await pair({ window: 5, dropEvery: 3, seed: 7, segmentBytes: 1 })
    const events: GbnEvent[] = []
    b.on('event', (e) => events.push(e))
    await drive(clock, a.send(Buffer.from('abcdefghijklmnopqrstuvwxyz')))
    assert.equal(received[0]!.toString(), 'abcdefghijklmnopqrstuvwxyz')
    const arrived = events.filter((e) => e.kind === 'packet-received' || e.kind === 'packet-discarded').length
    const discarded = events.filter((e) => e.kind === 'packet-discarded').length
    assert.equal(discarded, Math.floor(arrived / 3))
    await a.stop()
    await b.stop()
  })

  test('discards corrupted packets and delivers the exact bytes', async () => {
    const { a, b, clock, received } = await pair({ window: 10, corrupt: 0.3, seed: 99 })
    const message = randomBytes(5000)
    await drive(clock, a.send(message))
    assert.deepEqual(received[0], message)
    const rejected = a.stats().rejected + b.stats().rejected
    assert.ok(rejected > 0, 'corrupted packets were counted as rejected')
    await a.stop()
    await b.stop()
  })

  test('loss and corruption in flight together, window 1 and 64, several messages in order', async () => {
    for (const window of [1, 64]) {
      const { a, b, clock, received } = await pair({
        window,
        netLoss: 0.2,
        corrupt: 0.1,
        dropProbability: 0.1,
        seed: window,
      })
      const messages = [randomBytes(1), Buffer.alloc(0), randomBytes(3000), randomBytes(777)]
      const all = Promise.all(messages.map((m) => a.send(m)))
      await drive(clock, all)
      assert.equal(received.length, messages.length)
      messages.forEach((m, i) => assert.deepEqual(received[i], m))
      await a.stop()
      await b.stop()
    }
  })

  test('both ends send at the same time', async () => {
    const { a, b, clock, received } = await pair({ window: 4, dropProbability: 0.2, seed: 5 })
    const back: Buffer[] = []
    a.on('data', (m) => back.push(m))
    const m1 = randomBytes(2000)
    const m2 = randomBytes(2500)
    await drive(clock, Promise.all([a.send(m1), b.send(m2)]))
    assert.deepEqual(received[0], m1)
    assert.deepEqual(back[0], m2)
    await a.stop()
    await b.stop()
  })

  test('the event stream has the course shape: window moves by cumulative ACK, timeout resends the window', async () => {
    const { a, b, clock } = await pair({ window: 3, dropEvery: 4, seed: 1, segmentBytes: 1 })
    const sent: GbnEvent[] = []
    a.on('event', (e) => sent.push(e))
    await drive(clock, a.send(Buffer.from('abcdefg')))
    const timeout = sent.find((e) => e.kind === 'timeout')
    assert.ok(timeout, 'a dropped packet causes a timeout')
    const bases = sent
      .filter((e) => e.kind === 'ack-received')
      .map((e) => (e as { windowBase: number }).windowBase)
    for (let i = 1; i < bases.length; i++)
      assert.ok(bases[i]! > bases[i - 1]!, 'every ACK reported as received moves the window')
    assert.equal(bases.at(-1), 7)
    const summary = sent.at(-1)
    assert.equal(summary?.kind, 'summary')
    await a.stop()
    await b.stop()
  })
})

describe('Go-Back-N over UDP on loopback', () => {
  const open: GoBackN[] = []
  after(async () => {
    for (const g of open) await g.stop()
  })

  test('delivers a buffer between two OS-chosen ports, ignores garbage and foreign senders', async () => {
    const { createSocket } = await import('node:dgram')
    // Find two free ports by binding port 0.
    const probe = async () => {
      const s = createSocket('udp4')
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
      const port = s.address().port
      await new Promise<void>((r) => s.close(() => r()))
      return port
    }
    const pa = await probe()
    const pb = await probe()
    const a = goBackN({ port: pa, peerPort: pb, window: 16, dropProbability: 0.1, timeoutMs: 50 })()
    const b = goBackN({ port: pb, peerPort: pa, window: 16, dropProbability: 0.1, timeoutMs: 50 })()
    open.push(a, b)
    await a.start()
    await b.start()
    const got = new Promise<Buffer>((resolve) => b.once('data', resolve))
    // Garbage from the peer's port and from a stranger.
    const stranger = createSocket('udp4')
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()))
    for (let i = 0; i < 20; i++) stranger.send(randomBytes(i * 10), pb, '127.0.0.1')
    stranger.send(
      encodePacket({ type: 'data', seq: 0, flags: 1, payload: Buffer.from('evil') }),
      pb,
      '127.0.0.1',
    )
    const message = randomBytes(200_000)
    await a.send(message)
    assert.deepEqual(await got, message)
    await new Promise<void>((r) => stranger.close(() => r()))
    assert.ok(b.stats().rejected >= 21)
  })
})
