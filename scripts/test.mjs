#!/usr/bin/env node
// The whole test suite: lint and formatting, types, then every compiled test file under node's
// test runner. `npm test` builds first (pretest). Pass file paths or name fragments to run a subset:
//   npm test -- link         (every test file whose path contains "link")
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const filters = process.argv.slice(2)
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (filters.length === 0) {
  run('npx', ['eslint', '.'])
  run('npx', ['prettier', '--check', '.'])
  run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])
}

const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (name.endsWith('.test.js')) files.push(p)
  }
}
walk('dist/test')
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`)
  process.exit(1)
}
selected.sort()
// Tests that start clusters bind fixed loopback addresses and ports, so files run one at a time;
// within a file, tests run in order.
run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...selected])
