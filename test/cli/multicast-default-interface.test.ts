// Issue 16 item 9: `distlab multicast recv` without --interface joins the group on the default
// route's interface as well as loopback, so a course sender that does not set IP_MULTICAST_IF (its
// datagrams leave by the default interface) is received. The joins send IGMP out of that interface,
// so the whole test runs in a network namespace of its own whose default route is a veth device.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { binPath, waitFor } from '../helpers.js'

const NS = `distlab-mc67-${process.pid}`
const ADDRESS = '10.67.0.2'
const GROUP = '224.1.1.67'
const PORT = 15067
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' })

// A student's sender: no IP_MULTICAST_IF, so the kernel picks the default route's interface.
const PY_SENDER = `
import socket, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
s.sendto(json.dumps({"sensor": "temp", "value": 23.5}).encode(), ('${GROUP}', ${PORT}))
s.sendto(bytes([0xff, 0x00, 0xfe, 0x01]) * 25, ('${GROUP}', ${PORT}))
`

function inNamespace(
  cmd: string,
  args: string[],
): { child: ChildProcessWithoutNullStreams; out: () => string } {
  const child = spawn('ip', ['netns', 'exec', NS, cmd, ...args], { env: { ...process.env, NO_COLOR: '1' } })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  return { child, out: () => out }
}

const exited = (c: ChildProcessWithoutNullStreams) =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise<number | null>((r) => c.once('close', r))

describe('multicast recv joins on the default interface too (in a namespace of its own)', () => {
  before(() => {
    ip('netns', 'add', NS)
    ip('-n', NS, 'link', 'set', 'lo', 'up')
    // A veth pair with both ends inside the namespace: d0 holds the default route, d1 its peer.
    ip('-n', NS, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1')
    ip('-n', NS, 'addr', 'add', `${ADDRESS}/24`, 'dev', 'd0')
    ip('-n', NS, 'link', 'set', 'd1', 'up')
    ip('-n', NS, 'link', 'set', 'd0', 'up')
    ip('-n', NS, 'route', 'add', 'default', 'dev', 'd0')
  })
  after(() => {
    ip('netns', 'del', NS)
  })

  test('a sender without IP_MULTICAST_IF is received; the receiver names both interfaces', async () => {
    const recv = inNamespace(process.execPath, [
      binPath(),
      'multicast',
      'recv',
      '--group',
      GROUP,
      '--port',
      String(PORT),
      '--count',
      '2',
      '--duration',
      '60',
    ])
    await waitFor('the receiver to join', () => recv.out().includes('on interfaces:'), 30_000)
    assert.match(
      recv.out(),
      new RegExp(
        `^on interfaces: 127\\.0\\.0\\.1, ${ADDRESS.replace(/\./g, '\\.')} \\(d0, the default route\\)$`,
        'm',
      ),
    )
    const py = inNamespace('python3', ['-c', PY_SENDER])
    assert.equal(await exited(py.child), 0, py.out())
    assert.equal(await exited(recv.child), 0, recv.out())
    assert.match(recv.out(), /^Received from \('10\.67\.0\.2', \d+\): \{"sensor": "temp", "value": 23\.5\}$/m)
    assert.match(recv.out(), /^Received binary from \('10\.67\.0\.2', \d+\): 100 bytes$/m)
  })
})
