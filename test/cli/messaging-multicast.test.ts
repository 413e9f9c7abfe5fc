// IP multicast as seed 001 runs it, and interoperating with the course's own Python code: the
// group 224.1.1.30:15007 (not the default, so that a running demo is not disturbed) on loopback.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { binPath, runCli, waitFor } from '../helpers.js'

const GROUP = '224.1.1.30'
const PORT = 15007

function start(
  cmd: string,
  args: string[],
): { child: ChildProcessWithoutNullStreams; out: () => string; err: () => string } {
  const child = spawn(cmd, args, { env: { ...process.env, NO_COLOR: '1' } })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  return { child, out: () => out, err: () => err }
}

async function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  return new Promise((resolve) => child.once('close', (code) => resolve(code)))
}

const PY_RECEIVER = `
import socket, struct, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', ${PORT}))
mreq = struct.pack('4s4s', socket.inet_aton('${GROUP}'), socket.inet_aton('127.0.0.1'))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
s.settimeout(20)
print('ready', flush=True)
for _ in range(2):
    data, addr = s.recvfrom(65535)
    try:
        print('json', json.loads(data.decode()), flush=True)
    except Exception:
        print('binary', len(data), flush=True)
`

const PY_SENDER = `
import socket, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1'))
s.sendto(json.dumps({"sensor": "temp", "value": 23.5}).encode(), ('${GROUP}', ${PORT}))
s.sendto(bytes([0xff, 0x00, 0xfe, 0x01]) * 25, ('${GROUP}', ${PORT}))
`

describe('distlab multicast send|recv', () => {
  test('recv prints the seed lines for what send sends', async () => {
    const recv = start(process.execPath, [
      binPath(),
      'multicast',
      'recv',
      '--interface',
      '127.0.0.1',
      '--group',
      GROUP,
      '--port',
      String(PORT),
      '--count',
      '4',
      '--duration',
      '30',
    ])
    await waitFor(
      'the receiver to join',
      () => recv.out().includes(`Joined multicast group ${GROUP}:${PORT}`),
      20_000,
    )
    const send = await runCli([
      'multicast',
      'send',
      '--group',
      GROUP,
      '--port',
      String(PORT),
      '--count',
      '2',
      '--interval',
      '50',
    ])
    assert.equal(send.code, 0, send.stderr)
    assert.equal(send.stdout, 'Sent JSON: {"sensor": "temp", "value": 23.5}\nSent binary blob\n'.repeat(2))
    assert.equal(await exited(recv.child), 0)
    const lines = recv.out().trim().split('\n')
    assert.equal(lines[0], `Joined multicast group ${GROUP}:${PORT}`)
    assert.equal(lines[1], 'on interfaces: 127.0.0.1')
    assert.match(lines[2]!, /^Received from \('127\.0\.0\.1', \d+\): \{"sensor": "temp", "value": 23\.5\}$/)
    assert.match(lines[3]!, /^Received binary from \('127\.0\.0\.1', \d+\): 64 bytes$/)
    assert.equal(lines.length, 7)
    assert.equal(lines.at(-1), 'Leaving multicast group')
  })

  test('a Python receiver of the course reads what distlab sends', async () => {
    const py = start('python3', ['-c', PY_RECEIVER])
    await waitFor('the Python receiver', () => py.out().includes('ready'), 20_000)
    const send = await runCli(['multicast', 'send', '--group', GROUP, '--port', String(PORT)])
    assert.equal(send.code, 0, send.stderr)
    assert.equal(await exited(py.child), 0, py.err())
    assert.match(py.out(), /json \{'sensor': 'temp', 'value': 23\.5\}/)
    assert.match(py.out(), /binary 64/)
  })

  test('distlab recv reads what a Python sender of the course sends; --json', async () => {
    const recv = start(process.execPath, [
      binPath(),
      'multicast',
      'recv',
      '--interface',
      '127.0.0.1',
      '--group',
      GROUP,
      '--port',
      String(PORT),
      '--count',
      '2',
      '--duration',
      '30',
      '--json',
    ])
    // With --json the human lines go to stderr.
    await waitFor('the receiver to join', () => recv.err().includes(`Joined multicast group`), 20_000)
    const py = start('python3', ['-c', PY_SENDER])
    assert.equal(await exited(py.child), 0, py.err())
    assert.equal(await exited(recv.child), 0, recv.err())
    const body = JSON.parse(recv.out()) as {
      json: number
      binary: number
      received: Array<{ kind: string; json?: unknown; bytes: number }>
    }
    assert.equal(body.json, 1)
    assert.equal(body.binary, 1)
    assert.deepEqual(body.received[0]!.json, { sensor: 'temp', value: 23.5 })
    assert.equal(body.received[1]!.bytes, 100)
  })

  test('a bad group is bad usage (exit 2)', async () => {
    const r = await runCli(['multicast', 'send', '--group', '10.0.0.1'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /multicast address/)
  })
})
