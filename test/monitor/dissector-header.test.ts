// contrib/distlab.lua reads both header encodings: the binary header (flags bit 2, what nodes send)
// and the JSON header (older nodes, hand-made frames), every field the same. Needs tshark.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEnvelope } from '../../src/core/envelope.js'
import { encodeFrame } from '../../src/core/frame.js'
import { PcapWriter } from '../../src/monitor/pcap.js'
import { scratchDir } from '../helpers.js'

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..', '..')
const FIELDS = ['flags.binary_header', 'id', 'proto', 'type', 'src', 'dst', 'ts', 'ttl', 'body_json']

test('the Wireshark dissector shows the same fields for a binary and a JSON header', () => {
  const env = (id: string, ttl?: number) =>
    createEnvelope({
      id,
      proto: 'membership',
      type: 'ping',
      src: 'node-a',
      dst: 'node-b',
      ts: 1764900000123,
      ttl,
      body: { seq: 7 },
    })
  const w = new PcapWriter()
  const common = { srcIp: '127.0.2.1', dstIp: '127.0.2.2', srcPort: 40000, dstPort: 7000 }
  const binary = encodeFrame(env('bin-1', 9))
  const json = encodeFrame(env('json-1', 9), { header: 'json' })
  const binaryNoTtl = encodeFrame(env('bin-2'))
  assert.equal(binary[3]! & 0x04, 0x04, 'nodes send binary headers')
  assert.equal(json[3]! & 0x04, 0, 'header: json sends a JSON header')
  for (const payload of [binary, json, binaryNoTtl])
    w.add({ ts: Date.now(), protocol: 'udp', ...common, payload })
  const file = join(scratchDir(), 'headers.pcap')
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
      ...FIELDS.flatMap((f) => ['-e', `distlab.${f}`]),
    ],
    { encoding: 'utf8' },
  )
  assert.equal(t.status, 0, t.stderr)
  const rows = t.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'))
  assert.equal(rows.length, 3, t.stdout)
  const flag = (v: string | undefined) => v === 'True' || v === '1'
  assert.deepEqual(
    rows.map((r) => [flag(r[0]), ...r.slice(1, 6), Number(r[6]), r[7], r[8]]),
    [
      [true, 'bin-1', 'membership', 'ping', 'node-a', 'node-b', 1764900000123, '9', '{"seq":7}'],
      [false, 'json-1', 'membership', 'ping', 'node-a', 'node-b', 1764900000123, '9', '{"seq":7}'],
      [true, 'bin-2', 'membership', 'ping', 'node-a', 'node-b', 1764900000123, '', '{"seq":7}'],
    ],
  )
})
