// A node process builds its zod schemas on first use, not as its modules load: building them all
// took ~25 ms of a node's start before it could answer /health (issue 17; bench/startup.ts). Every
// schema a module of the node's bundle exports must therefore be a z.lazy(): one written as a plain
// `z.object(...)` at the top of a module is built in every node process at its start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { binPath } from '../helpers.js'

const cli = join(dirname(binPath()), '..', 'dist', 'src', 'cli')

test("every schema the node's modules export is built on first use", async () => {
  // The modules of the roles bundle, as scripts/bundle-roles.mjs lists them (npm test builds it).
  const inputs = JSON.parse(readFileSync(join(cli, 'roles-main.bundle.inputs.json'), 'utf8')) as string[]
  assert.ok(inputs.length > 50, `${inputs.length} modules in the roles bundle`)
  let schemas = 0
  const eager: string[] = []
  for (const rel of inputs) {
    const mod = (await import(pathToFileURL(join(cli, rel)).href)) as Record<string, unknown>
    for (const [name, value] of Object.entries(mod))
      if (value instanceof z.ZodType) {
        schemas++
        if (value._zod.def.type !== 'lazy') eager.push(`${rel}: ${name} (${value._zod.def.type})`)
      }
  }
  assert.ok(schemas >= 30, `only ${schemas} exported schemas found: the check would see nothing`)
  assert.deepEqual(eager, [], 'schemas built as their module loads; wrap them in z.lazy(() => ...)')
})
