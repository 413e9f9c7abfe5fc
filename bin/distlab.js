#!/usr/bin/env node
// The CLI runs from the compiled library: `npm run build` (done by `npm start` and `npm test`) makes dist/.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
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
let entry = command === 'node' || command === 'master' ? 'roles-main.js' : 'main.js'
// The build bundles each entry and its dependencies into one file (scripts/bundle-roles.mjs): one
// file to load instead of hundreds of modules, which halves a node's start-up and takes about a third
// off every other command's.
// DISTLAB_UNBUNDLED=1 runs the modules one by one (bench/startup.ts measures both).
const bundled = entry.replace(/\.js$/, '.bundle.js')
if (process.env.DISTLAB_UNBUNDLED !== '1' && bundleIsFresh(bundled)) entry = bundled

/** True when the bundle exists and none of the modules in it was compiled after it. */
function bundleIsFresh(bundle) {
  try {
    const cli = fileURLToPath(new URL('../dist/src/cli/', import.meta.url))
    const builtAt = statSync(join(cli, bundle)).mtimeMs
    const inputs = JSON.parse(readFileSync(join(cli, bundle.replace(/\.js$/, '.inputs.json')), 'utf8'))
    return inputs.every((f) => statSync(join(cli, f)).mtimeMs <= builtAt)
  } catch {
    return false
  }
}
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
