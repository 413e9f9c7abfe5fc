// `distlab download bench` shows one progress bar per run on a terminal and nothing but its table
// when piped (issue 16 item 11). The terminal is a real pty: util-linux's `script` runs the command
// on one and copies what the terminal got. NO_COLOR is set: it takes colours away, not the bars.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { binPath, runCli } from '../helpers.js'

/** A tiny bench: 30 lines at 300 lines/s per client, with 1 and 2 clients (a few seconds). */
const BENCH = ['download', 'bench', '--clients', '1,2', '--lines', '30', '--rate', '300']

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`

/** Runs `distlab <args>` on a pseudo-terminal; resolves with everything the terminal showed. */
function onPty(args: string[], timeoutMs = 90_000): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, binPath(), ...args].map(quote).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', TERM: 'xterm' },
    })
    let screen = ''
    child.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (screen += d.toString('utf8')))
    const timer = setTimeout(() => {
      child.kill('SIGTERM')
      reject(new Error(`distlab ${args.join(' ')} on a pty did not finish in ${timeoutMs} ms:\n${screen}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, screen })
    })
  })
}

describe('download bench progress', () => {
  test('on a terminal: a progress bar per run, redrawn with carriage returns, then the table', async () => {
    const { code, screen } = await onPty(BENCH)
    assert.equal(code, 0, screen)
    for (const label of ['1 client ', '2 clients'])
      assert.match(
        screen,
        new RegExp(`\\r${label} \\[[#.]{24}\\] \\d+/30`),
        `a bar for "${label.trim()}" in:\n${JSON.stringify(screen)}`,
      )
    // Each bar reaches its end, and is redrawn in place (more than one frame per run).
    assert.match(screen, /\r1 client {2}\[#{24}\] 30\/30/)
    assert.match(screen, /\r2 clients \[#{24}\] 30\/30/)
    assert.ok((screen.match(/\r2 clients \[/g) ?? []).length >= 2, 'the bar is redrawn')
    assert.match(screen, /clients\s+time\s+speedup/)
    // NO_COLOR takes the colour away, not the bars.
    assert.ok(!screen.includes('\u001b[1m'), 'no bold under NO_COLOR')
  })

  test('piped: no bar, no carriage return, only the table and its summary', async () => {
    const r = await runCli(BENCH, { timeoutMs: 90_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.doesNotMatch(r.stdout, /\r|\[#|\.\.\.\.\]/)
    assert.ok(!r.stdout.includes('\u001b'), 'no terminal escapes')
    const lines = r.stdout.trim().split('\n')
    assert.match(lines[0]!, /^clients\s+time\s+speedup/)
    assert.deepEqual(
      lines.slice(1, 3).map((l) => l.split(/\s+/)[0]),
      ['1', '2'],
    )
    assert.match(lines[3]!, /^30 lines at 300 lines\/s per client/)
    assert.equal(lines.length, 4)
  })
})
