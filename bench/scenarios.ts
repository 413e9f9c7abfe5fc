// Every shipped fault scenario, on an open cluster and on one with a key, side by side: faults
// injected, messages sent and acknowledged, acknowledged messages lost (must be 0), duplicates
// delivered (must be 0), and how long the run took.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadScenario, runScenario, type ScenarioReport } from '../src/scenario/index.js'
import { benchDir, writeResult } from './lib.js'

const dir = 'scenarios'
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
const rows: Array<Array<string | number>> = []
const reports: Array<{ file: string; keyed: boolean; report: ScenarioReport }> = []
for (const file of files) {
  for (const keyed of [false, true]) {
    const s = loadScenario(join(dir, file))
    if (keyed) s.cluster.key = 'bench scenario key'
    else delete s.cluster.key
    const report = await runScenario(s, {
      stateDir: benchDir('distlab-bench-scenario-'),
      block: 90,
      mode: 'inproc',
    })
    reports.push({ file, keyed, report })
    process.stderr.write(`${file} (${keyed ? 'keyed' : 'open'}): ${report.passed ? 'PASS' : 'FAIL'}\n`)
    for (const w of report.workloads)
      rows.push([
        file.replace(/\.yaml$/, ''),
        keyed ? 'yes' : 'no',
        report.faults,
        w.kind,
        w.sent,
        w.acknowledged,
        w.expected,
        w.lost,
        w.duplicates,
        w.redeliveredAfterRestart,
        report.passed ? 'PASS' : 'FAIL',
        (report.durationMs / 1000).toFixed(1),
      ])
  }
}

writeResult('scenarios', {
  title: 'Fault scenarios: nothing acknowledged lost, nothing delivered twice',
  description:
    "Each file in scenarios/ run against a fresh in-process cluster (127.90.x.y), once open and once with a cluster key (frames authenticated, API calls with the bearer token). Faults: kill -9 and restart, partitions, link loss, duplication and reordering, slow nodes, the cooperative download's master crashing and its line server dropping every connection.",
  sections: [
    {
      columns: [
        'scenario',
        'key',
        'faults injected',
        'workload',
        'sent',
        'acknowledged',
        'expected deliveries',
        'acknowledged lost (must be 0)',
        'duplicates delivered (must be 0)',
        'redelivered after restart',
        'verdict',
        'seconds',
      ],
      rows,
      notes: [
        '"expected deliveries" counts one per receiver that must have the message: the destination for unicast and p2p, every group member for multicast, every node up at the end for broadcast.',
        '"redelivered after restart" counts a restarted node delivering again a message its previous incarnation had delivered: the node keeps no state across a kill -9, so this is expected and not a duplicate.',
        'p2p messages travel over HTTP (seed 002), which the link emulator does not shape: partitions and link rules do not touch them; kill -9 does.',
        'download (seed 003): "sent" is SENDLINE requests, "acknowledged" the distinct lines the masters merged; "expected deliveries" is every line of the text in the SUBMIT plus, for each master crash, every line that master held, which its successor must start from (read back from the journal). It runs beside the cluster on its own addresses, so the cluster key does not apply to it.',
        "anycast (seed 001): one request is one connection to a replica's greeting server; a reply the answering replica has no record of serving counts as lost, a connection a replica served beyond the answers the client took from it as a duplicate. The greeting protocol is the seed's, unauthenticated with or without a key.",
      ],
    },
  ],
  data: reports.map(({ file, report }) => ({ file, ...report })),
})
