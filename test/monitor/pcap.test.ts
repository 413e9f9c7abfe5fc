import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readCapture, PcapWriter } from '../../src/monitor/pcap.js'
import { decodeTraffic, exportPcap, messagesToEvents } from '../../src/monitor/traffic.js'
import { analyzeEvents, messageCount } from '../../src/monitor/analyzer.js'
import { encodeFrame, lengthPrefixed } from '../../src/core/frame.js'
import { createEnvelope } from '../../src/core/envelope.js'
import type { TelemetryEvent } from '../../src/core/telemetry.js'

const members = [
  { name: 'node1', host: '127.70.2.1', framePort: 7000 },
  { name: 'node2', host: '127.70.2.2', framePort: 7000 },
]

describe('pcap export and decoding', () => {
  test('a run exported as pcap decodes back to the same messages, UDP and TCP', () => {
    const events: TelemetryEvent[] = []
    for (let i = 0; i < 50; i++)
      events.push({
        ts: 1_700_000_000_000 + i * 3,
        node: i % 2 ? 'node1' : 'node2',
        proto: i % 3 ? 'unicast' : 'broadcast',
        kind: 'send',
        msgId: `id-${i}`,
        src: i % 2 ? 'node1' : 'node2',
        dst: i % 3 ? (i % 2 ? 'node2' : 'node1') : '*',
        bytes: 150 + i * 10,
        transport: i % 4 === 0 ? 'tcp' : 'udp',
        type: 'data',
      })
    // Not on the wire: no packet.
    events.push({ ...events[0]!, kind: 'recv', node: 'node1' })
    const writer = exportPcap(events, members)
    assert.equal(writer.count, 50)
    const read = readCapture(writer.toBuffer())
    assert.equal(read.packets.length, 50)
    assert.equal(read.packets[0]!.srcIp, '127.70.2.2')
    const { messages, stats } = decodeTraffic(read)
    assert.equal(stats.undecoded, 0)
    assert.equal(messages.length, 50)
    assert.deepEqual(
      messages.map((m) => [m.msgId, m.proto, m.src, m.dst, m.bytes, m.transport]),
      events.slice(0, 50).map((e) => [e.msgId, e.proto, e.src, e.dst, e.bytes, e.transport]),
    )
    const report = analyzeEvents(messagesToEvents(messages), { run: 'x' })
    assert.equal(messageCount(report), 50)
  })

  test('seed formats in a capture: JSON and binary multicast datagrams, HTTP POST /message, line commands', () => {
    const w = new PcapWriter()
    const t = 1_700_000_000_000
    w.add({
      ts: t,
      protocol: 'udp',
      srcIp: '127.70.9.1',
      dstIp: '224.1.1.1',
      srcPort: 40000,
      dstPort: 5007,
      payload: Buffer.from('{"sensor": "temp", "value": 23.5}'),
    })
    w.add({
      ts: t + 1,
      protocol: 'udp',
      srcIp: '127.70.9.1',
      dstIp: '224.1.1.1',
      srcPort: 40000,
      dstPort: 5007,
      payload: Buffer.from([0, 1, 2, 255]),
    })
    const body = JSON.stringify({ sender: 'Node1', msg: 'Hello Node2!' })
    const req = Buffer.from(
      `POST /message HTTP/1.1\r\nHost: node2:5000\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    // Split across two segments, and one retransmitted segment: reassembly must cope.
    w.add({
      ts: t + 2,
      protocol: 'tcp',
      srcIp: '127.70.9.1',
      dstIp: '127.70.9.2',
      srcPort: 41000,
      dstPort: 5000,
      payload: req.subarray(0, 30),
      seq: 100,
    })
    w.add({
      ts: t + 3,
      protocol: 'tcp',
      srcIp: '127.70.9.1',
      dstIp: '127.70.9.2',
      srcPort: 41000,
      dstPort: 5000,
      payload: req.subarray(0, 30),
      seq: 100,
    })
    w.add({
      ts: t + 4,
      protocol: 'tcp',
      srcIp: '127.70.9.1',
      dstIp: '127.70.9.2',
      srcPort: 41000,
      dstPort: 5000,
      payload: req.subarray(30),
      seq: 130,
    })
    w.add({
      ts: t + 5,
      protocol: 'tcp',
      srcIp: '127.70.9.1',
      dstIp: '127.70.9.3',
      srcPort: 41001,
      dstPort: 9801,
      payload: Buffer.from('SENDLINE\nSENDLINE\nSESSION RESET\n'),
      seq: 1,
    })
    // A distlab frame over TCP on a port other than 7000 is recognised by its magic.
    const frame = lengthPrefixed(
      encodeFrame(createEnvelope({ proto: 'unicast', type: 'data', src: 'a', dst: 'b', body: { x: 1 } })),
    )
    w.add({
      ts: t + 6,
      protocol: 'tcp',
      srcIp: '127.70.9.1',
      dstIp: '127.70.9.2',
      srcPort: 41002,
      dstPort: 7100,
      payload: frame,
      seq: 1,
    })
    // Garbage on UDP is counted, not fatal.
    w.add({
      ts: t + 7,
      protocol: 'udp',
      srcIp: '127.70.9.1',
      dstIp: '127.70.9.2',
      srcPort: 1,
      dstPort: 7000,
      payload: Buffer.from('DLgarbage'),
    })
    const { messages, stats } = decodeTraffic(readCapture(w.toBuffer()))
    assert.deepEqual(
      messages.map((m) => [m.proto, m.type, m.src]),
      [
        ['ip-multicast', 'json', '127.70.9.1:40000'],
        ['ip-multicast', 'binary', '127.70.9.1:40000'],
        ['http', 'POST /message', 'Node1'],
        ['lineserver', 'SENDLINE', '127.70.9.1:41001'],
        ['lineserver', 'SENDLINE', '127.70.9.1:41001'],
        ['lineserver', 'SESSION RESET', '127.70.9.1:41001'],
        ['unicast', 'data', 'a'],
      ],
    )
    assert.equal(stats.undecoded, 1)
  })

  test('not a capture: a typed error', () => {
    assert.throws(() => readCapture(Buffer.alloc(100)), { code: 'ERR_PCAP_FORMAT' })
    assert.throws(() => readCapture(Buffer.alloc(3)), { code: 'ERR_PCAP_FORMAT' })
  })
})
