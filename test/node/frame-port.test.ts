// A node given framePort 0 takes an OS-chosen UDP port and binds TCP on the same number. UDP and
// TCP ports are separate spaces, so another program may already hold that number for TCP; the
// node must then move both to a fresh number instead of failing to start. Forced here in a network
// namespace of the test's own whose ephemeral range is two ports, one held for TCP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { binPath } from '../helpers.js'

const nodeModule = join(binPath(), '..', '..', 'dist', 'src', 'node', 'node.js')

const script = `
import { writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
const { Node } = await import(${JSON.stringify(nodeModule)})
execFileSync('ip', ['link', 'set', 'lo', 'up'])
writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', '40000 40001')
const held = createServer()
await new Promise((r) => held.listen(40000, '127.0.0.1', r))
const ports = []
for (let i = 0; i < 10; i++) {
  const n = new Node({ name: 'n' + i, host: '127.0.0.1', httpPort: 5000, framePort: 0 })
  try {
    await n.start()
    // start() resolves only once TCP is bound too, on UDP's number.
    ports.push(n.self().framePort)
  } catch (err) {
    ports.push('failed: ' + err.message)
  }
  await n.stop()
}
held.close()
console.log(JSON.stringify(ports))
`

test('framePort 0: a TCP port already taken moves the node to a fresh number, both transports', async () => {
  const child = spawn('unshare', ['-n', '--', process.execPath, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((r) => child.on('close', r))
  assert.equal(code, 0, err)
  const ports = JSON.parse(out.trim().split('\n').pop()!) as unknown[]
  // With 40000 held for TCP, every node that started sits on 40001; without the retry about half
  // of them would fail with "already in use".
  assert.deepEqual(ports, Array(10).fill(40001))
})
