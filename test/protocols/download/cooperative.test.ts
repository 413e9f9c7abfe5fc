// Cooperating clients collect the whole text and SUBMIT it; losing a member or the master, or the
// whole run, loses no line.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CooperativeDownload,
  LineServer,
  parseSubmitReply,
  readJournal,
} from '../../../src/protocols/download/index.js'

const SERVER_HOST = '127.50.1.2'
const RATE = 2000

describe('cooperative download', { timeout: 180_000 }, () => {
  let server: LineServer
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'distlab-download-'))
    server = new LineServer({ host: SERVER_HOST, port: 0, ratePerSecond: RATE })
    await server.start()
  })
  after(async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('3 clients from 3 addresses collect all 1000 distinct lines and get SUBMIT SUCCESS', async () => {
    server.resetAll()
    const dl = new CooperativeDownload({
      server: server.address(),
      clients: 3,
      id: 'three@test',
      ratePerSecond: RATE,
      journalPath: join(dir, 'three.jsonl'),
    })
    const r = await dl.run()
    assert.equal(r.lines, 1000)
    assert.equal(r.submitted, true)
    const reply = parseSubmitReply(r.submitReply!)
    assert.deepEqual(
      { id: reply?.id, correct: reply?.correct, incorrect: reply?.incorrect, read: reply?.read },
      { id: 'three@test', correct: 1000, incorrect: 0, read: 1000 },
    )
    assert.equal(reply?.address, '127.50.0.1', 'the master (rank 0) submits from its own address')
    assert.deepEqual(
      r.text.map((t, n) => t === server.options.lines[n]),
      server.options.lines.map(() => true),
    )
    // Each client was a different address to the server, and each fetched lines.
    assert.deepEqual(
      r.perClient.map((c) => c.address),
      ['127.50.0.1', '127.50.0.2', '127.50.0.3'],
    )
    for (const c of r.perClient) assert.ok((server.session(c.address!)?.served ?? 0) > 0)
    assert.ok(r.requests >= 1000)
    assert.equal(r.duplicates, r.perClient.reduce((s, c) => s + c.served, 0) - 1000)
    assert.equal(existsSync(join(dir, 'three.jsonl')), false, 'the journal is removed after success')
  })

  test('the master crashing mid-run: another client takes over from the journal and nothing is lost', async () => {
    server.resetAll()
    const journalPath = join(dir, 'crash.jsonl')
    let crashed: { rank: number; lines: number; journal: number } | undefined
    const dl: CooperativeDownload = new CooperativeDownload({
      server: server.address(),
      clients: 3,
      id: 'crash@test',
      ratePerSecond: RATE,
      journalPath,
      removeJournalOnSuccess: false,
      onProgress: (p) => {
        if (!crashed && p.lines >= 300 && p.masterRank !== undefined) {
          const lines = dl.collectedLines()
          crashed = { rank: p.masterRank, lines, journal: readJournal(journalPath, 1000).size }
          dl.crash(p.masterRank)
        }
      },
    })
    const r = await dl.run()
    assert.ok(crashed, 'the master was crashed')
    assert.equal(crashed.journal, crashed.lines, 'every line the master held was in its journal')
    assert.equal(r.takeovers, 1)
    assert.equal(r.masters.length, 2)
    assert.equal(r.masters[0]!.rank, crashed.rank)
    assert.notEqual(r.masterRank, crashed.rank)
    assert.ok(
      r.masters[1]!.fromJournal >= crashed.lines,
      `the new master started from ${r.masters[1]!.fromJournal} journal lines, had ${crashed.lines}`,
    )
    assert.equal(r.perClient[crashed.rank]!.alive, false)
    assert.equal(r.lines, 1000)
    assert.equal(r.submitted, true)
    assert.equal(parseSubmitReply(r.submitReply!)?.correct, 1000)
  })

  test('a member crashing is not fatal', async () => {
    server.resetAll()
    let done = false
    const dl: CooperativeDownload = new CooperativeDownload({
      server: server.address(),
      clients: 3,
      ratePerSecond: RATE,
      onProgress: (p) => {
        if (!done && p.lines >= 200) {
          done = true
          dl.crash(2)
        }
      },
    })
    const r = await dl.run()
    assert.equal(r.perClient[2]!.alive, false)
    assert.equal(r.takeovers, 0)
    assert.equal(parseSubmitReply(r.submitReply!)?.correct, 1000)
  })

  test('a run that dies resumes from its journal when started again', async () => {
    server.resetAll()
    const journalPath = join(dir, 'resume.jsonl')
    const abort = new AbortController()
    const first = new CooperativeDownload({
      server: server.address(),
      clients: 2,
      ratePerSecond: RATE,
      journalPath,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.lines >= 400) abort.abort()
      },
    })
    await assert.rejects(first.run(), (err: { code?: string }) => err.code === 'ERR_DOWNLOAD')
    const kept = readJournal(journalPath, 1000)
    assert.ok(kept.size >= 400, `journal kept ${kept.size} lines`)
    for (const [n, text] of kept) assert.equal(text, server.options.lines[n])

    const second = new CooperativeDownload({
      server: server.address(),
      clients: 2,
      ratePerSecond: RATE,
      journalPath,
    })
    const r = await second.run()
    assert.equal(r.resumed, kept.size)
    assert.equal(r.masters[0]!.fromJournal, kept.size)
    assert.equal(r.lines, 1000)
    assert.equal(parseSubmitReply(r.submitReply!)?.correct, 1000)
  })
})
