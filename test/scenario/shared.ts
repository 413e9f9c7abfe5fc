// What the scenario test files share: the shipped scenario files, and the verdict every clean run
// must reach (nothing acknowledged lost, nothing delivered twice, every check passed).
import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import type { ScenarioReport } from '../../src/scenario/index.js'
import { binPath } from '../helpers.js'

/** A file of the repository's scenarios/ folder. */
export const shipped = (name: string): string => join(dirname(dirname(binPath())), 'scenarios', name)

export function assertClean(r: ScenarioReport): void {
  for (const w of r.workloads) {
    assert.equal(w.lost, 0, `${w.kind}: lost ${w.lostKeys.join(', ')}`)
    assert.equal(w.duplicates, 0, `${w.kind}: duplicates (${w.detail ?? ''})`)
    assert.ok(w.acknowledged > 0, `${w.kind}: something was acknowledged`)
    assert.equal(w.delivered, w.expected)
  }
  assert.equal(r.passed, true, JSON.stringify(r.checks))
}
