// The front door: the package as npm would ship it. Pack this checkout, install the tarball into
// a scratch project, and import `distlab` by name, as a user's program would.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { binPath, scratchDir } from '../helpers.js'

const run = promisify(execFile)
const root = join(binPath(), '..', '..')

interface LockEntry {
  dev?: boolean
  link?: boolean
  devOptional?: boolean
  [key: string]: unknown
}

/**
 * A lockfile for a project that depends on distlab's tarball at `spec`: distlab's production
 * dependencies as the checkout's package-lock.json pins them (hoisted to the same paths), so that
 * npm installs them from its cache without resolving anything.
 */
function appLockfile(spec: string): unknown {
  const read = (f: string) => JSON.parse(readFileSync(join(root, f), 'utf8')) as Record<string, unknown>
  const pkg = read('package.json') as { version: string; license: string; dependencies: object; bin: object }
  const lock = read('package-lock.json') as { packages: Record<string, LockEntry> }
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { distlab: spec } },
    'node_modules/distlab': {
      version: pkg.version,
      resolved: spec,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
    },
  }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || entry.dev || entry.link) continue
    const { devOptional: _d, ...rest } = entry
    packages[path] = rest
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages }
}

test('npm pack gives a tarball that installs and imports as `distlab`', { timeout: 300_000 }, async () => {
  const dir = scratchDir('distlab-pack-')
  try {
    await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: root, maxBuffer: 16 << 20 })
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
    assert.ok(tarball, 'npm pack wrote a .tgz')
    const app = join(dir, 'app')
    await run('mkdir', ['-p', app])
    const spec = `file:../${tarball}`
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { distlab: spec } }),
    )
    // The test runs without a network (a namespace of its own), so npm must not ask the registry
    // anything: the scratch project gets a lockfile with distlab's own dependencies at the versions
    // this checkout's lockfile pins, and `npm ci --offline` takes them from npm's cache (filled by
    // the checkout's own install). A plain `npm install <tarball>` resolves version ranges first,
    // which needs the registry's package documents: a lockfile install leaves those out of the
    // cache, so on a fresh machine it retried the registry until the test's time ran out.
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLockfile(spec)))
    // No native build is needed to import the library, since the run store opens SQLite only when used.
    await run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: app,
      maxBuffer: 16 << 20,
      timeout: 240_000,
    })
    const script = [
      "import * as d from 'distlab'",
      "const env = d.createEnvelope({ proto: 'unicast', type: 'data', src: 'a', dst: 'b', body: { n: 1 } })",
      'const back = d.decodeFrame(d.encodeFrame(env))',
      'console.log(JSON.stringify({',
      '  body: back.body,',
      '  node: typeof d.Node, unicast: typeof d.unicast, goBackN: typeof d.goBackN, local: typeof d.LocalCluster,',
      "  code: new d.InvalidArgumentError('x').code,",
      '}))',
    ].join('\n')
    writeFileSync(join(app, 'main.mjs'), script)
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app })
    const got = JSON.parse(stdout) as Record<string, unknown>
    assert.deepEqual(got.body, { n: 1 })
    assert.equal(got.node, 'function')
    assert.equal(got.unicast, 'function')
    assert.equal(got.goBackN, 'function')
    assert.equal(got.local, 'function')
    assert.equal(typeof got.code, 'string')
    // A node process starts from the bundled role entry (scripts/bundle-roles.mjs), shipped in the
    // tarball with bin/code-cache.cjs, which runs it, and bin/distlab-role.cjs, which launchers spawn.
    const installed = join(app, 'node_modules', 'distlab')
    assert.ok(
      existsSync(join(installed, 'dist', 'src', 'cli', 'roles-main.bundle.cjs')),
      'the bundle is packed',
    )
    assert.ok(existsSync(join(installed, 'bin', 'code-cache.cjs')), 'its loader is packed')
    assert.ok(existsSync(join(installed, 'bin', 'distlab-role.cjs')), "the launchers' entry is packed")
    const help = await run(process.execPath, [join(installed, 'bin', 'distlab.js'), 'node', '--help'], {
      cwd: app,
    })
    assert.match(help.stdout, /--frame-port/)
    // Every other command starts from the bundled main entry, also shipped.
    assert.ok(
      existsSync(join(installed, 'dist', 'src', 'cli', 'main.bundle.cjs')),
      'the main bundle is packed',
    )
    const status = await run(process.execPath, [join(installed, 'bin', 'distlab.js'), 'status', '--help'], {
      cwd: app,
    })
    assert.match(status.stdout, /Usage: distlab status/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
