// Issue 14, item 18: hostile local files through the real CLI. YAML nested 5000 deep (scenario and
// topology files) and truncated or malformed pcapng give one clear `distlab: ...` line and exit 2:
// no V8 out-of-memory, no stack overflow, no raw RangeError.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCli, scratchDir } from '../helpers.js'
import { readCapture } from '../../src/monitor/pcap.js'

const dir = scratchDir('distlab-hostile-files-')
after(() => rmSync(dir, { recursive: true, force: true }))

const DEPTH = 5000
const deepYaml = {
  flowSeq: `name: deep\nsteps: ${'['.repeat(DEPTH)}1${']'.repeat(DEPTH)}\n`,
  flowMap: `name: ${'{a: '.repeat(DEPTH)}1${'}'.repeat(DEPTH)}\n`,
  // 2000 levels: 5000 would be 12.5 MB of indentation, refused for its size before its depth.
  blockMap: Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n',
  compactSeq: `steps:\n${'- '.repeat(DEPTH)}1\n`,
}

function assertRefused(
  r: { code: number | null; stdout: string; stderr: string },
  what: string,
  pattern: RegExp,
) {
  assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr.slice(0, 500)}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `${what}: one line, got\n${r.stderr.slice(0, 500)}`)
  assert.match(lines[0]!, /^distlab: /)
  assert.match(lines[0]!, pattern, what)
  assert.doesNotMatch(r.stderr, /RangeError|heap|Maximum call stack|at \w+ \(/, what)
}

for (const [shape, text] of Object.entries(deepYaml)) {
  test(`YAML nested thousands deep (${shape}): scenario run and topology run exit 2 with one line`, async () => {
    const file = join(dir, `${shape}.yaml`)
    writeFileSync(file, text)
    for (const args of [
      ['scenario', 'run', file],
      ['topology', 'run', file],
    ]) {
      // Twice in a row: the second parse is where the out-of-memory used to come.
      for (let i = 0; i < 2; i++) {
        const r = await runCli(args, { timeoutMs: 60_000, env: { DISTLAB_HOME: join(dir, 'home') } })
        assertRefused(r, `${args.slice(0, 2).join(' ')} ${shape}`, /nested \d+ levels deep/)
      }
    }
  })
}

// ---- pcapng ----

function block(type: number, body: Buffer): Buffer {
  const pad = (4 - (body.length % 4)) % 4
  const len = 12 + body.length + pad
  const b = Buffer.alloc(len)
  b.writeUInt32LE(type, 0)
  b.writeUInt32LE(len, 4)
  body.copy(b, 8)
  b.writeUInt32LE(len, len - 4)
  return b
}

function pcapng(): Buffer {
  const shb = Buffer.alloc(16)
  shb.writeUInt32LE(0x1a2b3c4d, 0)
  shb.writeUInt16LE(1, 4)
  shb.writeBigInt64LE(-1n, 8)
  const idb = Buffer.alloc(8)
  idb.writeUInt16LE(101, 0) // raw IP
  idb.writeUInt32LE(65535, 4)
  // One IPv4 UDP packet 127.0.0.1:1000 -> 127.0.0.2:2000 with 4 payload bytes.
  const ip = Buffer.alloc(32)
  ip[0] = 0x45
  ip.writeUInt16BE(32, 2)
  ip[8] = 64
  ip[9] = 17
  Buffer.from([127, 0, 0, 1, 127, 0, 0, 2]).copy(ip, 12)
  ip.writeUInt16BE(1000, 20)
  ip.writeUInt16BE(2000, 22)
  ip.writeUInt16BE(12, 24)
  ip.write('ping', 28)
  const epb = Buffer.alloc(20 + ip.length)
  epb.writeUInt32LE(0, 0)
  epb.writeUInt32LE(0, 4)
  epb.writeUInt32LE(1000, 8)
  epb.writeUInt32LE(ip.length, 12)
  epb.writeUInt32LE(ip.length, 16)
  ip.copy(epb, 20)
  return Buffer.concat([block(0x0a0d0d0a, shb), block(1, idb), block(6, epb), block(6, epb)])
}

test('a well-formed pcapng reads (the fixture is sound)', () => {
  const r = readCapture(pcapng())
  assert.equal(r.packets.length, 2)
  assert.equal(r.packets[0]!.payload.toString(), 'ping')
})

test('truncated and malformed pcapng: `distlab analyze` exits 2 with one line, never a RangeError', async () => {
  const good = pcapng()
  const cases = new Map<string, Buffer>()
  for (const cut of [30, 47, 60, good.length - 70, good.length - 3])
    cases.set(`cut at ${cut}`, good.subarray(0, cut))
  const tinyEpb = Buffer.alloc(12)
  tinyEpb.writeUInt32LE(6, 0)
  tinyEpb.writeUInt32LE(12, 4)
  tinyEpb.writeUInt32LE(12, 8)
  cases.set('a 12-byte packet block at the end', Buffer.concat([good.subarray(0, 48), tinyEpb]))
  const lying = Buffer.from(good)
  lying.writeUInt32LE(0xfffffff0, 48 + 20) // the packet's captured length, far past its block
  cases.set('a captured length past its block', lying)
  const badLen = Buffer.from(good)
  badLen.writeUInt32LE(13, 28 + 4) // the IDB's length
  cases.set('a block length that is not a multiple of 4', badLen)
  for (const [what, bytes] of cases) {
    assert.throws(() => readCapture(bytes), { code: 'ERR_PCAP_FORMAT' }, what)
    const file = join(dir, `bad-${what.replace(/\W+/g, '-')}.pcapng`)
    writeFileSync(file, bytes)
    const r = await runCli(['analyze', file], { timeoutMs: 60_000 })
    assertRefused(r, what, /pcapng|capture/)
  }
})
