#!/usr/bin/env node
// `npm run build`, first step: every TypeScript file that tsconfig.json includes, compiled one by one
// to dist/ (dist/src, dist/test, dist/bench) by esbuild, which only strips the types: about a second,
// where `tsc` takes 15 s of a 2-core machine. That is safe because the project compiles file by
// file already: tsconfig.json sets `isolatedModules` and `verbatimModuleSyntax`, so no file's output
// depends on another file's types, and esbuild takes ES2022's class fields from the same tsconfig.
// The types are still checked, by `tsc` (`npm run typecheck`; `npm test` runs it beside the tests,
// as it runs eslint, and a type error fails the run), and `npm pack` writes the declaration files
// (.d.ts) that the package's `types` names (the `prepack` script).
// DISTLAB_BUILD_TSC=1 builds with tsc instead (types checked before anything runs, .d.ts included).
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

if (process.env.DISTLAB_BUILD_TSC === '1') {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

/** The .ts files under `dir` (declaration files aside). */
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** tsconfig.json's `include`: folders, or a folder and a `*.ext` pattern (all it uses). */
const { include } = JSON.parse(readFileSync('tsconfig.json', 'utf8'))
const files = include.flatMap((entry) => {
  if (!entry.includes('*')) return walk(entry, [])
  const pattern = basename(entry)
  if (!/^\*\.[\w.]+$/.test(pattern) || dirname(entry).includes('*')) {
    process.stderr.write(`build: tsconfig.json include "${entry}" is not a folder or folder/*.ext\n`)
    process.exit(1)
  }
  const ext = pattern.slice(1)
  return readdirSync(dirname(entry))
    .filter((n) => n.endsWith(ext) && !n.endsWith('.d.ts'))
    .map((n) => join(dirname(entry), n))
})

try {
  await build({
    entryPoints: files,
    outdir: 'dist',
    outbase: '.',
    bundle: false,
    platform: 'node',
    format: 'esm',
    target: 'es2022',
    tsconfig: 'tsconfig.json',
    sourcemap: true,
    logLevel: 'warning',
  })
} catch {
  // esbuild printed the errors (a syntax error; types are tsc's)
  process.exit(1)
}
