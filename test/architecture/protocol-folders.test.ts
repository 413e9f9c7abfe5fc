// Every protocol folder has the same shape (docs/architecture.md, "A protocol folder"), so a new
// protocol starts as a copied folder: index.ts (the factory and public types), constants.ts (the
// defaults), and its HTTP endpoints, if any, in routes.ts only.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { binPath } from '../helpers.js'

const protocols = join(binPath(), '..', '..', 'src', 'protocols')
const folders = readdirSync(protocols).filter((f) => statSync(join(protocols, f)).isDirectory())
const ROUTE = /\b\w+\.(get|post|put|delete)\(\s*['"`]\//

test('there are protocol folders to check', () => {
  assert.ok(folders.length >= 10, folders.join(', '))
})

test('every protocol folder has index.ts and constants.ts', () => {
  const missing = folders.flatMap((f) =>
    ['index.ts', 'constants.ts']
      .filter((x) => !readdirSync(join(protocols, f)).includes(x))
      .map((x) => `${f}/${x}`),
  )
  assert.deepEqual(missing, [])
})

test("a protocol's HTTP endpoints are registered in its routes.ts only", () => {
  const elsewhere = folders.flatMap((f) =>
    readdirSync(join(protocols, f))
      .filter((x) => x.endsWith('.ts') && x !== 'routes.ts')
      .filter((x) => ROUTE.test(readFileSync(join(protocols, f, x), 'utf8')))
      .map((x) => `${f}/${x}`),
  )
  assert.deepEqual(elsewhere, [], 'move these endpoints into the folder’s routes.ts')
  // And each routes.ts does register endpoints.
  for (const f of folders) {
    const p = join(protocols, f, 'routes.ts')
    if (readdirSync(join(protocols, f)).includes('routes.ts'))
      assert.match(readFileSync(p, 'utf8'), ROUTE, `${f}/routes.ts registers no endpoint`)
  }
})
