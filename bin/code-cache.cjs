// Runs a CommonJS bundle (dist/src/cli/roles-main.bundle.cjs) through V8's code cache, so that a
// node process does not parse and compile its 1.3 MB again on every start. Node 20 has no
// `module.enableCompileCache()` (Node 22.1) and no code cache for ES modules without flags, hence a
// CommonJS bundle run as a `vm.Script` with `cachedData`, as v8-compile-cache does. The first start
// writes the cache once the role is up, so that it holds the functions start-up compiled, not only
// the top level; later starts read it.
//
// Safety: V8 checks a cache against its own version, its flags and the source's length, not the
// source itself, so a cache file is named by the source's CRC-32 and length (as Node 22 keys its own
// compile cache), the Node version, the architecture and the flags: a rebuilt bundle never meets an
// old cache. The file carries a CRC-32 of its content, checked before V8 sees it (release builds of
// V8 do not checksum a cache). A cache V8 rejects is compiled over and written again. The directory
// must be the user's own and closed to others (a cache is code); when it cannot be made or written
// (a read-only home, a container), the bundle compiles as it would without a cache.
//
// CommonJS itself, so that bin/distlab-role.cjs (what a launcher spawns for each node) starts without
// Node's ES module loader; bin/distlab.js imports it as well.
'use strict'
const {
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require('node:fs')
const { createRequire } = require('node:module')
const { homedir } = require('node:os')
const { basename, dirname, isAbsolute, join, resolve } = require('node:path')
const vm = require('node:vm')
const { crc32 } = require('node:zlib')

/** `DISTLAB_COMPILE_CACHE=0` turns the cache off; a path puts it there instead of ~/.cache/distlab. */
const COMPILE_CACHE_ENV = 'DISTLAB_COMPILE_CACHE'
/** Cache files kept per bundle (checkouts and versions may share a home), the newest. */
const KEEP_PER_BUNDLE = 8
const SUFFIX = '.v8cache'

/** Where the cache lives, or undefined when it is turned off. */
function compileCacheDir(env = process.env) {
  const set = env[COMPILE_CACHE_ENV]
  if (set === '0' || set === 'off') return undefined
  if (set) return resolve(set)
  // XDG: a relative path there is to be ignored.
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'distlab')
  try {
    return join(homedir(), '.cache', 'distlab')
  } catch {
    return undefined // no $HOME and no passwd entry (a container's arbitrary uid): no cache
  }
}

/** True when `dir` is a directory of this user's that no one else can write to. */
function ownDir(dir) {
  try {
    const st = statSync(dir)
    const mine = typeof process.getuid !== 'function' || st.uid === process.getuid()
    return st.isDirectory() && mine && (st.mode & 0o022) === 0
  } catch {
    return false
  }
}

/** The cache file's content without its CRC-32 prefix, or undefined when it is missing or damaged. */
function readCache(file) {
  try {
    const raw = readFileSync(file)
    const data = raw.subarray(4)
    return raw.length > 4 && raw.readUInt32LE(0) === crc32(data) ? data : undefined
  } catch {
    return undefined
  }
}

/**
 * How a bundle loads an ES module package (vega): `import()` inside a script that V8 took from the
 * code cache fails on Node 20 ("A dynamic import callback was not specified": the script's import
 * callback is not restored with the cached functions), so the bundle calls this one, an import()
 * of this module's own (src/monitor/plot.ts). It resolves packages as the bundle would: from the
 * node_modules beside and above bin/.
 */
const IMPORT_ESM = Symbol.for('distlab.importEsm')
globalThis[IMPORT_ESM] ??= (specifier) => import(specifier)

/**
 * Loads `file` (a CommonJS bundle) with the code cache. Returns its exports, whether V8 took a cache
 * (`cacheHit`), and `saveCache()`, which writes one when V8 had none to take: call it once the
 * program is up.
 */
function loadCachedBundle(file) {
  // The key's CRC-32 over the bytes as read: given the text, crc32 first encodes it back to UTF-8,
  // a copy of the whole bundle (about half the time, measured). The same witness of the content.
  const bytes = readFileSync(file)
  const source = bytes.toString('utf8')
  const dir = compileCacheDir()
  const flags = crc32(JSON.stringify([process.execArgv, process.env.NODE_OPTIONS ?? '']))
  const key = [crc32(bytes), source.length, process.version, process.arch, flags]
    .map((part) => (typeof part === 'number' ? part.toString(16) : part))
    .join('-')
  const cacheFile = dir && join(dir, `${basename(file)}-${key}${SUFFIX}`)
  const cachedData = cacheFile && ownDir(dir) ? readCache(cacheFile) : undefined
  // The function CommonJS wraps a module in, opened on the first line so that line numbers stay.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const mod = { exports: {}, filename: file, id: file }
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, dirname(file))
  const cacheHit = cachedData !== undefined && !script.cachedDataRejected
  return {
    exports: mod.exports,
    cacheHit,
    saveCache() {
      if (cacheFile && !cacheHit) writeCache(dir, cacheFile, basename(file), () => script.createCachedData())
    },
  }
}

/** `cachedData()` is called only once the directory is known to be usable: it costs a compile's worth of work. */
function writeCache(dir, cacheFile, bundle, cachedData) {
  const tmp = join(dir, `.${basename(cacheFile)}.${process.pid}.tmp`)
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (!ownDir(dir)) return
    const data = cachedData()
    const sum = Buffer.alloc(4)
    sum.writeUInt32LE(crc32(data))
    writeFileSync(tmp, Buffer.concat([sum, data]), { mode: 0o600 })
    renameSync(tmp, cacheFile) // whole or not at all, whoever else writes the same cache meanwhile
    evictOld(dir, bundle)
  } catch {
    // A read-only or full disk: the next start compiles again, as without a cache.
    try {
      rmSync(tmp, { force: true })
    } catch {
      // nothing was written
    }
  }
}

/** Keeps the newest KEEP_PER_BUNDLE cache files of one bundle. */
function evictOld(dir, bundle) {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(`${bundle}-`) && f.endsWith(SUFFIX))
    .map((f) => ({ f, at: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.at - a.at)
  for (const { f } of files.slice(KEEP_PER_BUNDLE)) rmSync(join(dir, f), { force: true })
}

/**
 * True when dist/src/cli/`name` exists and none of the modules in it (its .inputs.json, written by
 * scripts/bundle-roles.mjs) was compiled after it: a `tsc` without the bundling step leaves a stale
 * bundle, which must not run.
 */
function bundleIsFresh(cliDir, name) {
  try {
    const builtAt = statSync(join(cliDir, name)).mtimeMs
    const inputs = JSON.parse(readFileSync(join(cliDir, name.replace(/\.c?js$/, '.inputs.json')), 'utf8'))
    return inputs.every((f) => statSync(join(cliDir, f)).mtimeMs <= builtAt)
  } catch {
    return false
  }
}

module.exports = { COMPILE_CACHE_ENV, IMPORT_ESM, bundleIsFresh, compileCacheDir, loadCachedBundle }
