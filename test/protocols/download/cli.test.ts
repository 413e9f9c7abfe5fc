// What a student runs: `distlab lineserver`, `distlab download --json`, `distlab download bench --plot`.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'

const BIN = join(process.cwd(), 'bin', 'distlab.js')
const SERVER_HOST = '127.50.2.1'

function runCli(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

describe('download commands', { timeout: 240_000 }, () => {
  let server: ChildProcess | undefined
  let port = 0
  let dir: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'distlab-download-cli-'))
    server = spawn(
      process.execPath,
      [BIN, 'lineserver', '--host', SERVER_HOST, '--port', '0', '--rate', '2000', '--json-log'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    port = await new Promise<number>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`line server did not start: ${out}`)), 30_000)
      server!.stdout!.on('data', (d) => {
        out += d
        for (const line of out.split('\n')) {
          try {
            const rec = JSON.parse(line) as { msg?: string; port?: number }
            if (rec.msg === 'line server listening' && rec.port) {
              clearTimeout(timer)
              resolve(rec.port)
            }
          } catch {
            // not a whole line yet
          }
        }
      })
      server!.once('exit', () => reject(new Error(`line server exited: ${out}`)))
    })
  })

  after(async () => {
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server!.once('exit', r))
      server.kill('SIGTERM')
      await gone
    }
    rmSync(dir, { recursive: true, force: true })
  })

  test('lineserver answers the course protocol on the port it logs', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: SERVER_HOST, port, localAddress: '127.50.0.40' })
      let data = ''
      s.setEncoding('utf8')
      s.on('data', (d: string) => {
        data += d
        if (data.split('\n').length >= 4) {
          s.destroy()
          resolve(data)
        }
      })
      s.on('error', reject)
      s.write('SESSION RESET\nSENDLINE\n')
    })
    assert.match(reply, /^Ok\n\d+\n.+\n$/)
  })

  test('download --json prints the issue fields and the SUBMIT SUCCESS reply', async () => {
    const r = await runCli([
      '--state-dir',
      dir,
      'download',
      '--server',
      `${SERVER_HOST}:${port}`,
      '--clients',
      '3',
      '--id',
      'cli@test',
      '--rate',
      '2000',
      '--reset',
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as Record<string, unknown>
    for (const k of ['clients', 'lines', 'seconds', 'requests', 'duplicates', 'submitted', 'submitReply'])
      assert.ok(k in out, `field ${k}`)
    assert.equal(out.clients, 3)
    assert.equal(out.lines, 1000)
    assert.equal(out.submitted, true)
    assert.match(String(out.submitReply), /^SUBMIT SUCCESS: cli@test - 127\.50\.0\.1 - 1000, 0, 1000, /)
  })

  test('download without --server is a usage error (exit 2)', async () => {
    const r = await runCli(['download', '--clients', '2'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--server/)
  })

  test('download bench writes PNG and SVG plots and prints runs as JSON', async () => {
    const png = join(dir, 'plots', 'speedup.png')
    const r = await runCli([
      'download',
      'bench',
      '--clients',
      '1,2',
      '--lines',
      '100',
      '--rate',
      '2000',
      '--plot',
      png,
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { runs: Array<Record<string, number>> }
    assert.deepEqual(
      out.runs.map((x) => x.clients),
      [1, 2],
    )
    for (const run of out.runs)
      for (const k of ['clients', 'seconds', 'speedup', 'requests']) assert.equal(typeof run[k], 'number', k)
    assert.equal(out.runs[0]!.speedup, 1)
    const bytes = readFileSync(png)
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    const svgPath = join(dir, 'plots', 'speedup.svg')
    assert.ok(existsSync(svgPath))
    const svg = readFileSync(svgPath, 'utf8')
    assert.match(svg, /^<svg/)
    assert.match(svg, /ideal T\(1\)\/N/)
    assert.match(svg, /Distinct lines collected over time/)
  })
})
