// package.json's `engines` is true (issue 16): the Node it names runs distlab (zlib.crc32 came in
// 20.15), and every installed package, runtime and development, accepts every Node it names, so
// `npm install` on the floor version warns of nothing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { binPath } from './helpers.js'

const ROOT = dirname(dirname(binPath()))
const require = createRequire(join(ROOT, 'package.json'))
const semver = require('semver') as {
  subset(a: string, b: string, o?: { includePrerelease?: boolean }): boolean
  satisfies(v: string, r: string): boolean
}

interface Tree {
  version?: string
  path?: string
  dependencies?: Record<string, Tree>
}

test('engines.node is a range this Node satisfies and that holds zlib.crc32', () => {
  const engines = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  ).engines.node
  assert.ok(semver.satisfies(process.versions.node, engines), `${process.versions.node} satisfies ${engines}`)
  assert.ok(semver.subset(engines, '>=20.15.0'), `${engines} starts at or above 20.15 (zlib.crc32)`)
})

test('every installed package accepts every Node that engines.node names', () => {
  const engines = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  ).engines.node
  // npm's own complaint, when it has one, in a few lines: the whole tree it prints beside it is
  // megabytes, too much for an assertion message.
  const ls = spawnSync('npm', ['ls', '--all', '--json', '--long'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  const complaint = ls.stderr.split('\n').slice(0, 10).join('\n')
  assert.equal(ls.status, 0, `npm ls --all failed (exit ${ls.status}):\n${complaint}`)
  const tree = JSON.parse(ls.stdout) as Tree
  const bad: string[] = []
  const seen = new Set<string>()
  const todo: Array<[string, Tree]> = Object.entries(tree.dependencies ?? {})
  while (todo.length) {
    const [name, dep] = todo.pop()!
    const key = `${name}@${dep.version}`
    if (seen.has(key) || !dep.path) continue
    seen.add(key)
    const pkg = JSON.parse(readFileSync(join(dep.path, 'package.json'), 'utf8')) as {
      engines?: { node?: string }
    }
    const wants = pkg.engines?.node
    if (wants && !semver.subset(engines, wants)) bad.push(`${key} wants node ${wants}`)
    todo.push(...Object.entries(dep.dependencies ?? {}))
  }
  assert.ok(seen.size > 50, `walked the tree (${seen.size} packages)`)
  assert.deepEqual(bad, [], `engines.node ${engines} promises more than these accept`)
})
