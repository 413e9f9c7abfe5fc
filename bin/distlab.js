#!/usr/bin/env node
// The CLI runs from the compiled library: `npm run build` (done by `npm start` and `npm test`) makes dist/.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// `distlab node` and `distlab master` (what the launcher spawns, once per node) take a light entry.
const args = process.argv.slice(2)
let command
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--state-dir') i++
  else if (!args[i].startsWith('-')) {
    command = args[i]
    break
  }
}
const entry = command === 'node' || command === 'master' ? 'roles-main.js' : 'main.js'
const main = new URL(`../dist/src/cli/${entry}`, import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    'distlab: not built yet; run `npm install && npm run build` in ' +
      fileURLToPath(new URL('..', import.meta.url)) +
      '\n',
  )
  process.exit(2)
}
const { run } = await import(main.href)
await run(process.argv)
