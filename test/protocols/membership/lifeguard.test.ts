// Lifeguard's parts on a manual clock: the local health score and how it scales timeouts, and the
// dynamic suspicion that starts long and shrinks with independent confirmations (memberlist's
// numbers: SuspicionMult 4, SuspicionMaxTimeoutMult 6, AwarenessMaxMultiplier 8), with the last
// check of the suspect that ends when the suspicion is due.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock, type Clock } from '../../../src/core/clock.js'
import { MAX_LATE_REARMS } from '../../../src/protocols/membership/constants.js'
import { Awareness } from '../../../src/protocols/membership/awareness.js'
import {
  MAX_CONFIRMERS,
  SUSPICION_LATE_MS,
  Suspicion,
  type LastCheck,
  suspicionBounds,
  suspicionTimeoutMs,
} from '../../../src/protocols/membership/suspicion.js'

describe('local health (awareness)', () => {
  test('missed acks raise the score up to max − 1; answered probes lower it to 0; timeouts scale by score + 1', () => {
    const a = new Awareness(8)
    assert.equal(a.scale(500), 500)
    a.apply(3)
    assert.equal(a.health, 3)
    assert.equal(a.scale(500), 2000)
    a.apply(100)
    assert.equal(a.health, 7)
    assert.equal(a.scale(1000), 8000)
    for (let i = 0; i < 20; i++) a.apply(-1)
    assert.equal(a.health, 0)
  })
})

describe('dynamic suspicion', () => {
  test('the timeout goes from max to min as log(c + 1) / log(k + 1)', () => {
    assert.equal(suspicionTimeoutMs(0, 2, 4000, 24_000), 24_000)
    assert.equal(
      suspicionTimeoutMs(1, 2, 4000, 24_000),
      Math.floor(24_000 - (Math.log(2) / Math.log(3)) * 20_000),
    )
    assert.equal(suspicionTimeoutMs(2, 2, 4000, 24_000), 4000)
    assert.equal(suspicionTimeoutMs(5, 2, 4000, 24_000), 4000)
    assert.equal(suspicionTimeoutMs(0, 0, 4000, 24_000), 4000, 'k = 0: the minimum at once')
  })

  test("memberlist's bounds: min = mult × log10(n) × the base probe interval, max = 6 × min, k = mult − 2", () => {
    // Five members: log10 5 < 1, so four probe intervals; k = 2 confirmations expected.
    assert.deepEqual(suspicionBounds(5, 4, 6, 1000), { k: 2, minMs: 4000, maxMs: 24_000 })
    const big = suspicionBounds(1000, 4, 6, 1000)
    assert.equal(big.k, 2)
    assert.equal(Math.round(big.minMs), 12_000)
    assert.equal(Math.round(big.maxMs), 72_000)
    // Too few members to give k confirmations (n − 2 < k): the minimum at once.
    assert.equal(suspicionBounds(3, 4, 6, 1000).k, 0)
    assert.equal(suspicionBounds(4, 4, 6, 1000).k, 2)
  })

  test('alone, a suspicion waits the whole maximum', () => {
    const clock = new ManualClock()
    let fired = 0
    new Suspicion({ clock, k: 2, minMs: 4000, maxMs: 24_000, from: 'node1', onTimeout: () => fired++ })
    clock.advance(23_999)
    assert.equal(fired, 0)
    clock.advance(1)
    assert.equal(fired, 1)
  })

  test('a timer that fired late (this process stalled) waits as long again, a few times at most', () => {
    // A clock whose timers fire 2 s after they are due, as in a process that stalls for 2 s.
    const inner = new ManualClock()
    const lag = 2000
    assert.ok(lag > SUSPICION_LATE_MS)
    const late: Clock = {
      now: () => inner.now(),
      setTimeout: (fn, ms) => inner.setTimeout(fn, ms + lag),
      clearTimeout: (h) => inner.clearTimeout(h),
    }
    let fired = 0
    new Suspicion({ clock: late, k: 0, minMs: 4000, maxMs: 4000, from: 'node1', onTimeout: () => fired++ })
    // Due at 4 s, it fires at 6 s, 2 s late: it waits 2 s more, and so on MAX_LATE_REARMS times.
    const firesAt = 4000 + lag * (MAX_LATE_REARMS + 1)
    inner.advance(firesAt - 1)
    assert.equal(fired, 0)
    inner.advance(1)
    assert.equal(fired, 1)
    // On time, the same suspicion ends when due.
    const onTime = new ManualClock()
    let firedOnTime = 0
    new Suspicion({
      clock: onTime,
      k: 0,
      minMs: 4000,
      maxMs: 4000,
      from: 'node1',
      onTimeout: () => firedOnTime++,
    })
    onTime.advance(4000)
    assert.equal(firedOnTime, 1)
  })

  test('independent confirmations shorten it; the same confirmer or the originator counts once', () => {
    const clock = new ManualClock()
    let fired = 0
    const s = new Suspicion({
      clock,
      k: 2,
      minMs: 4000,
      maxMs: 24_000,
      from: 'node1',
      onTimeout: () => fired++,
    })
    clock.advance(1000)
    assert.equal(s.confirm('node1'), false, 'the originator is not a confirmation')
    assert.equal(s.confirm('node2'), true)
    assert.equal(s.confirm('node2'), false)
    assert.equal(s.confirmations, 1)
    const one = suspicionTimeoutMs(1, 2, 4000, 24_000)
    clock.advance(one - 1000 - 1)
    assert.equal(fired, 0)
    assert.equal(s.confirm('node3'), true)
    // Two confirmations: the minimum, long passed, so it fires at once.
    clock.advance(0)
    assert.equal(fired, 1)
    assert.equal(s.confirm('node4'), false, 'done: nothing more counts')
  })

  test('stop() cancels it (a refutation), and confirmers are bounded', () => {
    const clock = new ManualClock()
    let fired = 0
    const s = new Suspicion({
      clock,
      k: 1000,
      minMs: 10,
      maxMs: 1_000_000,
      from: 'x',
      onTimeout: () => fired++,
    })
    let counted = 0
    for (let i = 0; i < 10_000; i++) if (s.confirm(`n${i}`)) counted++
    assert.equal(counted, MAX_CONFIRMERS - 1)
    s.stop()
    s.stop()
    clock.advance(2_000_000)
    assert.equal(fired, 0)
  })
})

describe('the last check of a suspect', () => {
  /**
   * A suspicion (k 2, 4-24 s, raised by a) with a last check 2 s ahead whose answer the test gives:
   * `startedAt` is when the suspicion asked for it, `fired` how often the suspicion ran out.
   */
  function suspectWithCheck() {
    const clock = new ManualClock()
    const c = { startedAt: -1, fired: 0, answer: (_alive: boolean) => {} }
    const lastCheck: LastCheck = {
      leadMs: 2000,
      run: () => {
        c.startedAt = clock.now()
        return new Promise<boolean>((resolve) => (c.answer = resolve))
      },
    }
    const s = new Suspicion({
      clock,
      k: 2,
      minMs: 4000,
      maxMs: 24_000,
      from: 'a',
      onTimeout: () => c.fired++,
      lastCheck,
    })
    return { clock, c, s }
  }
  const settle = () => new Promise((r) => setImmediate(r))

  test('it starts leadMs before the timeout, and a member that never answers goes when due, no later', async () => {
    const { clock, c } = suspectWithCheck()
    clock.advance(21_999)
    assert.equal(c.startedAt, -1)
    clock.advance(1)
    assert.equal(c.startedAt, 22_000)
    clock.advance(1500)
    c.answer(false)
    await settle()
    assert.equal(c.fired, 0, 'the check failed, but the suspicion is not due yet')
    clock.advance(500)
    assert.equal(c.fired, 1)
  })

  test('a member that answers is not removed', async () => {
    const { clock, c } = suspectWithCheck()
    clock.advance(23_000)
    c.answer(true)
    await settle()
    clock.advance(100_000)
    assert.equal(c.fired, 0)
  })

  test('a timeout that confirmations brought closer than the lead waits for the answer', async () => {
    const { clock, c, s } = suspectWithCheck()
    clock.advance(10_000)
    s.confirm('b')
    s.confirm('c') // the minimum, 4 s, long passed: due now
    clock.advance(0)
    assert.equal(c.startedAt, 10_000, 'the check starts at once')
    assert.equal(c.fired, 0, 'and the member is not removed before it answers')
    clock.advance(1999)
    c.answer(false)
    await settle()
    assert.equal(c.fired, 1)
  })
})
