// cn-loss's judgement of one link's reported loss rate (`distlab check seed004`): a correct node's
// rate is a sample, so the accepted error widens where the link carried few probes, and a rate
// printed with two decimals exactly at the tolerance passes. This is the CI failure of a correct
// cnnode that printed 0.35 for a 0.5 link after 127 probes on a loaded machine.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { allowedLossError } from '../../src/check/seed004.js'

const passes = (reported: number, configured: number, probes: number) =>
  Math.abs(reported - configured) <= allowedLossError(configured, probes, 0.15)

test('a rate exactly at the tolerance passes, whatever floating point makes of 0.5 - 0.35', () => {
  assert.ok(passes(0.35, 0.5, 10_000))
  assert.ok(passes(0.65, 0.5, 10_000))
  assert.ok(passes(0.25, 0.1, 10_000))
  assert.ok(!passes(0.34, 0.5, 10_000))
})

test('few probes widen the accepted error to 4 standard errors; many keep the tolerance', () => {
  // 127 probes at 0.5: standard error 0.044, so 0.177 is accepted; 0.32 is 4.1 standard errors off.
  assert.ok(passes(0.33, 0.5, 127))
  assert.ok(!passes(0.32, 0.5, 127))
  assert.equal(allowedLossError(0.1, 192, 0.15).toFixed(3), '0.150')
  assert.equal(allowedLossError(0.5, 2000, 0.15).toFixed(3), '0.150')
})

test('a node that divides its losses by the probes that arrived still fails at 20 probes', () => {
  // At 0.5, lost/arrived is about 1.0: off by 0.5, beyond even 20 probes' 4 standard errors (0.45).
  assert.ok(!passes(1.0, 0.5, 20))
  assert.ok(!passes(0.9, 0.5, 127))
})
