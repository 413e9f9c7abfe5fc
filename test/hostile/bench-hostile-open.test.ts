// Every issue-14 attack on a live open cluster (test/hostile/bench-hostile.ts says what is asserted).
import { test } from 'node:test'
import { everyAttackMeetsTargets } from './bench-hostile.js'

test('every issue-14 attack on a live open cluster meets the targets', () => everyAttackMeetsTargets(false))
