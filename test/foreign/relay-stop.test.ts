// A foreign cluster's stop ends even while relayed TCP connections are half-open: the client has
// sent its FIN, the server has answered and closed, and the answer and FIN still wait behind a
// link delay in the relay. (The relay once forgot the accepted side when the other side closed,
// and its listening socket's close then waited for it forever: `distlab check seed002` hung in its
// lossy item.) Python programs, each in a namespace of its own, as root. Block 98 belongs to this file.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster } from '../../src/foreign/index.js'
import { binPath, scratchDir, waitFor } from '../helpers.js'

const BLOCK = 98
const programs = join(binPath(), '..', '..', 'test', 'foreign', 'programs')
let cluster: ForeignCluster | undefined

after(async () => {
  await cluster?.stop()
})

test('stop() ends within seconds while relayed connections are half-open behind a delay, and removes the namespaces', async () => {
  const stateDir = scratchDir('distlab-relay-stop-')
  const c = await startForeignCluster({
    stateDir,
    runsDir: join(stateDir, 'runs'),
    block: BLOCK,
    dashboardPort: 0,
    readyTimeoutMs: 0,
    bootstrap: `python3 ${programs}/tcp_eof_server.py {port}`,
    node: `python3 ${programs}/tcp_halfclose_client.py {bootstrap} {port}`,
    nodes: 1,
  })
  cluster = c
  assert.equal(c.isolated, true, c.note)
  // the server's answers to the client wait 5 s in the relay
  c.setLink('bootstrap', 'node1', { delayMs: 5000 })
  await waitFor(
    'connections through the relay that the server has answered and closed',
    () => {
      const relayed = c.traffic().find((p) => p.from === 'node1' && p.to === 'bootstrap' && p.proto === 'tcp')
      return (relayed?.messages ?? 0) >= 3 && c.logs('bootstrap').filter((l) => l === 'eof').length >= 3
    },
    60_000,
    100,
  )
  const t0 = Date.now()
  const stopped = await Promise.race([
    c.stop().then(() => true),
    new Promise<false>((r) => setTimeout(() => r(false), 45_000).unref()),
  ])
  assert.ok(stopped, 'stop() did not end within 45 s')
  cluster = undefined
  assert.ok(Date.now() - t0 < 45_000)
  assert.doesNotMatch(
    spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout,
    new RegExp(`^dl${BLOCK}-`, 'm'),
  )
  assert.notEqual(spawnSync('ip', ['link', 'show', `dlbr${BLOCK}`], { stdio: 'ignore' }).status, 0)
})
