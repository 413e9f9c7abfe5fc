// `distlab check seed001` against a student's anycast server and client and multicast sender and
// receiver written here in Python: the correct ones pass every item; a sender whose reading's value
// is a string and a receiver that never leaves the group fail exactly their own items. The servers
// run on 127.24.2.x:5001 (this suite's block; seed002's test uses :5000); multicast runs in a
// network namespace the check makes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { runCli } from '../helpers.js'

const DIR = fileURLToPath(new URL('../../../test/check/programs/seed001/', import.meta.url))
const SERVER = 'python3 server.py --host {host} --port {port}'
const CLIENT = 'python3 client.py --servers {peers}'

interface Report {
  items: Array<{ id: string; required: boolean; passed: boolean; evidence: string[] }>
  ok: boolean
}

async function check(sender: string, receiver: string) {
  const r = await runCli(
    [
      'check',
      'seed001',
      '--json',
      '--block',
      '24',
      '--port',
      '5001',
      '--cwd',
      DIR,
      '--server',
      SERVER,
      '--client',
      CLIENT,
      '--sender',
      `python3 ${sender}`,
      '--receiver',
      `python3 ${receiver}`,
    ],
    { timeoutMs: 180_000 },
  )
  return { code: r.code, report: JSON.parse(r.stdout) as Report, raw: r.stdout + r.stderr }
}

test('a correct anycast server and client and multicast sender and receiver pass every seed001 item', async () => {
  const r = await check('multicast_sender.py', 'multicast_receiver.py')
  assert.equal(r.code, 0, r.raw)
  assert.deepEqual(
    r.report.items.map((i) => [i.id, i.passed]),
    [
      ['anycast-hello', true],
      ['anycast-client', true],
      ['anycast-failover', true],
      ['multicast-sender', true],
      ['multicast-receiver', true],
    ],
  )
  const ev = (id: string) => r.report.items.find((i) => i.id === id)!.evidence.join('\n')
  assert.match(ev('anycast-client'), /client\| Received: Hello from server/)
  assert.match(ev('anycast-failover'), /30\/30 requests answered/)
  assert.match(ev('multicast-receiver'), /receiver2\| Leaving multicast group/)
})

test('a sender with "value": "23.5" and a receiver that never leaves fail their own items (exit 1)', async () => {
  const r = await check('multicast_sender_broken.py', 'multicast_receiver_broken.py')
  assert.equal(r.code, 1, r.raw)
  assert.deepEqual(
    r.report.items.filter((i) => !i.passed).map((i) => i.id),
    ['multicast-sender', 'multicast-receiver'],
  )
  const ev = (id: string) => r.report.items.find((i) => i.id === id)!.evidence.join('\n')
  assert.match(ev('multicast-sender'), /no JSON datagram equal to \{"sensor": "temp", "value": 23\.5\}/)
  assert.match(ev('multicast-sender'), /"value":"23\.5"/)
  assert.match(ev('multicast-receiver'), /did not print "Leaving multicast group"/)
})
