// Issue 14, item 18 (classic pcap): a real tcpdump capture cut short at any length — in the file
// header, in a packet record's header, in a packet's bytes — is a PcapFormatError naming the
// offset, and `distlab analyze` exits 2 with one line: no RangeError, and no silent success that
// would pass a partial capture off as a whole one. Traffic on 127.62.250.x only.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { capture, findTool } from '../../src/monitor/capture.js'
import { readCapture } from '../../src/monitor/pcap.js'
import { encodeFrame } from '../../src/core/frame.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { runCli, scratchDir } from '../helpers.js'

const dir = scratchDir('distlab-pcap-cut-')
after(() => rmSync(dir, { recursive: true, force: true }))
const A = '127.62.250.1'
const B = '127.62.250.2'
const PACKETS = 6
let whole: Buffer

async function sendDatagrams(): Promise<void> {
  const rx = createSocket('udp4')
  await new Promise<void>((r) => rx.bind(7000, B, () => r()))
  const tx = createSocket('udp4')
  await new Promise<void>((r) => tx.bind(0, A, () => r()))
  try {
    for (let i = 0; i < PACKETS; i++) {
      // Bodies of different sizes, so that the cuts below land in different places of a packet.
      const f = encodeFrame(
        createEnvelope({
          proto: 'unicast',
          type: 'data',
          src: 'a',
          dst: 'b',
          body: { i, pad: 'x'.repeat(i * 97) },
        }),
      )
      await new Promise<void>((r, j) => tx.send(f, 7000, B, (err) => (err ? j(err) : r())))
    }
  } finally {
    rx.close()
    tx.close()
  }
}

before(async () => {
  assert.ok(findTool('tcpdump'), 'tcpdump is installed by scripts/install-system-deps.sh')
  const out = join(dir, 'whole.pcap')
  const ctrl = new AbortController()
  let traffic: Promise<void> | undefined
  await capture(
    { out, iface: 'lo', durationMs: 60_000, net: '127.62.250.0/24', ports: [7000], tool: 'tcpdump' },
    {
      signal: ctrl.signal,
      onReady: () => {
        traffic = sendDatagrams().finally(() => setTimeout(() => ctrl.abort(), 1000))
      },
    },
  )
  await traffic
  whole = readFileSync(out)
})

function assertRefused(r: { code: number | null; stderr: string }, what: string): string {
  assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr.slice(0, 500)}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `${what}: one line, got\n${r.stderr.slice(0, 500)}`)
  assert.match(lines[0]!, /^distlab: /)
  assert.doesNotMatch(r.stderr, /RangeError|out of range|at \w+ \(/, what)
  return lines[0]!
}

test('the whole capture is a classic pcap that reads: every datagram, exit 0', async () => {
  assert.equal(whole.readUInt32LE(0), 0xa1b2c3d4, 'tcpdump writes classic little-endian pcap')
  assert.equal(readCapture(whole).packets.length, PACKETS)
  const file = join(dir, 'whole-copy.pcap')
  writeFileSync(file, whole)
  const r = await runCli(['analyze', file, '--json'], { timeoutMs: 60_000 })
  assert.equal(r.code, 0, r.stderr)
})

test('a classic pcap cut short anywhere: an error naming the offset, and `distlab analyze` exits 2 with one line', async () => {
  // Record boundaries, read from the file itself: the header of record k starts at starts[k].
  const starts: number[] = []
  for (let o = 24; o < whole.length; o += 16 + whole.readUInt32LE(o + 8)) starts.push(o)
  assert.equal(starts.length, PACKETS)
  const last = starts.at(-1)!
  const cuts = new Map<string, number>([
    ['in the file header', 13],
    ['just after the file header plus 1 byte', 25],
    ['in the first record header', starts[0]! + 9],
    ['in the first packet', starts[0]! + 16 + 20],
    ['in a middle record header', starts[3]! + 15],
    ['in a middle packet', starts[3]! + 16 + 100],
    ['in the last packet', last + 16 + 1],
    ['one byte short of the end', whole.length - 1],
  ])
  for (const [what, cut] of cuts) {
    const bytes = whole.subarray(0, cut)
    let message = ''
    assert.throws(
      () => readCapture(bytes),
      (err: Error & { code?: string }) => {
        message = err.message
        return err.code === 'ERR_PCAP_FORMAT'
      },
      what,
    )
    const file = join(dir, `cut-${cut}.pcap`)
    writeFileSync(file, bytes)
    const line = assertRefused(await runCli(['analyze', file], { timeoutMs: 60_000 }), what)
    assert.match(line, /cut short/, what)
    if (cut >= 24) {
      // The offset named is where the cut record starts: the last record header at or before the cut.
      const at = starts.filter((s) => s <= cut).at(-1) ?? 24
      assert.match(message, new RegExp(`offset ${at}\\b`), `${what}: ${message}`)
      assert.ok(line.includes(`offset ${at}`), `${what}: ${line}`)
    }
  }
})
