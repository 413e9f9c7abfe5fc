// `distlab check seed003` against a student's cooperating clients and master written here in Python:
// the correct pair passes every item, the master killed mid-run included; the client that pads its
// submission with a dummy line (one pair more than the text has, as a student's once did) fails
// exactly the submit item, with the server's SUBMIT reply as evidence. The line server is scaled
// for a short test (200 lines at 200 lines/s per address instead of 1000 at 100/s; the evidence says
// so). Each program runs in a network namespace of its own (10.213.65.x, this suite's block; root).
// Namespace names are global: seed000's test, which may run at the same time, has block 61. The two
// checks run side by side (mostly they wait on the rate-limited line server), the second on block
// 166 (10.213.166.x), which no other test uses.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCli, scratchDir } from '../helpers.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed003/', import.meta.url))
const MASTER = 'python3 master.py --host {host} --port {port}'
const client = (file: string) =>
  `python3 ${file} --host {host} --server {server} --master {master} --lines {lines} --index {index}`
const SCALE = ['--lines', '200', '--rate', '200']

interface Report {
  seed: string
  items: Array<{ id: string; title: string; required: boolean; passed: boolean; evidence: string[] }>
  passed: number
  total: number
  ok: boolean
}

describe('distlab check seed003', { concurrency: true }, () => {
  test('correct cooperating clients pass every seed003 item, the master killed mid-run included (exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seed003-test-'))
    try {
      const plot = join(dir, 'speedup.png')
      const r = await runCli(
        [
          'check',
          'seed003',
          '--block',
          '65',
          '--cwd',
          DIR,
          ...SCALE,
          '--plot',
          plot,
          '--master',
          MASTER,
          '--client',
          client('client.py'),
          '--expect-failover',
        ],
        { timeoutMs: 240_000 },
      )
      assert.equal(r.code, 0, r.stdout + r.stderr)
      for (const id of ['submit', 'addresses', 'speedup', 'failover'])
        assert.match(r.stdout, new RegExp(`^PASS  ${id}  `, 'm'))
      assert.match(r.stdout, /200 lines at 200 lines\/s per address \(the handout's 1000 at 100\/s, scaled/)
      assert.match(r.stdout, /SUBMIT SUCCESS: team@distlab-check - 10\.213\.65\.3 - 200, 0, 200,/)
      assert.match(r.stdout, /each of the 4 clients fetched from its own address/)
      for (const k of [1, 2, 3, 4])
        assert.match(r.stdout, new RegExp(`^ +${k} +\\d+\\.\\d\\d +\\d\\.\\d\\d +\\d+  SUBMIT SUCCESS`, 'm'))
      assert.match(
        r.stdout,
        /killed the master \(SIGKILL\) after [\d.]+ s, at \d+\/200 distinct lines fetched/,
      )
      assert.deepEqual([...readFileSync(plot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG')
      assert.match(readFileSync(plot.replace(/\.png$/, '.svg'), 'utf8'), /download time by number of clients/)
      assert.match(r.stdout, /^seed003: 4\/4 items passed, required 4\/4: PASS$/m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a client that pads its submission with a dummy line fails the submit item, and only it (exit 1)', async () => {
    const r = await runCli(
      [
        'check',
        'seed003',
        '--json',
        '--block',
        '166',
        '--cwd',
        DIR,
        ...SCALE,
        '--master',
        MASTER,
        '--client',
        client('client_broken.py'),
        // Not the default under the system's temporary folder, where it would stay.
        '--plot',
        join(scratchDir('seed003-test-'), 'speedup.png'),
      ],
      { timeoutMs: 240_000 },
    )
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const report = JSON.parse(r.stdout) as Report
    assert.equal(report.seed, 'seed003')
    assert.equal(report.total, 3, 'no failover item unless asked for')
    const failed = report.items.filter((i) => !i.passed)
    assert.deepEqual(
      failed.map((i) => i.id),
      ['submit'],
      JSON.stringify(report, null, 2),
    )
    const evidence = failed[0]!.evidence.join('\n')
    assert.match(evidence, /SUBMIT SUCCESS: team@distlab-check - 10\.213\.166\.3 - 200, 1, 201,/)
    assert.match(evidence, /1 of the 201 pairs submitted were wrong/)
  })
})
