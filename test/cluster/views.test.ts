// The last step of a launcher's start (cluster/views.ts): every node is asked to copy the master's
// member list until each knows the whole cluster. A node that does not answer holds up no other,
// and the step ends when its time is up, naming the nodes that still did not know everyone.
// Loopback block 46 (127.46.x.y): hand-made nodes that answer POST /members/refresh.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { completeViews } from '../../src/cluster/views.js'

/** A stand-in node at 127.46.0.`i`:5000 that answers each refresh with `members`, after `delayMs`. */
async function fakeNode(
  i: number,
  members: (asked: number) => number,
  delayMs = 0,
): Promise<{ url: string; server: Server; asked: () => number }> {
  let asked = 0
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/members/refresh') return void res.writeHead(404).end()
    asked++
    const t = setTimeout(
      () =>
        res.setHeader('content-type', 'application/json').end(JSON.stringify({ members: members(asked) })),
      delayMs,
    )
    res.on('close', () => clearTimeout(t))
  })
  await new Promise<void>((r) => server.listen(5000, `127.46.0.${i}`, r))
  return { url: `http://127.46.0.${i}:5000`, server, asked: () => asked }
}

test('a node that never answers holds up no other, and the step ends on time naming it', async () => {
  const nodes = 12
  // Each node knows the whole cluster from its second refresh on; node 12 never answers in time.
  const fakes = await Promise.all(
    Array.from({ length: nodes }, (_, i) =>
      fakeNode(i + 1, (asked) => (asked > 1 ? nodes : nodes - 1), i === nodes - 1 ? 60_000 : 0),
    ),
  )
  try {
    const t0 = Date.now()
    const short = await completeViews(
      fakes.map((f, i) => ({ name: `node${i + 1}`, url: f.url })),
      { timeoutMs: 3000 },
    )
    const took = Date.now() - t0
    assert.deepEqual(short, [`node${nodes}`])
    // Each ask used to wait up to 5 s whatever time was left; now none outlives the step's 3 s.
    assert.ok(took < 5000, `the step took ${took} ms for a 3 s limit`)
    for (const f of fakes.slice(0, -1))
      assert.equal(f.asked(), 2, 'every other node asked again, and then known complete')
  } finally {
    for (const f of fakes) f.server.closeAllConnections()
    await Promise.all(fakes.map((f) => new Promise((r) => f.server.close(r))))
  }
})
