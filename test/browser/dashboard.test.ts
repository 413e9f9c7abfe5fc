// The dashboard in a real browser (Debian's chromium through playwright-core; never a downloaded
// browser) against a live cluster: five nodes shown, a broadcast sent from the page shows in the
// flows and the counters, a node killed from the page is marked down, the counters' tables fit at
// 1400 px, and screenshots (1400x900, 1920x1080, full page, past runs) are kept in test-artifacts/.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { ARTIFACTS, launchBrowser } from './browser.js'
import { LocalCluster } from '../../src/cluster/local.js'
import { readDashboardRecord } from '../../src/monitor/dashboard-record.js'
import { scratchDir } from '../helpers.js'

// These run inside the page; the test is compiled without the DOM library.
interface PageElement {
  textContent: string | null
  dataset: Record<string, string | undefined>
}
declare const document: {
  querySelector(sel: string): PageElement | null
  querySelectorAll(sel: string): { length: number }
}
declare const window: { __distlab: { flows: Record<string, number> } }

const dir = scratchDir('distlab-browser-')
let cluster: LocalCluster
let context: BrowserContext
let page: Page
let url = ''

before(async () => {
  process.env.DISTLAB_RUNS_DIR = join(dir, 'runs')
  cluster = new LocalCluster({
    nodes: 4,
    mode: 'inproc',
    stateDir: join(dir, 'state'),
    block: 70,
    dashboardPort: 0,
  })
  await cluster.start()
  delete process.env.DISTLAB_RUNS_DIR
  url = readDashboardRecord(join(dir, 'state'))!.url
  ;({ context, page } = await launchBrowser(join(dir, 'profile')))
})

after(async () => {
  await context?.close().catch(() => {})
  await cluster?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('dashboard in chromium', () => {
  test('shows the five nodes of the cluster, live', async () => {
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url)
    await page.waitForFunction(() => document.querySelectorAll('#topo [data-node]').length === 5)
    const names = await page.$$eval('#topo [data-node]', (els) => els.map((e) => e.getAttribute('data-node')))
    assert.deepEqual(names, ['master', 'node1', 'node2', 'node3', 'node4'])
    await page.waitForSelector('#conn.good')
    assert.deepEqual(errors, [])
  })

  test('a broadcast sent from the page appears in the flows and the counters', async () => {
    const broadcastOn = await page.$eval(
      '#send-kind option[value="broadcast"]',
      (o) => !(o as unknown as PageElement).dataset.reason,
    )
    // The broadcast protocol is part of every node; were it missing, the page says why and a ping stands in.
    const kind = broadcastOn ? 'broadcast' : 'ping'
    await page.selectOption('#send-kind', kind)
    await page.selectOption('#send-from', 'node1')
    if (kind === 'ping') await page.selectOption('#send-to', 'node2')
    await page.fill('#send-text', 'hello from the browser test')
    await page.click('#send-btn')
    await page.waitForSelector('#toasts .toast:not(.err)')
    await page.waitForFunction((k) => {
      const flows = (window as unknown as { __distlab: { flows: Record<string, number> } }).__distlab.flows
      return (flows[k] ?? 0) > 0
    }, kind)
    await page.waitForFunction(
      (k) =>
        Number(
          document
            .querySelector(`#proto-table tr[data-proto="${k}"] td[data-k="sent"]`)
            ?.textContent?.replace(/,/g, '') ?? 0,
        ) > 0,
      kind,
    )
    await page.waitForSelector(`#seq g.msg[data-proto="${kind}"]`)
    await page.waitForSelector(`#legend button[data-proto="${kind}"]`)
  })

  test("background traffic hides and shows in one click, and the rate badge is the chart's last second", async () => {
    interface Point {
      t: number
      sent: Record<string, number>
      background?: Record<string, number>
    }
    interface Seen {
      badge: { t: number; value: number; text: string }
      last: Point | undefined
      rate: { t: number; value: number; series: Record<string, number> }
      shownProtos: string[]
      shownTypes: string[]
    }
    const look = () =>
      page.evaluate((): Seen => {
        const S = (
          window as unknown as {
            __distlab: {
              history: Point[]
              rate: Seen['rate']
              seqShown?: Array<{ proto: string; type?: string }>
            }
          }
        ).__distlab
        const badge = document.querySelector('#rate')!
        return {
          badge: {
            t: Number(badge.dataset.t),
            value: Number(badge.dataset.value),
            text: badge.textContent ?? '',
          },
          last: S.history[S.history.length - 1],
          rate: S.rate,
          shownProtos: [...new Set((S.seqShown ?? []).map((m) => m.proto))],
          shownTypes: [...new Set((S.seqShown ?? []).map((m) => m.type ?? ''))],
        }
      })
    const BG_PROTOS = ['heartbeat', 'membership']
    const sum = (p: Point, withBackground: boolean) =>
      Object.entries(p.sent).reduce(
        (acc, [proto, n]) =>
          acc + (withBackground ? n : BG_PROTOS.includes(proto) ? 0 : n - (p.background?.[proto] ?? 0)),
        0,
      )
    const toggle = '#bg-toggle'
    // Hidden at first, and the button says so.
    assert.equal(await page.getAttribute(toggle, 'aria-pressed'), 'false')
    assert.match((await page.textContent(toggle)) ?? '', /background: hidden/)
    await page.waitForFunction(
      () => (window as unknown as { __distlab: { history: unknown[] } }).__distlab.history.length >= 2,
    )
    let seen = await look()
    assert.ok(seen.last, 'a second of history')
    assert.equal(seen.badge.t, seen.last.t, 'the badge counts the chart’s last second')
    assert.equal(seen.badge.value, sum(seen.last, false), JSON.stringify(seen))
    assert.equal(seen.badge.text, `${seen.badge.value.toLocaleString('en-US')} msg/s`)
    for (const p of BG_PROTOS) {
      assert.ok(!(p in seen.rate.series), `${p} is not on the chart while hidden`)
      assert.ok(!seen.shownProtos.includes(p), `${p} is not on the sequence diagram while hidden`)
    }
    assert.ok(!seen.shownTypes.includes('digest'))
    assert.equal(await page.locator('#seq g.msg[data-proto="heartbeat"]').count(), 0)

    // One click shows it: heartbeats (every node, every second) reach the diagram, the chart and the badge.
    await page.click(toggle)
    assert.equal(await page.getAttribute(toggle, 'aria-pressed'), 'true')
    assert.match((await page.textContent(toggle)) ?? '', /background: shown/)
    await page.waitForSelector('#seq g.msg[data-proto="heartbeat"]', { timeout: 30_000 })
    await page.waitForFunction(
      () =>
        'heartbeat' in
        (window as unknown as { __distlab: { rate: { series: object } } }).__distlab.rate.series,
      undefined,
      { timeout: 30_000 },
    )
    seen = await look()
    assert.equal(seen.badge.t, seen.last!.t)
    assert.equal(seen.badge.value, sum(seen.last!, true), JSON.stringify(seen))

    // And one click hides it again.
    await page.click(toggle)
    assert.equal(await page.getAttribute(toggle, 'aria-pressed'), 'false')
    assert.equal(await page.locator('#seq g.msg[data-proto="heartbeat"]').count(), 0)
    seen = await look()
    assert.equal(seen.badge.value, sum(seen.last!, false), JSON.stringify(seen))
  })

  test('killing a node from the page marks it down', async () => {
    await page.selectOption('#node-target', 'node4')
    await page.click('#kill-btn')
    await page.waitForSelector('#topo [data-node="node4"][data-up="false"]', { timeout: 30_000 })
    const state = await page.textContent('#node-table tr[data-node="node4"] td[data-k="state"]')
    assert.match(state ?? '', /^down/)
    // The others are still up.
    const up = await page.$$eval('#topo [data-up="true"]', (els) =>
      els.map((e) => e.getAttribute('data-node')),
    )
    assert.deepEqual(up, ['master', 'node1', 'node2', 'node3'])
  })

  test('at 1400 px the per-protocol and per-node tables fit without a horizontal scrollbar', async () => {
    await page.setViewportSize({ width: 1400, height: 900 })
    await page.waitForSelector('#node-table tbody tr[data-node]')
    // Wait for a layout pass at the new size, then measure every box the tables live in.
    const overflow = await page.waitForFunction(() => {
      const d = document as unknown as {
        documentElement: { scrollWidth: number; clientWidth: number }
        querySelectorAll(
          s: string,
        ): ArrayLike<{ id: string; className: string; scrollWidth: number; clientWidth: number }>
      }
      const boxes = Array.from(d.querySelectorAll('.counters-card, #proto-table, #node-table'))
      const wide = boxes.filter((b) => b.scrollWidth > b.clientWidth + 1).map((b) => b.id || b.className)
      if (d.documentElement.scrollWidth > d.documentElement.clientWidth) wide.push('page')
      return JSON.stringify(wide)
    })
    assert.deepEqual(JSON.parse(await overflow.jsonValue()), [])
  })

  test('Lamport numbers and row labels on the sequence diagram do not overlap', async () => {
    await page.setViewportSize({ width: 1400, height: 900 })
    await page.waitForSelector('#seq g.msg text')
    const overlaps = await page.$$eval('#seq g.msg text', (els) => {
      type Box = { x: number; y: number; width: number; height: number }
      const boxes = els.map((e) => ({
        text: e.textContent,
        b: (e as unknown as { getBBox(): Box }).getBBox(),
      }))
      const out: string[] = []
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i]!.b
          const c = boxes[j]!.b
          if (a.x < c.x + c.width && c.x < a.x + a.width && a.y < c.y + c.height && c.y < a.y + a.height)
            out.push(`${boxes[i]!.text} / ${boxes[j]!.text}`)
        }
      return out
    })
    assert.deepEqual(overlaps, [])
  })

  test('screenshots at 1400x900 and 1920x1080 are saved in test-artifacts/', async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    for (const [width, height] of [
      [1400, 900],
      [1920, 1080],
    ] as const) {
      await page.setViewportSize({ width, height })
      await page.waitForSelector('#node-table tbody tr[data-node]')
      const file = join(ARTIFACTS, `dashboard-${width}x${height}.png`)
      await page.screenshot({ path: file })
      assert.ok(statSync(file).size > 10_000, file)
    }
    await page.setViewportSize({ width: 1600, height: 1000 })
  })

  test('a screenshot is saved as a test artifact', async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    const file = join(ARTIFACTS, 'dashboard.png')
    await page.screenshot({ path: file, fullPage: true })
    assert.ok(statSync(file).size > 10_000)
    await page.goto(`${url}/#/runs`)
    await page.waitForSelector('#runs-table tbody tr[data-run]')
    const runId = await page.getAttribute('#runs-table tbody tr[data-run]', 'data-run')
    // The run is still recording: compare the table with the very report the page was given.
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/runs/${encodeURIComponent(runId!)}`)),
      page.click('#runs-table tbody tr[data-run]'),
    ])
    const report = (
      (await answer.json()) as { report: { protocols: Record<string, { uniqueMessages: number }> } }
    ).report
    await page.waitForSelector('#run-protocols tbody tr')
    // The past run's protocol table shows what `analyze` reports, unique messages beside delivery.
    const head = await page.$$eval('#run-protocols thead th', (ths) => ths.map((t) => t.textContent!.trim()))
    const rows = await page.$$eval('#run-protocols tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())),
    )
    assert.equal(rows.length, Object.keys(report.protocols).length)
    for (const row of rows) {
      const p = report.protocols[row[0]!]
      assert.ok(p, `row ${row[0]} is a protocol of the run`)
      assert.equal(row[head.indexOf('unique')]!.replace(/,/g, ''), String(p.uniqueMessages), row[0])
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-runs.png'), fullPage: true })
  })
})
