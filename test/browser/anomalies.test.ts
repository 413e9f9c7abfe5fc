// The past-run view's Failure panel in a real browser (Debian's chromium through playwright-core):
// two invalid Maelstrom runs made by real node programs (a broadcast node that never gossips, a
// lin-kv node answering reads from a stale replica), served by a real master's dashboard, opened
// in the past-run view. The panel names the anomaly and draws the offending operations, and shows a
// rewritten run file's markup as text. Screenshots go to test-artifacts/.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { ARTIFACTS, launchBrowser } from './browser.js'
import Database from 'better-sqlite3'
import type { Node } from '../../src/node/node.js'
import { createNode } from '../../src/cluster/node-assembly.js'
import { MasterExtras } from '../../src/monitor/master-extras.js'
import type { MaelstromResults } from '../../src/maelstrom/run.js'
import { scratchDir } from '../helpers.js'
import { py, shortRun } from '../maelstrom/helpers.js'

/** The loopback block of this file: 127.77.0.0/16. */
const BLOCK = 77
const dir = scratchDir('distlab-browser-anomalies-')
const runsDir = join(dir, 'runs')
let master: Node
let extras: MasterExtras
let context: BrowserContext
let page: Page
let broadcast: MaelstromResults
let linKv: MaelstromResults

declare const window: unknown
declare const document: { querySelector(sel: string): { textContent: string | null } | null }

interface OpRef {
  index: number
  f: string
  type: string
  value: unknown
}

before(async () => {
  // What is tested here is the page, so each run is made again (at most three times) when it did
  // not come out invalid: on a loaded machine lin-kv RPCs can time out, and a history whose writes
  // are indeterminate may be explained without the stale reads.
  broadcast = await invalidRun(() =>
    shortRun({ workload: 'broadcast', bin: py('broadcast_nogossip.py'), runsDir, block: BLOCK }),
  )
  linKv = await invalidRun(() =>
    shortRun({
      workload: 'lin-kv',
      bin: py('lin_kv_stale.py'),
      rate: 40,
      keyCount: 1,
      timeLimitS: 4,
      runsDir,
      block: BLOCK,
    }),
  )
  master = createNode({ name: 'master', host: `127.${BLOCK}.200.1`, httpPort: 0, framePort: 0 })
  await master.start()
  extras = new MasterExtras(master, { runsDir, dashboardPort: 0, stateDir: join(dir, 'state') })
  await extras.start()
  ;({ context, page } = await launchBrowser(join(dir, 'profile')))
})

after(async () => {
  await context?.close().catch(() => {})
  await extras?.stop()
  await master?.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function invalidRun(make: () => Promise<MaelstromResults>): Promise<MaelstromResults> {
  let r = await make()
  for (let attempt = 2; attempt <= 3 && r.valid !== false; attempt++) {
    console.log(`# run ${r.run.id} came out ${String(r.valid)} (${r.summary}); making it again`)
    r = await make()
  }
  return r
}

async function openRun(id: string): Promise<void> {
  await page.goto(`${extras.dashboard.url}/#/runs`)
  await page.waitForSelector(`#runs-table tbody tr[data-run="${id}"]`)
  await page.click(`#runs-table tbody tr[data-run="${id}"]`)
  await page.waitForSelector('#run-failure:not([hidden]) h2')
}

/** A lin-kv op as the page labels it (its value is [key, v], a cas's v is [from, to]). */
function label(op: OpRef): string {
  const v = (op.value as unknown[])[1]
  if (op.f === 'write') return `w ${JSON.stringify(v)}`
  if (op.f === 'read') return `r ${op.type === 'ok' ? JSON.stringify(v) : '?'}`
  const [from, to] = v as [unknown, unknown]
  return `cas ${JSON.stringify(from)}->${JSON.stringify(to)}`
}

describe('the past-run view draws an invalid Maelstrom run', () => {
  test('broadcast that forgets to gossip: the lost values, their request frames path, the nodes lacking them', async () => {
    assert.equal(broadcast.valid, false, broadcast.summary)
    const lost = broadcast.workloadResult.anomalies['lost'] as Array<{
      element: unknown
      'missing-on': string[]
    }>
    assert.ok(lost && lost.length > 0, broadcast.summary)
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await openRun(broadcast.run.id!)
    const verdict = await page.textContent('#run-failure .verdict')
    assert.match(verdict ?? '', /broadcast: invalid/)
    assert.match((await page.textContent('#run-failure .anomaly-kinds')) ?? '', /lost: \d+ example/)
    const shown = await page.$$eval('#run-failure .lost', (els) =>
      els.map((e) => e.getAttribute('data-element')),
    )
    for (const ex of lost.slice(0, 8))
      assert.ok(shown.includes(JSON.stringify(ex.element)), `value ${ex.element}`)
    // The first lost value: which nodes' final reads lacked it, and its request frame's path drawn
    // (a send joined to a receive at another node, outlined as offending).
    const first = `#run-failure .lost[data-element="${JSON.stringify(lost[0]!.element)}"]`
    const missing = (await page.textContent(`${first} .missing-on`)) ?? ''
    for (const n of lost[0]!['missing-on']) assert.ok(missing.includes(n), `${n} in "${missing}"`)
    assert.match((await page.textContent(`${first} [data-frame]`)) ?? '', /request frame .*send/)
    assert.ok((await page.$$(`${first} svg .hop.offending`)).length > 0, 'the request frame path is drawn')
    assert.ok((await page.$$(`${first} svg .mark[data-kind="send"]`)).length > 0)
    assert.ok(
      (await page.$$(`${first} svg .mark[data-kind="recv"], ${first} svg .mark[data-kind="deliver"]`))
        .length > 0,
    )
    assert.deepEqual(errors, [])
    mkdirSync(ARTIFACTS, { recursive: true })
    const file = join(ARTIFACTS, 'dashboard-failure-broadcast.png')
    await page.screenshot({ path: file, fullPage: true })
    assert.ok(statSync(file).size > 10_000)
    await page.locator(first).screenshot({ path: join(ARTIFACTS, 'dashboard-failure-broadcast-path.png') })
  })

  test('lin-kv reading a stale replica: the non-linearizable history as a timeline, its operations labelled', async () => {
    assert.equal(linKv.valid, false, linKv.summary)
    const witnesses = linKv.workloadResult.anomalies['nonlinearizable'] as Array<{
      key: unknown
      ops: OpRef[]
    }>
    assert.ok(witnesses && witnesses.length > 0)
    await openRun(linKv.run.id!)
    assert.match((await page.textContent('#run-failure .verdict')) ?? '', /lin-kv: invalid/)
    assert.match(
      (await page.textContent('#run-failure .anomaly-kinds')) ?? '',
      /nonlinearizable: \d+ example/,
    )
    const w = witnesses[0]!
    const tl = `#run-failure .timeline[data-key="${JSON.stringify(w.key)}"]`
    await page.waitForSelector(tl)
    const bars = await page.$$eval(`${tl} g.op.witness`, (els) =>
      els.map((e) => [e.getAttribute('data-op'), e.getAttribute('data-label'), e.textContent]),
    )
    assert.equal(bars.length, Math.min(w.ops.length, 60))
    for (const op of w.ops.slice(0, 60)) {
      const bar = bars.find((b) => b[0] === String(op.index))
      assert.ok(bar, `op ${op.index} drawn`)
      assert.equal(bar[1], label(op))
      assert.ok(bar[2]?.startsWith(label(op)), `bar text ${bar[2]}`)
    }
    // One lane per client process, and the search's blocked operations marked.
    const lanes = new Set(w.ops.map((o) => (o as unknown as { process: number }).process))
    assert.equal((await page.$$(`${tl} svg text.lane-name`)).length, lanes.size)
    assert.ok(
      (await page.$$(`${tl} g.op.blocked`)).length > 0,
      'the operations that cannot be placed are highlighted',
    )
    const file = join(ARTIFACTS, 'dashboard-failure-lin-kv.png')
    await page.screenshot({ path: file, fullPage: true })
    assert.ok(statSync(file).size > 10_000)
  })

  test('hostile strings in a run file are shown as text, never as markup', async () => {
    // A run file is whatever was left on disk: rewrite the lin-kv run's verdict with markup in
    // every field the panel shows.
    const file = linKv.run.file!
    const db = new Database(file)
    const row = db.prepare("SELECT value FROM meta WHERE key = 'maelstrom'").get() as { value: string }
    const meta = JSON.parse(row.value) as { anomalies: Record<string, unknown[]>; summary: string }
    const evil = '<img src=x onerror="window.__pwned=1">'
    meta.summary = `${evil} summary`
    meta.anomalies[evil] = ['<script>window.__pwned=2</script>']
    meta.anomalies['lost'] = [{ element: '<b>v</b>', 'missing-on': ['<i>n1</i>'], add: 'not an op' }]
    db.prepare("UPDATE meta SET value = ? WHERE key = 'maelstrom'").run(JSON.stringify(meta))
    db.close()
    await openRun(linKv.run.id!)
    await page.waitForSelector('#run-failure .lost')
    const text = (await page.textContent('#run-failure')) ?? ''
    assert.ok(text.includes(evil), 'the anomaly name shown as text')
    assert.ok(text.includes('<script>window.__pwned=2</script>'))
    assert.ok(text.includes('final read lacked it on: <i>n1</i>'), text)
    assert.ok(text.includes('value <b>v</b> lost'))
    assert.equal(
      (await page.$$('#run-failure img, #run-failure script, #run-failure b, #run-failure i')).length,
      0,
    )
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined)
  })

  test('a valid or non-Maelstrom run shows no Failure panel', async () => {
    await page.goto(`${extras.dashboard.url}/#/runs`)
    const other = await page.$$eval('#runs-table tbody tr[data-run]', (els) =>
      els.map((e) => e.getAttribute('data-run')),
    )
    const plain = other.find((id) => id !== broadcast.run.id && id !== linKv.run.id)
    // The master's own run (its telemetry since it started) is not a Maelstrom run.
    assert.ok(plain, `a run besides the two Maelstrom runs: ${other.join(', ')}`)
    await page.click(`#runs-table tbody tr[data-run="${plain}"]`)
    await page.waitForFunction(
      (id) => (document.querySelector('#run-title')?.textContent ?? '').includes(id),
      plain,
    )
    assert.equal(await page.$eval('#run-failure', (e) => (e as unknown as { hidden: boolean }).hidden), true)
  })
})
