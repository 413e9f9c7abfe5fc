// Issue 14, item 15: log forging. A `\n` (or any control character) in what a peer sends — the
// `msg` and `sender` of POST /message — is escaped in the node's log, so one request writes one log
// line, and the scenario runner's log parser does not count a line forged inside a message. A real
// cluster of processes (master + node1 on 127.62.x.x), its real log files.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { LocalCluster } from '../../src/cluster/local.js'
import { logDir } from '../../src/cluster/state.js'
import { escapeLogText, formatLogLine } from '../../src/core/logger.js'
import { receivedKeyOfLogLine } from '../../src/scenario/runner.js'
import { postJson, scratchDir, waitFor } from '../helpers.js'

const dir = scratchDir('distlab-log-forging-')
let cluster: LocalCluster | undefined
after(async () => {
  await cluster?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('escapeLogText writes every control, separator and bidi character as an escape', () => {
  const hostile = 'a\nb\rc\td\u0000e\u001b[2Kf\u007fg\u0085h\u2028i\u2029j\u202ek\u2066l'
  const out = escapeLogText(hostile)
  assert.equal(out, 'a\\nb\\rc\\td\\x00e\\x1b[2Kf\\x7fg\\x85h\\u2028i\\u2029j\\u202ek\\u2066l')
  // eslint-disable-next-line no-control-regex -- looking for control characters
  assert.doesNotMatch(out, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/)
  // Field values and names other than msg go through it too.
  const line = formatLogLine({ time: 0, level: 30, name: 'distlab:x\ny', msg: 'm', reason: 'r\nINFO z' })
  assert.equal(line.split('\n').length, 1)
  assert.match(line, /distlab:x\\ny m reason=r\\nINFO z$/)
})

test('POST /message with a forged log line in msg and sender: one escaped line, and the scenario parser is not fooled', async () => {
  const seen: Array<{ name: string; line: string }> = []
  cluster = new LocalCluster({
    nodes: 1,
    stateDir: join(dir, 'state'),
    runsDir: join(dir, 'runs'),
    block: 62,
    dashboardPort: 0,
    onLine: (name, line) => seen.push({ name, line }),
  })
  await cluster.start()
  const node1 = cluster.list().find((n) => n.name === 'node1')!
  const url = `http://${node1.host}:${node1.httpPort}/message`
  const forgedKey = 'sc-abcdef-7-1'
  const fake = (key: string) =>
    `${new Date().toISOString()} INFO  distlab:http Received message from Node1: ${key}`

  const attacks = [
    { sender: 'attacker', msg: `x\n${fake(forgedKey)}` },
    { sender: 'attacker', msg: `x\r\n${fake(forgedKey)}\r\n${fake(forgedKey)}` },
    { sender: `evil\n${fake(forgedKey)}\n`, msg: 'y' },
    { sender: 'attacker', msg: `x\u2028${fake(forgedKey)}\u001b[1A\u001b[2K` },
  ]
  for (const body of attacks) assert.equal((await postJson(url, body)).status, 200)
  // A real one last: once it is in the file, every attack before it is too (one stdout, in order).
  const genuineKey = 'sc-abcdef-3-4'
  assert.equal((await postJson(url, { sender: 'Node1', msg: genuineKey })).status, 200)
  const logFile = join(logDir(join(dir, 'state')), 'node1.log')
  const lines = await waitFor(
    'the genuine message in node1.log',
    () => {
      const all = readFileSync(logFile, 'utf8').split('\n')
      return all.some((l) => l.endsWith(`Received message from Node1: ${genuineKey}`)) && all
    },
    30_000,
  )

  const received = lines.filter((l) => l.includes('Received message from'))
  // One line per request: 4 attacks + 1 genuine, however many line breaks the attacks carried.
  assert.equal(received.length, attacks.length + 1, received.join('\n'))
  for (const l of lines) {
    assert.doesNotMatch(
      l,
      // eslint-disable-next-line no-control-regex -- looking for control characters
      /[\r\u0000-\u0008\u000b-\u001f\u007f\u2028\u2029]/,
      `raw control character in ${l}`,
    )
    assert.ok(!l.startsWith(fake(forgedKey).slice(30)), `a forged line stands alone: ${l}`)
  }
  assert.ok(lines.some((l) => l.includes(`from attacker: x\\n${fake(forgedKey).slice(0, 4)}`)))
  assert.ok(lines.some((l) => l.includes('from evil\\n')))
  assert.ok(lines.some((l) => l.includes('\\u2028') && l.includes('\\x1b[1A')))

  // The scenario runner's parser, over the file and over the lines as the runner is handed them.
  const keysInFile = lines.map(receivedKeyOfLogLine).filter((k) => k !== undefined)
  assert.deepEqual(keysInFile, [genuineKey])
  const keysSeen = seen
    .filter((s) => s.name === 'node1')
    .map((s) => receivedKeyOfLogLine(s.line))
    .filter((k) => k !== undefined)
  assert.deepEqual(keysSeen, [genuineKey])
})
