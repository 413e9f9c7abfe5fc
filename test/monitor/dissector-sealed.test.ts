// contrib/distlab.lua on frames sealed with a cluster key: the auth trailer (key id, signing time,
// nonce, MAC) is shown and the header fields still are. Needs tshark (Debian's tshark package).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FrameGuard } from '../../src/core/auth.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { lengthPrefixed } from '../../src/core/frame.js'
import { PcapWriter } from '../../src/monitor/pcap.js'
import { scratchDir } from '../helpers.js'

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..', '..')

test('the Wireshark dissector reads sealed frames over UDP and TCP', () => {
  const guard = new FrameGuard({ keyring: 'k7:dissector test key' })
  const env = (type: string) =>
    createEnvelope({ proto: 'ping', type, src: 'node1', dst: 'node2', body: { seq: 1 } })
  const w = new PcapWriter()
  const common = { srcIp: '127.0.2.1', dstIp: '127.0.2.2', srcPort: 40000, dstPort: 7000 }
  w.add({ ts: Date.now(), protocol: 'udp', ...common, payload: guard.sealFrame(env('ping')) })
  w.add({
    ts: Date.now(),
    protocol: 'tcp',
    ...common,
    seq: 1,
    payload: lengthPrefixed(guard.sealFrame(env('pong'))),
  })
  const file = join(scratchDir(), 'sealed.pcap')
  writeFileSync(file, w.toBuffer())
  const t = spawnSync(
    'tshark',
    [
      '-X',
      `lua_script:${join(repoRoot, 'contrib', 'distlab.lua')}`,
      '-r',
      file,
      '-Y',
      'distlab',
      '-T',
      'fields',
      '-e',
      'distlab.type',
      '-e',
      'distlab.src',
      '-e',
      'distlab.flags.sealed',
      '-e',
      'distlab.auth.key_id',
    ],
    { encoding: 'utf8' },
  )
  assert.equal(t.status, 0, t.stderr)
  const rows = t.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'))
  assert.deepEqual(
    rows.map((r) => [r[0], r[1], r[3]]),
    [
      ['ping', 'node1', 'k7'],
      ['pong', 'node1', 'k7'],
    ],
  )
  assert.ok(
    rows.every((r) => r[2] === 'True' || r[2] === '1'),
    t.stdout,
  )
})
