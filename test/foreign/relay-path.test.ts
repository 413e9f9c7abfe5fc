// The relay path of `distlab run` as UDP programs live it (Python programs, each in a namespace of
// its own, as root): receivers see the sender's address and port, not the relay's. Block 62
// (10.213.62.x, aliases 10.214.62.x) belongs to this file.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster, type ForeignSpec } from '../../src/foreign/index.js'
import { binPath, scratchDir, waitFor } from '../helpers.js'

const BLOCK = 62
const programs = join(binPath(), '..', '..', 'test', 'foreign', 'programs')
let cluster: ForeignCluster | undefined

after(async () => {
  await cluster?.stop()
})

async function start(init: Omit<ForeignSpec, 'stateDir'>): Promise<ForeignCluster> {
  await cluster?.stop()
  cluster = undefined
  const stateDir = scratchDir('distlab-relay-path-')
  cluster = await startForeignCluster({
    stateDir,
    runsDir: join(stateDir, 'runs'),
    block: BLOCK,
    dashboardPort: 0,
    readyTimeoutMs: 60_000,
    ...init,
  })
  assert.equal(cluster.isolated, true, cluster.note)
  return cluster
}

const pongs = (c: ForeignCluster, name: string) => c.logs(name).filter((l) => /^pong \d+ as /.test(l))

test('a UDP server sees its client at the client’s own address and port, across the relay and under loss', async () => {
  const c = await start({
    bootstrap: `python3 ${programs}/udp_echo.py {port}`,
    node: `python3 ${programs}/udp_client.py {port} 6000`,
    nodes: 1,
  })
  const server = c.instances.find((i) => i.name === 'bootstrap')!
  const client = c.instances.find((i) => i.name === 'node1')!
  // The server knows its peer by the datagrams' source: the client's address and port, not the relay's.
  await waitFor(
    'the server to log its peer',
    () => c.logs('bootstrap').some((l) => l.startsWith('new peer ')),
    30_000,
  )
  assert.deepEqual(
    c.logs('bootstrap').filter((l) => l.startsWith('new peer ')),
    [`new peer ${client.host}:6000`],
  )
  await waitFor('answers at the client', () => pongs(c, 'node1').length >= 5, 30_000)
  for (const line of pongs(c, 'node1'))
    assert.match(
      line,
      new RegExp(
        `^pong \\d+ as ${client.host.replaceAll('.', '\\.')}:6000 from ${server.host.replaceAll('.', '\\.')}:5000$`,
      ),
    )
  // The pings and pongs go through the relays (both ways counted), and survive a lossy link.
  await waitFor(
    'relayed pings and pongs',
    () =>
      c
        .traffic()
        .some((t) => t.from === 'node1' && t.to === 'bootstrap' && t.proto === 'udp' && t.messages > 3) &&
      c
        .traffic()
        .some((t) => t.from === 'bootstrap' && t.to === 'node1' && t.proto === 'udp' && t.messages > 3),
    20_000,
  )
  c.setLink('node1', 'bootstrap', { loss: 0.3 })
  c.setLink('bootstrap', 'node1', { loss: 0.3 })
  const before = pongs(c, 'node1').length
  await waitFor(
    'losses on both directions',
    () =>
      c.traffic().some((t) => t.from === 'node1' && t.to === 'bootstrap' && t.dropped >= 3) &&
      c.traffic().some((t) => t.from === 'bootstrap' && t.to === 'node1' && t.dropped >= 3),
    30_000,
  )
  await waitFor('answers still arriving under loss', () => pongs(c, 'node1').length >= before + 10, 30_000)
  assert.deepEqual(
    c.logs('bootstrap').filter((l) => l.startsWith('new peer ')),
    [`new peer ${client.host}:6000`],
  )
  for (const line of pongs(c, 'node1')) assert.ok(line.includes(` as ${client.host}:6000 from `), line)
})
