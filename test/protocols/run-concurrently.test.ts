// runConcurrently, which the launchers (up, distlab run) and the workloads start things with: at
// most so many at once, in order, the next as soon as one settles, and nothing new after a failure.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runConcurrently, sleep as delay } from '../../src/protocols/workload.js'

test('at most `concurrency` run at once, each index once, in order of start', async () => {
  const started: number[] = []
  let running = 0
  let most = 0
  await runConcurrently(7, 3, async (i) => {
    started.push(i)
    most = Math.max(most, ++running)
    await delay(i === 0 ? 60 : 5)
    running--
  })
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6])
  assert.equal(most, 3)
})

test('a slow task holds up no other: the rest run past it', async () => {
  const done: number[] = []
  await runConcurrently(5, 2, async (i) => {
    await delay(i === 0 ? 200 : 5)
    done.push(i)
  })
  assert.deepEqual(done, [1, 2, 3, 4, 0])
})

test('after a task fails no new index is taken, and the run rejects with its error', async () => {
  const started: number[] = []
  await assert.rejects(
    runConcurrently(10, 2, async (i) => {
      started.push(i)
      if (i === 2) throw new Error('task 2 failed')
      await delay(i === 0 ? 5 : 50)
    }),
    /task 2 failed/,
  )
  await delay(100)
  // 0 and 1 started; 2 took 0's place and failed at once, so when 1 ended nothing new started.
  assert.deepEqual(started, [0, 1, 2])
})
