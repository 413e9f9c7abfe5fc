#!/usr/bin/env node
// The CLI runs from the compiled library: `npm run build` (done by `npm start` and `npm test`) makes dist/.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import codeCache from './code-cache.cjs'

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
const role = command === 'node' || command === 'master'
// The build bundles each entry and its dependencies into one file (scripts/bundle-roles.mjs): one
// file to load instead of hundreds of modules, which halves a node's start-up and takes about a third
// off every other command's. Both bundles are CommonJS, run through V8's code cache
// (bin/code-cache.cjs): a process that starts from a cache compiles next to nothing.
// DISTLAB_UNBUNDLED=1 runs the modules one by one (bench/startup.ts measures both).
const cli = fileURLToPath(new URL('../dist/src/cli/', import.meta.url))
const bundle = role ? 'roles-main.bundle.cjs' : 'main.bundle.cjs'
const bundled = process.env.DISTLAB_UNBUNDLED !== '1' && codeCache.bundleIsFresh(cli, bundle)
const main = join(cli, bundled ? bundle : role ? 'roles-main.js' : 'main.js')
if (!existsSync(main)) {
  process.stderr.write(
    'distlab: not built yet; run `npm install && npm run build` in ' +
      fileURLToPath(new URL('..', import.meta.url)) +
      '\n',
  )
  process.exit(2)
}
if (bundled) {
  const loaded = codeCache.loadCachedBundle(main)
  // A command writes the cache as it exits (it may end by process.exit(), or with a usage error). It
  // holds what that command compiled: the shared top-level code and its own module (src/cli/main.ts
  // loads one command's module); another command compiles the rest of its own as without a cache,
  // which measured the same as a cache written by that command.
  if (!role) process.on('exit', () => loaded.saveCache())
  await loaded.exports.run(process.argv)
  // Once the role is up (not after --help or a usage error: that cache would hold too little).
  if (role && process.exitCode === undefined) loaded.saveCache()
} else {
  const { run } = await import(pathToFileURL(main).href)
  await run(process.argv)
}
