// Every protocol folder has the same shape (docs/architecture.md, "A protocol folder"), so a new
// protocol starts as a copied folder: index.ts (the factory and public types), constants.ts (the
// defaults), wire.ts (what it puts on the wire), and its HTTP endpoints, if any, in routes.ts only.
//
// What a script can check of "the wire format is in wire.ts": every folder has a wire.ts that
// another of its files imports (every protocol sends something: even cn, which speaks gbn's packets
// and dv's vectors, has its probe payload); and outside wire.ts no file of a protocol folder
// defines a zod object schema (z.object, z.strictObject, z.looseObject, z.discriminatedUnion) or a
// codec function (encodeX/decodeX), except routes.ts, whose schemas are the bodies of the node's
// HTTP API, not of frames. Options need no exception: core/options.ts's check* functions check
// them. Frame type names are not checked (membership spells them at each send); each wire.ts names
// its own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { binPath } from '../helpers.js'

const protocols = join(binPath(), '..', '..', 'src', 'protocols')
const folders = readdirSync(protocols).filter((f) => statSync(join(protocols, f)).isDirectory())
const ROUTE = /\b\w+\.(get|post|put|delete)\(\s*['"`]\//
const SCHEMA = /\bz\.(object|strictObject|looseObject|discriminatedUnion)\(/
const CODEC = /\b(function\s+|const\s+)(encode|decode)[A-Z]\w*/
const tsFiles = (f: string) => readdirSync(join(protocols, f)).filter((x) => x.endsWith('.ts'))
const read = (f: string, x: string) => readFileSync(join(protocols, f, x), 'utf8')

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

test('every protocol folder keeps its wire format in a wire.ts that it uses', () => {
  const missing = folders.filter((f) => !tsFiles(f).includes('wire.ts'))
  assert.deepEqual(missing, [], 'these folders have no wire.ts')
  const unused = folders.filter(
    (f) => !tsFiles(f).some((x) => x !== 'wire.ts' && read(f, x).includes("from './wire.js'")),
  )
  assert.deepEqual(unused, [], 'no other file of these folders imports its wire.ts')
})

test('no frame schema or codec lives outside wire.ts in a protocol folder', () => {
  const elsewhere = folders.flatMap((f) =>
    tsFiles(f)
      .filter((x) => x !== 'wire.ts')
      .flatMap((x) => {
        const text = read(f, x)
        const found: string[] = []
        if (x !== 'routes.ts' && SCHEMA.test(text)) found.push(`${f}/${x}: ${SCHEMA.exec(text)![0]}`)
        if (CODEC.test(text)) found.push(`${f}/${x}: ${CODEC.exec(text)![0]}`)
        return found
      }),
  )
  assert.deepEqual(elsewhere, [], 'move these into the folder’s wire.ts')
})
