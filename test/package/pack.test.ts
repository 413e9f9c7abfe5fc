// The front door: the package as npm would ship it. Pack this checkout, install the tarball into
// a scratch project, and import `distlab` by name, as a user's program would.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { binPath, scratchDir } from '../helpers.js'

const run = promisify(execFile)
const root = join(binPath(), '..', '..')

test('npm pack gives a tarball that installs and imports as `distlab`', { timeout: 300_000 }, async () => {
  const dir = scratchDir('distlab-pack-')
  try {
    await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: root, maxBuffer: 16 << 20 })
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
    assert.ok(tarball, 'npm pack wrote a .tgz')
    const app = join(dir, 'app')
    await run('mkdir', ['-p', app])
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
    // Dependencies come from npm's cache (filled by the checkout's own install); no native build
    // is needed to import the library, since the run store opens SQLite only when used.
    await run(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, tarball)],
      { cwd: app, maxBuffer: 16 << 20, timeout: 240_000 },
    )
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
