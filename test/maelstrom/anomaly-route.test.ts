// The dashboard's anomaly route on a real invalid Maelstrom run: a broadcast node that forgets to
// gossip, run by the runtime into a runs folder, then served by a master's dashboard.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { MasterExtras } from '../../src/monitor/master-extras.js'
import type { AnomalyView } from '../../src/monitor/anomaly-route.js'
import type { MaelstromResults } from '../../src/maelstrom/run.js'
import { getJson, scratchDir } from '../helpers.js'
import { py, shortRun } from './helpers.js'

const dir = scratchDir('distlab-anomaly-route-')
const runsDir = join(dir, 'runs')
let master: Node
let extras: MasterExtras
let r: MaelstromResults

before(async () => {
  r = await shortRun({ workload: 'broadcast', bin: py('broadcast_nogossip.py'), runsDir, block: 64 })
  master = createNode({ name: 'master', host: '127.64.9.1', httpPort: 0, framePort: 0 })
  await master.start()
  extras = new MasterExtras(master, { runsDir, dashboardPort: 0, stateDir: join(dir, 'state') })
  await extras.start()
})

after(async () => {
  await extras?.stop()
  await master?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('anomalies route: an invalid broadcast run shows its lost values and the frames that carried them', async () => {
  assert.equal(r.valid, false, r.summary)
  assert.ok(r.run.id, 'the run went into the run store')
  const res = await getJson<AnomalyView>(`${extras.dashboard.url}/api/runs/${r.run.id}/anomalies`)
  assert.equal(res.status, 200)
  const m = res.body.maelstrom
  assert.ok(m, 'the run file holds the Maelstrom verdict')
  assert.equal(m.workload, 'broadcast')
  assert.equal(m.valid, false)
  const lost = m.anomalies['lost'] as Array<{ element: unknown }> | undefined
  assert.ok(lost && lost.length > 0, `lost values reported: ${m.summary}`)
  // Each offending operation's request frame has its path: sent by the client's node, received
  // by the node program's host.
  const frames = Object.values(m.opFrames)
  assert.ok(frames.length > 0, 'frames of offending operations')
  for (const f of frames.slice(0, 5)) {
    const hops = res.body.frames[f.request]
    assert.ok(hops && hops.length > 0, `frame ${f.request} has telemetry`)
    assert.ok(hops.some((h) => h.kind === 'send'))
    assert.ok(hops.some((h) => h.kind === 'recv' || h.kind === 'deliver'))
  }
  assert.equal((await getJson(`${extras.dashboard.url}/api/runs/nope/anomalies`)).status, 404)
  assert.equal((await getJson(`${extras.dashboard.url}/api/runs/a%20b/anomalies`)).status, 400)
})
