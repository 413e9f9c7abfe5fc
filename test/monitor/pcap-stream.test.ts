// The pcap reader for a capture on a pipe (`tcpdump -w -`), which `distlab run` reads live: packets
// come out as their records complete, however the bytes are cut, and a hostile stream is a
// PcapFormatError, never a crash or an unbounded buffer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PcapStreamReader, PcapWriter, readCapture, type CapturedPacket } from '../../src/monitor/pcap.js'

function sample(): Buffer {
  const w = new PcapWriter()
  for (let i = 0; i < 5; i++)
    w.add({
      ts: 1_700_000_000_000 + i * 10.5,
      protocol: i % 2 ? 'tcp' : 'udp',
      srcIp: '10.213.93.4',
      dstIp: i % 2 ? '10.213.93.5' : '224.1.1.1',
      srcPort: 40000 + i,
      dstPort: i % 2 ? 5000 : 5007,
      payload: Buffer.from(JSON.stringify({ sensor: 'temp', value: 23.5, n: i })),
      seq: i * 100,
    })
  return w.toBuffer()
}

const shape = (p: CapturedPacket) => ({ ...p, payload: p.payload.toString('hex') })

test('packets come out as their records complete, whatever the chunking, as the file reader reads them', () => {
  const file = sample()
  const expected = readCapture(file).packets.map(shape)
  for (const size of [1, 7, 16, 24, 100, file.length]) {
    const r = new PcapStreamReader()
    const got: CapturedPacket[] = []
    for (let o = 0; o < file.length; o += size) got.push(...r.push(file.subarray(o, o + size)))
    assert.deepEqual(got.map(shape), expected, `chunks of ${size} bytes`)
  }
  const r = new PcapStreamReader()
  assert.deepEqual(r.push(file.subarray(0, 30)), [], 'a record cut short waits for its bytes')
})

test('a stream that is not pcap, or claims a record over the snap length, is a PcapFormatError', () => {
  assert.throws(() => new PcapStreamReader().push(Buffer.alloc(24, 0x41)), { code: 'ERR_PCAP_FORMAT' })
  const file = sample()
  const huge = Buffer.from(file.subarray(0, 40))
  huge.writeUInt32LE(0x7fffffff, 24 + 8) // the first record's captured length
  assert.throws(() => new PcapStreamReader().push(huge), { code: 'ERR_PCAP_FORMAT' })
})
