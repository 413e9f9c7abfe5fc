// Node processes and node containers run with the same V8 flags (NODE_PROCESS_V8_FLAGS): they keep
// an open cluster's memory within bounds after a flood (issue 14 #9, bench/hostile), and a
// container left without them would keep tens of MB more.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { LAUNCHED_V8_FLAGS, NODE_PROCESS_V8_FLAGS } from '../../src/cluster/role-process.js'
import { DOCKERFILE_PATH } from '../../src/cluster/docker-image.js'

test("the image's entrypoint runs node with every flag of NODE_PROCESS_V8_FLAGS", () => {
  const line = readFileSync(DOCKERFILE_PATH, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '))
  assert.ok(line, 'deploy/Dockerfile has an ENTRYPOINT')
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[]
  assert.equal(argv[0], 'node')
  assert.deepEqual(argv.slice(1, 1 + NODE_PROCESS_V8_FLAGS.length), [...NODE_PROCESS_V8_FLAGS])
})

test('this node accepts the flags (a renamed or removed V8 flag stops node from starting)', () => {
  assert.deepEqual(LAUNCHED_V8_FLAGS.slice(0, NODE_PROCESS_V8_FLAGS.length), [...NODE_PROCESS_V8_FLAGS])
  const r = spawnSync(process.execPath, [...LAUNCHED_V8_FLAGS, '-e', 'process.exit(0)'], {
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
})
