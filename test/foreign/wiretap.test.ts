// What goes around distlab's relays still reaches the run: Python programs (Debian's python3), each
// in a namespace of its own as root, send IP multicast, a broadcast and UDP to a port nobody
// listens on; a capture on the instances' bridge records each datagram once, decoded as the relays
// decode theirs, with who took it off the wire, while the relayed TCP lines stay counted once.
// Block 93 (10.213.93.x, aliases 10.214.93.x) belongs to this file.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster } from '../../src/foreign/index.js'
import { RunReader } from '../../src/monitor/store.js'
import type { TelemetryEvent } from '../../src/core/telemetry.js'
import { binPath, runCli, scratchDir, waitFor } from '../helpers.js'

const BLOCK = 93
const ROUNDS = 8
const programs = join(binPath(), '..', '..', 'test', 'foreign', 'programs')
let cluster: ForeignCluster | undefined

after(async () => {
  await cluster?.stop()
})

function events(file: string): TelemetryEvent[] {
  const r = new RunReader(file)
  try {
    return [...r.events()]
  } finally {
    r.close()
  }
}

test('multicast, broadcast and unrelayed UDP between namespaced programs are in the run once, with src, dst, type and receivers', async () => {
  const stateDir = scratchDir('distlab-wiretap-')
  cluster = await startForeignCluster({
    stateDir,
    runsDir: join(stateDir, 'runs'),
    block: BLOCK,
    dashboardPort: 0,
    readyTimeoutMs: 60_000,
    node: `python3 ${programs}/group_talk.py {port} {index} ${ROUNDS}`,
    nodes: 4,
  })
  const c = cluster
  assert.equal(c.isolated, true, c.note)
  assert.ok(c.tap, `no capture: ${c.note}`)
  const ip = (name: string) => c.instances.find((i) => i.name === name)!.host
  await waitFor('the sender to finish', () => c.logs('node1').includes('sent tcp 2'), 60_000, 100)
  // The programs themselves got the group datagrams (members only) and the broadcast.
  for (const n of ['node2', 'node3'])
    assert.ok(
      c.logs(n).some((l) => l.startsWith('group {"sensor": "temp"') && l.endsWith(`from ${ip('node1')}`)),
      `${n} got no group datagram: ${c.logs(n).slice(-3).join(' | ')}`,
    )
  assert.ok(!c.logs('node4').some((l) => l.startsWith('group ')), 'node4 joined no group, yet got one')
  const sends = (pred: (e: TelemetryEvent) => boolean) => () =>
    events(c.runFile!).filter((e) => e.kind === 'send' && e.src === 'node1' && pred(e))
  const group = `group:224.1.1.1:5007`
  const json = sends((e) => e.dst === group && e.proto === 'ip-multicast' && e.type === 'json')
  const binary = sends((e) => e.dst === group && e.proto === 'ip-multicast' && e.type === 'binary')
  const bcast = sends((e) => e.dst === '*' && e.type === 'json' && e.transport === 'udp')
  const straight = sends((e) => e.dst === 'node4' && e.proto === 'udp' && e.type === 'json')
  const tcpLines = sends((e) => e.dst === 'node2' && e.transport === 'tcp' && e.type === 'data')
  await waitFor(
    'every datagram and TCP line in the run',
    () =>
      json().length >= ROUNDS &&
      binary().length >= ROUNDS &&
      bcast().length >= ROUNDS &&
      straight().length >= ROUNDS &&
      tcpLines().length >= 3,
    20_000,
    250,
  )
  // Once each: not one more after a quiet second (the capture leaves the relayed lines to the relays).
  await new Promise((r) => setTimeout(r, 1500))
  assert.equal(json().length, ROUNDS, 'JSON group datagrams')
  assert.equal(binary().length, ROUNDS, 'binary group datagrams')
  assert.equal(bcast().length, ROUNDS, 'broadcast datagrams')
  assert.equal(straight().length, ROUNDS, 'datagrams to a port nobody listens on')
  assert.equal(tcpLines().length, 3, 'relayed TCP lines')
  // Who took a group datagram off the wire: the members, not node4 (bound to the port, in no group).
  const all = events(c.runFile!)
  const receivers = (msgId: string) =>
    all
      .filter((e) => e.kind === 'recv' && e.msgId === msgId)
      .map((e) => e.node)
      .sort()
  for (const e of json()) assert.deepEqual(receivers(e.msgId), ['node2', 'node3'])
  for (const e of bcast()) assert.deepEqual(receivers(e.msgId), ['node2', 'node3', 'node4'])
  for (const e of straight()) assert.deepEqual(receivers(e.msgId), ['node4'])
  // analyze reads the captured traffic like any other.
  const a = await runCli(['analyze', c.runFile!, '--json'], { timeoutMs: 60_000 })
  assert.equal(a.code, 0, a.stderr)
  const report = JSON.parse(a.stdout) as { protocols: Record<string, { sent: number }> }
  assert.equal(report.protocols['ip-multicast']?.sent, 2 * ROUNDS)
})

test('stop ends the capture with the cluster', async () => {
  const c = cluster!
  const tap = c.tap!
  await c.stop()
  cluster = undefined
  await waitFor('the capture tool to exit', () => !tap.running, 10_000)
})
