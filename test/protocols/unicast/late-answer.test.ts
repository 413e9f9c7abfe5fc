// A send that waits longer than the server's idle bound still gets its answer: POST /unicast with
// timeoutMs 100 s over a link that drops everything for the idle bound and 5 s more, then heals.
// The node's HTTP server closes connections with no traffic for 60 s (node/http-limits.ts); before
// the route kept its connection open for the wait, the caller (`distlab send unicast --timeout
// 120000` on a loaded machine) saw "the connection was closed before an answer" although the
// message was delivered. The servers here run with a 5 s idle bound ($DISTLAB_HTTP_IDLE_TIMEOUT_MS,
// read when a server is made): the same outwaiting, in 10 s instead of 65.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { LocalCluster } from '../../../src/cluster/local.js'
import { postFresh, runCli, scratchDir } from '../../helpers.js'

/** The servers' idle bound in this file, ms (inproc: the nodes' servers are made in this process). */
const IDLE_MS = 5_000
process.env.DISTLAB_HTTP_IDLE_TIMEOUT_MS = String(IDLE_MS)

const dir = scratchDir('distlab-late-answer-')
const stateDir = join(dir, 'state')
const cluster = new LocalCluster({ nodes: 2, mode: 'inproc', stateDir, block: 75, dashboardPort: 0 })
after(() => cluster.stop())

test('POST /unicast answers after a wait longer than the idle bound', { timeout: 120_000 }, async () => {
  await cluster.start()
  const state = ['--state-dir', stateDir]
  const cut = await runCli(['link', 'set', 'node1', 'node2', '--loss', '1', ...state])
  assert.equal(cut.code, 0, cut.stderr)
  const node1 = cluster.nodeObjects()[1]!.self()
  const t0 = Date.now()
  const answer = postFresh(`http://${node1.host}:${node1.httpPort}/unicast`, {
    to: 'node2',
    msg: 'late but delivered',
    timeoutMs: 100_000,
  })
  // The heal comes after the server's idle bound has passed with nothing on the connection.
  await new Promise((r) => setTimeout(r, IDLE_MS + 5_000))
  const heal = await runCli(['link', 'clear', 'node1', 'node2', ...state])
  assert.equal(heal.code, 0, heal.stderr)
  const r = await answer
  assert.equal(r.status, 200, r.text)
  assert.ok(Date.now() - t0 > IDLE_MS, 'the answer came after the idle bound')
  assert.match(r.text, /"delivered":true/)
  assert.match(r.text, /"to":"node2"/)
})
