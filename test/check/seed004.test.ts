// `distlab check seed004` against a student's gbnnode, dvnode and cnnode written here in Python
// (Debian's python3): the correct three pass every item; each subtly broken one fails its own items
// and only those (a receiver that accepts packets past a hole, a dvnode that never takes a shorter
// path, a cnnode that divides its losses by the wrong count). UDP ports are chosen at run time
// (the OS's free ones), so the four checks run at once: each mostly waits (transfers, timeouts,
// cn's 10 s of probing), and one after the other they took 77 s.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed004/', import.meta.url))

interface Report {
  items: Array<{ id: string; required: boolean; passed: boolean; evidence: string[] }>
  ok: boolean
}

async function check(args: string[]): Promise<{ code: number | null; report: Report; raw: string }> {
  const r = await runCli(['check', 'seed004', '--json', '--cwd', DIR, ...args], { timeoutMs: 240_000 })
  return { code: r.code, report: JSON.parse(r.stdout) as Report, raw: r.stdout + r.stderr }
}

const failedIds = (r: Report) => r.items.filter((i) => !i.passed).map((i) => i.id)

describe('distlab check seed004', { concurrency: true }, () => {
  test('a correct gbnnode, dvnode and cnnode pass every seed004 item (exit 0)', async () => {
    const r = await check([
      '--gbnnode',
      'python3 gbnnode.py',
      '--dvnode',
      'python3 dvnode.py',
      '--cnnode',
      'python3 cnnode.py',
    ])
    assert.equal(r.code, 0, r.raw)
    assert.deepEqual(
      r.report.items.map((i) => [i.id, i.passed]),
      [
        ['gbn-deterministic', true],
        ['gbn-probabilistic', true],
        ['gbn-lines', true],
        ['dv-routes', true],
        ['dv-lines', true],
        ['cn-loss', true],
      ],
    )
    const gbn = r.report.items[0]!.evidence.join('\n')
    assert.match(gbn, /receiver accepted in order: "gbn-check!"/)
    assert.match(gbn, /\[Summary\] \d+\/\d+ packets discarded, loss rate = /)
  })

  test('a gbn receiver that accepts packets past a hole fails the delivery items, not the line format', async () => {
    const r = await check(['--gbn-timeout', '15s', '--gbnnode', 'python3 gbnnode_broken.py'])
    assert.equal(r.code, 1, r.raw)
    assert.deepEqual(failedIds(r.report), ['gbn-deterministic', 'gbn-probabilistic'], r.raw)
    assert.ok(
      r.report.items[0]!.evidence.some((e) => /^delivered ".*" instead of "gbn-check!"$/.test(e)),
      r.raw,
    )
  })

  test('a dvnode that never takes a shorter path fails dv-routes, naming the wrong distance', async () => {
    const r = await check(['--dvnode', 'python3 dvnode_broken.py'])
    assert.equal(r.code, 1, r.raw)
    assert.deepEqual(failedIds(r.report), ['dv-routes'], r.raw)
    assert.ok(
      r.report.items[0]!.evidence.some((e) => /printed 0\.5, true shortest distance 0\.3/.test(e)),
      r.raw,
    )
  })

  test('a cnnode that divides its losses by the packets that arrived fails cn-loss', async () => {
    const r = await check(['--cnnode', 'python3 cnnode_broken.py'])
    assert.equal(r.code, 1, r.raw)
    assert.deepEqual(failedIds(r.report), ['cn-loss'], r.raw)
    assert.ok(
      r.report.items[0]!.evidence.some((e) => /\(configured 0\.8\): off by/.test(e)),
      r.raw,
    )
  })
})
