// Issue 14 item 11 with real HTTP servers on loopback (127.61.3.x, ports from the OS): a peer URL
// registered with a node answers 302 to another address; the node checks the URL it was given
// and does not follow the redirect, so the other address never sees a request (no request
// forgery by redirect), and the URL, which never answered as a peer, is dropped.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createNode } from '../../src/cluster/node-assembly.js'
import { membership, type Membership } from '../../src/protocols/membership/index.js'
import { postJson, waitFor } from '../helpers.js'

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      const a = server.address()
      resolve(typeof a === 'object' && a ? a.port : 0)
    })
  })
}

describe('peer URLs that redirect', () => {
  const node = createNode({
    name: 'node1',
    host: '127.61.3.1',
    httpPort: 0,
    framePort: 0,
    protocols: [membership({ verifyAttempts: 2, verifyRetryMs: 100, httpTimeoutMs: 3000 })],
  })
  const redirectorHits: string[] = []
  const targetHits: string[] = []
  let targetPort = 0
  // What the redirect points at: it would pass for a live seed-002 peer if anyone reached it.
  const target = createServer((req, res) => {
    targetHits.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"message":"Node 00000000-0000-0000-0000-000000000000 is running!"}')
  })
  const redirector = createServer((req, res) => {
    redirectorHits.push(req.url ?? '')
    res.writeHead(302, { location: `http://127.61.3.3:${targetPort}${req.url ?? '/'}` })
    res.end()
  })
  let redirectorUrl = ''

  before(async () => {
    await node.start()
    targetPort = await listen(target, '127.61.3.3')
    redirectorUrl = `http://127.61.3.2:${await listen(redirector, '127.61.3.2')}`
  })
  after(async () => {
    await node.stop()
    target.closeAllConnections()
    redirector.closeAllConnections()
    await new Promise<void>((r) => target.close(() => r()))
    await new Promise<void>((r) => redirector.close(() => r()))
  })

  test('a registered URL answering 302 is not followed, and is dropped', async () => {
    const mem = node.protocol<Membership>('membership')!
    const droppedBefore = mem.stats().registrationsDropped
    const r = await postJson(`${node.httpUrl}/register`, { url: redirectorUrl })
    assert.equal(r.status, 200)
    await waitFor(
      'the URL checked and dropped',
      () => mem.stats().registrationsDropped > droppedBefore,
      30_000,
    )
    assert.ok(redirectorHits.length >= 2, `the redirector was asked ${redirectorHits.length} times`)
    assert.deepEqual(targetHits, [], 'the redirect target was never called')
    assert.ok(!mem.peers().includes(redirectorUrl))
  })
})
