// A real packet capture with tcpdump on loopback (addresses of this test's own block only), read
// back by the analyzer: distlab frames over UDP and TCP, a seed-001 JSON datagram, and a seed-002
// HTTP POST /message.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { createServer, connect } from 'node:net'
import { createServer as createHttpServer, request } from 'node:http'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { capture, findTool } from '../../src/monitor/capture.js'
import { readCapture } from '../../src/monitor/pcap.js'
import { decodeTraffic } from '../../src/monitor/traffic.js'
import { encodeFrame, lengthPrefixed } from '../../src/core/frame.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { runCli, scratchDir } from '../helpers.js'

const dir = scratchDir('distlab-capture-')
after(() => rmSync(dir, { recursive: true, force: true }))
const A = '127.70.9.1'
const B = '127.70.9.2'

const frame = (i: number, proto = 'unicast') =>
  encodeFrame(createEnvelope({ proto, type: 'data', src: 'cap-a', dst: 'cap-b', body: { i } }))

async function sendTraffic(): Promise<void> {
  const udpIn = createSocket('udp4')
  await new Promise<void>((r) => udpIn.bind(7000, B, () => r()))
  const udpOut = createSocket('udp4')
  await new Promise<void>((r) => udpOut.bind(0, A, () => r()))
  const tcp = createServer((s) => s.resume())
  await new Promise<void>((r) => tcp.listen(7000, B, () => r()))
  const http = createHttpServer((req, res) => {
    req.resume()
    req.on('end', () => res.end('{"status": "received"}'))
  })
  await new Promise<void>((r) => http.listen(5000, B, () => r()))
  try {
    for (let i = 0; i < 5; i++)
      await new Promise<void>((r, j) => udpOut.send(frame(i), 7000, B, (err) => (err ? j(err) : r())))
    await new Promise<void>((r, j) =>
      udpOut.send(Buffer.from('{"sensor": "temp", "value": 23.5}'), 5007, B, (err) => (err ? j(err) : r())),
    )
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: B, port: 7000, localAddress: A }, () => {
        s.end(Buffer.concat([0, 1, 2].map((i) => lengthPrefixed(frame(i, 'tcpproto')))))
      })
      s.on('close', () => resolve())
      s.on('error', reject)
    })
    await new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ sender: 'Node1', msg: 'Hello Node2!' })
      const req = request(
        {
          host: B,
          port: 5000,
          localAddress: A,
          method: 'POST',
          path: '/message',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve())
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  } finally {
    udpIn.close()
    udpOut.close()
    await new Promise((r) => tcp.close(r))
    http.closeAllConnections()
    await new Promise((r) => http.close(r))
  }
}

describe('distlab capture', () => {
  test('tcpdump captures distlab traffic and the analyzer decodes every message in it', async () => {
    assert.ok(findTool('tcpdump'), 'tcpdump is installed by scripts/install-system-deps.sh')
    const out = join(dir, 'live.pcap')
    const ctrl = new AbortController()
    let traffic: Promise<void> | undefined
    const result = await capture(
      { out, iface: 'lo', durationMs: 60_000, net: '127.70.9.0/24', tool: 'tcpdump' },
      {
        signal: ctrl.signal,
        onReady: () => {
          traffic = sendTraffic().finally(() => setTimeout(() => ctrl.abort(), 1000))
        },
      },
    )
    await traffic
    assert.equal(result.tool, 'tcpdump')
    assert.equal(result.filter, '(port 5000 or port 7000 or port 5007 or port 9801) and net 127.70.9.0/24')
    const { messages } = decodeTraffic(readCapture(readFileSync(out)))
    const kinds = messages.map((m) => `${m.transport} ${m.proto} ${m.type}`)
    assert.equal(kinds.filter((k) => k === 'udp unicast data').length, 5)
    assert.equal(kinds.filter((k) => k === 'tcp tcpproto data').length, 3)
    assert.equal(kinds.filter((k) => k === 'udp ip-multicast json').length, 1)
    assert.equal(kinds.filter((k) => k === 'tcp http POST /message').length, 1)
    assert.equal(messages.find((m) => m.proto === 'http')!.src, 'Node1')

    const cli = await runCli(['analyze', out, '--json'])
    assert.equal(cli.code, 0, cli.stderr)
    const report = JSON.parse(cli.stdout) as { protocols: Record<string, { sent: number }> }
    assert.equal(report.protocols.unicast!.sent, 5)
    assert.equal(report.protocols.tcpproto!.sent, 3)
  })

  test('a capture that cannot start says why and exits 1; bad usage exits 2', async () => {
    const r = await runCli(['capture', '--iface', 'nosuchif0', '--duration', '2s', join(dir, 'x.pcap')], {
      timeoutMs: 30_000,
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /distlab: (tcpdump|dumpcap)/)
    assert.match(r.stderr, /nosuchif0/)
    const bad = await runCli(['capture', '--duration', 'soon', join(dir, 'y.pcap')])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--duration must be a duration/)
  })
})
