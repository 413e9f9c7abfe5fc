// NodeClient's plain-HTTP calls (src/client/http-exchange.ts): one kept-alive connection serves
// call after call, and a connection the server closed while idle is replaced without the caller
// seeing an error. A real server on a loopback port the OS chooses.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { NodeClient } from '../../src/client/node-client.js'

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const a = server.address()
  assert.ok(a && typeof a === 'object')
  return `http://127.0.0.1:${a.port}`
}

describe('NodeClient over node:http', () => {
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ method: req.method, body: body ? (JSON.parse(body) as unknown) : null }))
    })
  })
  let connections = 0
  server.on('connection', (s: Socket) => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  let url = ''
  before(async () => {
    url = await listen(server)
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  test('calls in a row share one kept-alive connection', async () => {
    const client = new NodeClient({ url })
    connections = 0
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await client.post('/x', { i }), { method: 'POST', body: { i } })
    assert.equal(connections, 1)
  })

  test('a kept-alive connection the server closed is replaced, not an error', async () => {
    const client = new NodeClient({ url })
    assert.deepEqual(await client.get('/a'), { method: 'GET', body: null })
    // The server drops its idle connections (as one does after its keep-alive timeout).
    for (const s of sockets) s.destroy()
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(await client.post('/b', { after: 'close' }), {
      method: 'POST',
      body: { after: 'close' },
    })
  })
})
