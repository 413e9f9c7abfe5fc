// A foreign cluster starts its nodes continuously, at most 16 launched and not yet listening at a
// time: one program slow to listen holds up no others. Plain processes on loopback (no namespaces,
// no relays), block 187.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster } from '../../src/foreign/index.js'
import { binPath, scratchDir } from '../helpers.js'

const programs = join(binPath(), '..', '..', 'test', 'foreign', 'programs')
let cluster: ForeignCluster | undefined

after(async () => {
  await cluster?.stop()
})

test('a node slow to listen holds up no other: the 17th and 18th listen before the slow first one', async () => {
  const stateDir = scratchDir('distlab-foreign-start-')
  cluster = await startForeignCluster({
    node: `python3 ${join(programs, 'slow_listener.py')}`,
    nodes: 18,
    env: { SLOW_NAME: 'node1', SLOW_SECONDS: '8' },
    isolate: false,
    faults: false,
    stateDir,
    runsDir: join(stateDir, 'runs'),
    block: 187,
    dashboardPort: 0,
  })
  const c = cluster
  const listeningAt = (name: string): number => {
    const line = c.logs(name).find((l) => l.startsWith('listening at '))
    assert.ok(line, `${name} said it listens: ${c.logs(name).join(' | ')}`)
    return Number(line.slice('listening at '.length))
  }
  assert.equal(c.instances.length, 18)
  for (const i of c.instances) assert.equal(i.running, true, `${i.name} runs`)
  // In waves of 16, node17 and node18 were launched only once node1 (in the first wave) listened.
  const slow = listeningAt('node1')
  for (const name of ['node17', 'node18'])
    assert.ok(
      listeningAt(name) < slow,
      `${name} should listen before node1: at ${listeningAt(name)}, node1 at ${slow}`,
    )
})
