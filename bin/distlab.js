#!/usr/bin/env node
// The CLI runs from the compiled library: `npm run build` (done by `npm start` and `npm test`) makes dist/.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/src/cli/main.js', import.meta.url)
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
