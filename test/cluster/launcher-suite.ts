// What every launcher must do, as one sequence run against a started cluster of at least two
// nodes: the members and their state, link rules, partition, heal, pause and resume (or a clear
// "not supported"), kill -9 that stays down, restart with a new id, logs and the record. The local
// launchers run it in test/cluster/launcher.test.ts, the Docker one in test/docker/.
import assert from 'node:assert/strict'
import type { Launcher } from '../../src/cluster/launcher.js'
import { waitFor } from '../helpers.js'

async function health(l: Launcher, name: string, timeoutMs = 3000): Promise<{ id: string } | undefined> {
  const url = l.list().find((m) => m.name === name)!.url
  try {
    const res = await fetch(`${url}/health`, { headers: l.headers(), signal: AbortSignal.timeout(timeoutMs) })
    return res.ok ? ((await res.json()) as { id: string }) : undefined
  } catch {
    return undefined
  }
}

export interface SuiteExpectations {
  /** pause/resume work (else they must throw ERR_LAUNCHER_UNSUPPORTED). */
  canPause: boolean
  /** Each member names its process (pid) or its container. */
  handle: 'pid' | 'container'
}

export async function launcherConformance(l: Launcher, expect: SuiteExpectations): Promise<void> {
  // Members: the master first, every one running and answering at its url with the id it reported.
  const members = l.list()
  assert.equal(members[0]!.name, 'master')
  assert.deepEqual(
    members.slice(1).map((m) => m.name),
    members.slice(1).map((_, i) => `node${i + 1}`),
  )
  for (const m of members) {
    assert.equal(m.state, 'running', m.name)
    assert.ok(l.running(m.name))
    if (expect.handle === 'pid') assert.ok(m.pid && m.pid > 0, `${m.name} has a pid`)
    else assert.ok(m.container, `${m.name} has a container`)
    const h = await waitFor(`${m.name} /health`, () => health(l, m.name), 30_000, 200)
    assert.equal(h.id, m.id, `${m.name} answers with the id the launcher recorded`)
  }
  assert.deepEqual(
    l.record()?.nodes.map((n) => n.name),
    members.map((m) => m.name),
  )
  assert.throws(() => l.logs('../cluster'), /no node named/)

  // Link rules, partition and heal reach the nodes' link emulators.
  await l.setLink('node1', 'node2', { loss: 1, delayMs: 5 })
  const rules = await l.links('node1')
  assert.equal(rules.rules.node2?.loss, 1)
  assert.equal(rules.rules.node2?.delayMs, 5)
  const cut = await l.partition([['master', 'node1'], ['node2']])
  assert.deepEqual(cut.failed, [])
  assert.deepEqual(new Set(cut.applied), new Set(members.map((m) => m.name)))
  assert.deepEqual((await l.links('node2')).partition, [['master', 'node1'], ['node2']])
  const healed = await l.heal()
  assert.deepEqual(healed.failed, [])
  const after = await l.links('node1')
  assert.deepEqual(after.partition, [])
  assert.deepEqual(after.rules, {})

  // Pause freezes a node without killing it; resume brings the same incarnation back.
  const before = await health(l, 'node2')
  if (expect.canPause) {
    await l.pause('node2')
    assert.equal(l.list().find((m) => m.name === 'node2')!.state, 'paused')
    assert.equal(l.running('node2'), false)
    assert.equal(await health(l, 'node2', 1000), undefined, 'a paused node does not answer')
    await l.resume('node2')
    const back = await waitFor('node2 answers after resume', () => health(l, 'node2'), 30_000, 200)
    assert.equal(back.id, before?.id, 'resume is the same incarnation')
  } else {
    await assert.rejects(l.pause('node2'), { code: 'ERR_LAUNCHER_UNSUPPORTED' })
    await assert.rejects(l.resume('node2'), { code: 'ERR_LAUNCHER_UNSUPPORTED' })
  }

  // kill -9 stays down; restart comes back under the same name and url with a new id.
  const url = l.list().find((m) => m.name === 'node2')!.url
  await l.kill('node2')
  assert.equal(l.list().find((m) => m.name === 'node2')!.state, 'down')
  assert.equal(await health(l, 'node2', 1000), undefined, 'a killed node does not answer')
  const partial = await l.heal()
  assert.ok(!partial.applied.includes('node2'), 'faults go to running nodes only')
  await l.restart('node2')
  const m2 = l.list().find((m) => m.name === 'node2')!
  assert.equal(m2.state, 'running')
  const h2 = await waitFor('node2 answers after restart', () => health(l, 'node2'), 30_000, 200)
  assert.notEqual(h2.id, before?.id, 'a restarted node is a new incarnation')
  assert.equal(h2.id, m2.id)
  if (expect.handle === 'pid') assert.equal(m2.url, url)
  // Its log has lines from both incarnations.
  const lines = await waitFor(
    'node2 log lines',
    () => {
      const ls = l.logs('node2', 1000)
      return ls.length > 2 ? ls : undefined
    },
    30_000,
    200,
  )
  assert.ok(lines.length <= 1000)
}
