// bin/code-cache.cjs: `distlab node` and `distlab master`, and every other command, run their CommonJS
// bundle through V8's code cache. A cache never runs code other than the bundle's own (a rebuilt bundle of the same length
// included), a damaged or foreign cache is ignored, and a cache directory that cannot be written
// only costs the cache, never the start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { binPath, freePort, getJson, runCli, scratchDir, waitFor, withScratchDir } from '../helpers.js'

interface Loaded {
  exports: { v?: string }
  cacheHit: boolean
  saveCache(): void
}
interface CodeCache {
  COMPILE_CACHE_ENV: string
  loadCachedBundle(file: string): Loaded
  compileCacheDir(env: Record<string, string>): string | undefined
}

const codeCache = async (): Promise<CodeCache> =>
  ((await import(pathToFileURL(join(binPath(), '..', 'code-cache.cjs')).href)) as { default: CodeCache })
    .default

const caches = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.v8cache')) : []

/** Runs `fn` with the cache directory set to `dir`. */
async function withCacheDir<T>(env: string, dir: string, fn: () => T): Promise<T> {
  const before = process.env[env]
  process.env[env] = dir
  try {
    return fn()
  } finally {
    if (before === undefined) delete process.env[env]
    else process.env[env] = before
  }
}

test('a bundle runs from its cache, and a changed bundle of the same length never runs the old code', async () => {
  const { COMPILE_CACHE_ENV, loadCachedBundle } = await codeCache()
  await withScratchDir('distlab-cc-', async (dir) => {
    const cache = join(dir, 'cache')
    const bundle = join(dir, 'b.bundle.cjs')
    writeFileSync(bundle, 'module.exports = { v: "a" + require("node:path").sep }\n')
    await withCacheDir(COMPILE_CACHE_ENV, cache, () => {
      const first = loadCachedBundle(bundle)
      assert.equal(first.exports.v, 'a/')
      assert.equal(first.cacheHit, false)
      first.saveCache()
      assert.equal(caches(cache).length, 1, 'the first start writes the cache')

      const second = loadCachedBundle(bundle)
      assert.equal(second.exports.v, 'a/')
      assert.equal(second.cacheHit, true, 'the next start takes it')

      // Same length, other code: V8 alone would take the old cache (it checks the length only).
      writeFileSync(bundle, 'module.exports = { v: "b" + require("node:path").sep }\n')
      const changed = loadCachedBundle(bundle)
      assert.equal(changed.exports.v, 'b/')
      assert.equal(changed.cacheHit, false)
      changed.saveCache()
      assert.equal(caches(cache).length, 2)

      // A damaged cache file is ignored and written again.
      for (const f of caches(cache)) {
        const bytes = readFileSync(join(cache, f))
        bytes[bytes.length - 1]! ^= 0xff
        writeFileSync(join(cache, f), bytes)
      }
      const damaged = loadCachedBundle(bundle)
      assert.equal(damaged.exports.v, 'b/')
      assert.equal(damaged.cacheHit, false)
      damaged.saveCache()
      assert.equal(loadCachedBundle(bundle).cacheHit, true)
    })
  })
})

test('a cache directory others can write to is not used; the cache can be turned off', async () => {
  const { COMPILE_CACHE_ENV, loadCachedBundle } = await codeCache()
  await withScratchDir('distlab-cc-', async (dir) => {
    const open = join(dir, 'open')
    const bundle = join(dir, 'b.bundle.cjs')
    writeFileSync(bundle, 'module.exports = { v: "x" }\n')
    mkdirSync(open)
    chmodSync(open, 0o777)
    await withCacheDir(COMPILE_CACHE_ENV, open, () => {
      loadCachedBundle(bundle).saveCache()
      assert.deepEqual(caches(open), [], 'a cache is code: nothing written where others could swap it')
    })
    await withCacheDir(COMPILE_CACHE_ENV, '0', () => {
      const off = loadCachedBundle(bundle)
      off.saveCache()
      assert.equal(off.exports.v, 'x')
    })
    assert.deepEqual(readdirSync(dir).sort(), ['b.bundle.cjs', 'open'])
  })
})

test('the cache directory: DISTLAB_COMPILE_CACHE, else $XDG_CACHE_HOME/distlab (absolute only), else ~/.cache/distlab', async () => {
  const { compileCacheDir } = await codeCache()
  assert.equal(compileCacheDir({ DISTLAB_COMPILE_CACHE: '/c', XDG_CACHE_HOME: '/x' }), '/c')
  assert.equal(compileCacheDir({ DISTLAB_COMPILE_CACHE: '0' }), undefined)
  assert.equal(compileCacheDir({ DISTLAB_COMPILE_CACHE: 'off' }), undefined)
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/distlab')
  assert.match(compileCacheDir({ XDG_CACHE_HOME: 'relative' })!, /\/\.cache\/distlab$/)
  assert.match(compileCacheDir({})!, /\/\.cache\/distlab$/)
})

test('at most 8 caches are kept per bundle, the newest', async () => {
  const { COMPILE_CACHE_ENV, loadCachedBundle } = await codeCache()
  await withScratchDir('distlab-cc-', async (dir) => {
    const cache = join(dir, 'cache')
    const bundle = join(dir, 'b.bundle.cjs')
    await withCacheDir(COMPILE_CACHE_ENV, cache, () => {
      for (let i = 10; i < 22; i++) {
        writeFileSync(bundle, `module.exports = { v: "${i}" }\n`)
        loadCachedBundle(bundle).saveCache()
      }
      assert.equal(caches(cache).length, 8)
      assert.equal(loadCachedBundle(bundle).cacheHit, true, 'the latest build keeps its cache')
    })
  })
})

/** Starts `distlab node` on 127.0.0.1, waits for /health, stops it; returns its stderr. */
async function startNode(env: Record<string, string>): Promise<string> {
  const port = await freePort()
  const framePort = await freePort()
  const state = scratchDir('distlab-cc-state-')
  const child = spawn(
    process.execPath,
    [
      binPath(),
      '--state-dir',
      state,
      'node',
      '--name',
      'n1',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--frame-port',
      String(framePort),
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  try {
    await waitFor(
      `node on port ${port}`,
      async () => (await getJson(`http://127.0.0.1:${port}/health`, undefined, 2000)).status === 200,
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; its stderr: ${stderr}`)
    })
    return stderr
  } finally {
    child.kill('SIGTERM')
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r))
    rmSync(state, { recursive: true, force: true })
  }
}

test('distlab node starts from the bundle, writes its cache, and starts without a writable cache', async () => {
  await withScratchDir('distlab-cc-', async (dir) => {
    const cache = join(dir, 'cache')
    await startNode({ DISTLAB_COMPILE_CACHE: cache })
    const written = caches(cache)
    assert.equal(written.length, 1)
    assert.match(written[0]!, /^roles-main\.bundle\.cjs-/, 'the roles bundle ran, and wrote its cache')
    const at = statSync(join(cache, written[0]!)).mtimeMs
    await startNode({ DISTLAB_COMPILE_CACHE: cache })
    assert.deepEqual(caches(cache), written)
    assert.equal(statSync(join(cache, written[0]!)).mtimeMs, at, 'the second start took the cache as it was')

    // A path under a regular file can never be made, whoever runs the test (root included).
    writeFileSync(join(dir, 'file'), '')
    const stderr = await startNode({ DISTLAB_COMPILE_CACHE: join(dir, 'file', 'cache') })
    assert.equal(stderr, '')
  })
})

test('every other command starts from its bundle and its cache too, one that failed included', async () => {
  await withScratchDir('distlab-cc-', async (dir) => {
    const cache = join(dir, 'cache')
    const env = { DISTLAB_COMPILE_CACHE: cache }
    // A usage error: the cache is written as the command exits, whatever its exit code.
    const bad = await runCli(['--state-dir', join(dir, 'state'), 'status'], { env })
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /no cluster is running/)
    const written = caches(cache)
    assert.equal(written.length, 1)
    assert.match(written[0]!, /^main\.bundle\.cjs-/, 'the commands bundle ran, and wrote its cache')
    const at = statSync(join(cache, written[0]!)).mtimeMs
    const version = await runCli(['--version'], { env })
    assert.equal(version.code, 0)
    assert.match(version.stdout, /^\d+\.\d+\.\d+/)
    assert.deepEqual(caches(cache), written)
    assert.equal(statSync(join(cache, written[0]!)).mtimeMs, at, 'the next command took the cache as it was')
  })
})

test("a bundle's import() of an ES module package works when V8 took the bundle from the cache", async () => {
  const { COMPILE_CACHE_ENV, loadCachedBundle } = await codeCache()
  await withScratchDir('distlab-cc-', async (dir) => {
    const cache = join(dir, 'cache')
    const bundle = join(dir, 'b.bundle.cjs')
    // As src/monitor/plot.ts loads vega: through the loader's import, an ES module package.
    writeFileSync(
      bundle,
      'module.exports = { load: () => globalThis[Symbol.for("distlab.importEsm")]("vega") }\n',
    )
    type Loads = Loaded & { exports: { load(): Promise<{ View: unknown }> } }
    const [first, cached] = await withCacheDir(COMPILE_CACHE_ENV, cache, () => {
      const a = loadCachedBundle(bundle) as Loads
      a.saveCache()
      return [a, loadCachedBundle(bundle) as Loads]
    })
    assert.equal(first.cacheHit, false)
    assert.equal(typeof (await first.exports.load()).View, 'function')
    assert.equal(cached.cacheHit, true)
    assert.equal(typeof (await cached.exports.load()).View, 'function', 'import() from a cached bundle')
  })
})
