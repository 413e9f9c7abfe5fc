// A download master's journal at full speed, for the kill test: batches of lines written through
// DownloadJournal (one write + one fsync per batch), and after each batch `ack <n>` on stdout, where
// n is the last line number the journal acknowledged. Bounded: stops after `max` lines or 60 s.
// Usage: node journal-writer.js <journal> <first line number> <max lines>
import { DownloadJournal } from '../../../src/protocols/download/journal.js'
import { journalText } from './journal-text.js'

const [path, firstArg, maxArg] = process.argv.slice(2)
const first = Number(firstArg)
const max = Number(maxArg)
const BATCH = 64
const journal = new DownloadJournal(path!)
const deadline = Date.now() + 60_000
let n = first
while (n < first + max && Date.now() < deadline) {
  for (let i = 0; i < BATCH; i++, n++) journal.add(n, journalText(n))
  journal.flush()
  process.stdout.write(`ack ${n - 1}\n`)
}
journal.close()
