#!/usr/bin/env node
// Part of `npm run build`, after tsc: bundles the entry of `distlab node` and `distlab master`
// (dist/src/cli/roles-main.js) with everything it imports into dist/src/cli/roles-main.bundle.cjs,
// and the entry of every other command (dist/src/cli/main.js, some seven hundred modules) into
// dist/src/cli/main.bundle.cjs; bin/distlab.js prefers them. A node process then reads and compiles
// one file instead of some four hundred modules (zod alone is ~100 ES modules, Fastify ~150 CommonJS ones): module loading, not
// running, was most of a node's start-up (bench/startup.ts measures both entries side by side).
// main.js imports each command's module with import() (src/cli/main.ts), which esbuild keeps lazy in
// the bundle: a command runs the top-level code of its own module and what that imports, not all.
// Both bundles are CommonJS so that bin/code-cache.cjs can run them through V8's code cache (Node 20
// offers none for ES modules): a command then starts on a fifth less CPU (bench/startup.ts). The
// ESM-only packages the commands use (vega, vega-lite, resvg) stay outside the bundle and are loaded
// by an import() that bin/code-cache.cjs hands in (src/monitor/plot.ts says why).
// Left out: native addons and the chart libraries (the master loads them from node_modules when it
// needs them), the JSON-schema compilers Fastify never calls on distlab's servers (see
// src/node/http-limits.ts), and zod's translations of its messages (distlab uses English only).
import { build } from 'esbuild'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { relative } from 'node:path'

// distlab's own modules in a bundle (NAME.bundle.inputs.json): bin/distlab.js runs the modules one by
// one instead when one of them is newer than the bundle (a `tsc` or `tsc --watch` without this
// step), never stale code.
const ENTRIES = [
  { name: 'roles-main', format: 'cjs', ext: 'cjs' },
  { name: 'main', format: 'cjs', ext: 'cjs' },
]
for (const { name } of ENTRIES) {
  const entry = `dist/src/cli/${name}.js`
  if (!existsSync(entry)) {
    process.stderr.write(`bundle-roles: ${entry} is missing; run tsc first\n`)
    process.exit(1)
  }
  for (const ext of ['js', 'cjs', 'inputs.json'])
    rmSync(`dist/src/cli/${name}.bundle.${ext}`, { force: true })
}

/** zod's `locales` namespace (every translation) becomes empty; English is imported on its own. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes('/node_modules/zod/')
        ? { path: 'zod-locales', namespace: 'zod-locales' }
        : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, () => ({ contents: 'export {}', loader: 'js' }))
  },
}

/**
 * Built-in modules a dependency requires when it loads but uses, if ever, later: Fastify's HTTPS and
 * HTTP/2 servers, prom-client's push gateway (https) and cluster aggregator, and the like. Each is
 * replaced by an object that requires the real module on first use, so a node process that never
 * uses one never loads it (https alone brings tls: ~7 ms of a node's start; all of them ~15 ms,
 * measured with `process.moduleLoadList`). Only modules whose export is a plain object: assert and
 * module are functions. A dependency that takes a module's keys at load (`const { x } = require()`,
 * or an ES import's namespace) just loads it then.
 */
const LAZY_BUILTINS = ['https', 'http2', 'cluster', 'v8', 'dns/promises', 'fs/promises', 'readline']
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`)
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin' || args.kind !== 'require-call'
        ? undefined
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    )
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `const id = ${JSON.stringify(`node:${args.path}`)}
let real
const load = () => (real ??= require(id))
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  set: (_, key, value) => ((load()[key] = value), true),
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key)
    if (d) d.configurable = true
    return d
  },
})
`,
      loader: 'js',
    }))
  },
}

/** What makes an ES module's code run as CommonJS: `import.meta.url` becomes the bundle's URL. */
const AS_COMMONJS = {
  define: { 'import.meta.url': '__distlabBundleUrl' },
  banner: { js: "var __distlabBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
}
/** An ES module bundle has no require() of its own; CommonJS dependencies call it. */
const AS_ESM = {
  banner: {
    js: "import { createRequire as __distlabCreateRequire } from 'node:module'; const require = __distlabCreateRequire(import.meta.url);",
  },
}

for (const entry of ENTRIES) await bundle(entry)

async function bundle({ name, format, ext }) {
  const entry = `dist/src/cli/${name}.js`
  const outfile = `dist/src/cli/${name}.bundle.${ext}`
  const inputsFile = `dist/src/cli/${name}.bundle.inputs.json`
  const result = await build({
    metafile: true,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    external: [
      'better-sqlite3',
      '@resvg/resvg-js',
      'vega',
      'vega-lite',
      '@fastify/ajv-compiler',
      '@fastify/fast-json-stringify-compiler',
    ],
    plugins: format === 'cjs' && name === 'roles-main' ? [zodEnglishOnly, lazyBuiltins] : [zodEnglishOnly],
    ...(format === 'cjs' ? AS_COMMONJS : AS_ESM),
    // Names stay (stack traces name functions); whitespace goes, which is what the parser pays for.
    minifyWhitespace: true,
    minifySyntax: true,
    // Class names stay what the source says (errors name themselves after their class).
    keepNames: true,
    legalComments: 'eof',
    logLevel: 'warning',
  })

  const own = Object.keys(result.metafile.inputs)
    .filter((f) => f.startsWith('dist/src/'))
    .map((f) => relative('dist/src/cli', f))
  writeFileSync(inputsFile, JSON.stringify(own) + '\n')
}
