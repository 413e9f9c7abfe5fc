import { test } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom } from '../../src/core/random.js'

test('seededRandom: the same seed gives the same sequence, so a failing run can be replayed', () => {
  const a = seededRandom(42)
  const b = seededRandom(42)
  const first = Array.from({ length: 1000 }, () => a())
  assert.deepEqual(
    Array.from({ length: 1000 }, () => b()),
    first,
  )
  const other = seededRandom(43)
  assert.notDeepEqual(
    Array.from({ length: 1000 }, () => other()),
    first,
  )
})

test('seededRandom: numbers lie in [0, 1) and spread over it', () => {
  const r = seededRandom(7)
  const buckets = new Array<number>(10).fill(0)
  for (let i = 0; i < 10_000; i++) {
    const x = r()
    assert.ok(x >= 0 && x < 1, `out of range: ${x}`)
    buckets[Math.floor(x * 10)]!++
  }
  for (const n of buckets) assert.ok(n > 800 && n < 1200, `uneven buckets: ${buckets.join(',')}`)
})
