// `distlab bench broadcast|unicast|multicast|anycast` on small clusters of their own (blocks 30 and
// 175-177, one each): the figures the issue names are there, and the checks hold (nothing lost,
// nothing twice). The four run side by side: each mostly waits on its rate, latency and timeouts.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { runCli } from '../helpers.js'

const bench = (block: number, ...args: string[]) =>
  runCli(['bench', ...args, '--block', String(block), '--json'], { timeoutMs: 180_000 })

describe('distlab bench (messaging)', { concurrency: true }, () => {
  test('bench broadcast reports msgsPerOp, lost, duplicates, deliveryRatio, latency and redundancy', async () => {
    const r = await bench(
      30,
      'broadcast',
      '--nodes',
      '4',
      '--latency',
      '20ms',
      '--rate',
      '20',
      '--duration',
      '2s',
      '--partition',
      '--partition-every',
      '1s',
    )
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout) as Record<string, unknown> & { latencyMs: Record<string, number> }
    for (const k of [
      'msgsPerOp',
      'msgsPerBroadcast',
      'bytesPerOp',
      'lost',
      'duplicates',
      'deliveryRatio',
      'redundancy',
    ])
      assert.equal(typeof j[k], 'number', k)
    assert.deepEqual(Object.keys(j.latencyMs).sort(), ['max', 'p50', 'p95', 'p99'])
    assert.equal(j.lost, 0)
    assert.equal(j.duplicates, 0)
    assert.equal(j.deliveryRatio, 1)
    assert.ok((j.acknowledged as number) > 0)
    assert.ok((j.msgsPerOp as number) > 0)
  })

  test('bench unicast: exactly once and in order through 30% loss', async () => {
    const r = await bench(175, 'unicast', '--nodes', '3', '--messages', '60', '--latency', '5ms')
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout) as Record<string, number>
    assert.equal(j.acknowledged, 60)
    assert.equal(j.lost, 0)
    assert.equal(j.duplicates, 0)
    assert.equal(j.outOfOrder, 0)
    assert.equal(j.deliveryRatio, 1)
    assert.ok(j.retransmissionsPerOp > 0)
  })

  test('bench multicast: overlay members only, once each; ip beside it', async () => {
    const r = await bench(176, 'multicast', '--nodes', '4', '--members', '2', '--messages', '30')
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout) as { overlay: Record<string, number>; ip: Record<string, number> }
    assert.equal(j.overlay.deliveryRatio, 1)
    assert.equal(j.overlay.strays, 0)
    assert.equal(j.overlay.duplicates, 0)
    assert.equal(j.ip.msgsPerOp, 1)
  })

  test('bench anycast: a replica killed half way loses no request', async () => {
    const r = await bench(177, 'anycast', '--nodes', '3', '--requests', '60', '--kill', '1')
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout) as { answered: number; lost: number; killed: string[] }
    assert.equal(j.answered, 60)
    assert.equal(j.lost, 0)
    assert.equal(j.killed.length, 1)
  })
})
