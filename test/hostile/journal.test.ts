// Issue 14, item 16 (part): a journal whose last line was torn by a crash mid-write keeps every
// complete line, and the next master's appends are not glued onto the fragment.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readJournal, repairJournalTail } from '../../src/protocols/download/journal.js'
import { scratchDir } from '../helpers.js'

const dir = scratchDir('distlab-journal-')
after(() => rmSync(dir, { recursive: true, force: true }))

test('a torn tail is cut before the next master appends: no complete line and no new line is lost', () => {
  const path = join(dir, 'journal.jsonl')
  writeFileSync(path, '[0,"zero"]\n[1,"one"]\n[2,"tw')
  repairJournalTail(path)
  appendFileSync(path, '[3,"three"]\n[4,"four"]\n')
  const lines = readJournal(path, 10)
  assert.deepEqual([...lines.keys()].sort(), [0, 1, 3, 4])
  assert.equal(lines.get(3), 'three')
  repairJournalTail(path) // a sound journal is left alone
  assert.equal(readJournal(path, 10).size, 4)
})
