// How each mode of `distlab download` prints its result (issue 5): a table (or one JSON object)
// for a local download, one client alone, a docker download and the speedup bench.
import type {
  DownloadBenchResult,
  DownloadClientResult,
  DownloadResult,
} from '../../protocols/download/index.js'
import type { DockerDownloadResult } from '../../cluster/download-docker.js'
import { printJson, color, formatDuration, printTable } from '../output.js'

/** What every whole-run result has: the figures its JSON opens with and its summary row starts with. */
type RunFigures = Pick<
  DownloadResult,
  'clients' | 'lines' | 'seconds' | 'requests' | 'rateLimited' | 'duplicates' | 'submitted' | 'submitReply'
>

const runJson = (r: RunFigures) => ({
  clients: r.clients,
  lines: r.lines,
  seconds: Number(r.seconds.toFixed(3)),
  requests: r.requests,
  duplicates: r.duplicates,
  submitted: r.submitted,
  submitReply: r.submitReply ?? null,
})

/** The line server's reply to SUBMIT, green when the text was submitted. */
function printSubmitReply(r: { submitted: boolean; submitReply?: string }): void {
  const reply = r.submitReply ?? '(not submitted)'
  process.stdout.write(`${r.submitted ? color.green(reply) : color.red(reply)}\n`)
}

/**
 * A whole run as text: one summary row (the run's figures, then the mode's own columns), a row per
 * client, and the line server's reply to SUBMIT.
 */
function printRun(
  r: RunFigures,
  more: Array<[string, string | number]>,
  clients: { columns: string[]; rows: Array<Array<string | number>> },
): void {
  const head: Array<[string, string | number]> = [
    ['clients', r.clients],
    ['lines', r.lines],
    ['time', formatDuration(r.seconds * 1000)],
    ['requests', r.requests],
    ['rate-limited', r.rateLimited],
    ['duplicates', r.duplicates],
  ]
  const cells = head.concat(more)
  printTable(
    cells.map(([h]) => h),
    [cells.map(([, v]) => v)],
  )
  printTable(clients.columns, clients.rows)
  printSubmitReply(r)
}

const clientLabel = (rank: number, masterRank: number | undefined) =>
  rank === masterRank ? `${rank} (master)` : rank

/** `distlab download`: the run's figures, each client's share and the server's reply to SUBMIT. */
export function printDownloadResult(r: DownloadResult, o: { json?: boolean; out?: string }): void {
  if (o.json) {
    printJson({
      ...runJson(r),
      rateLimited: r.rateLimited,
      resumed: r.resumed,
      takeovers: r.takeovers,
      masterRank: r.masterRank,
      mergeUsPerLine: Number(r.mergeUsPerLine.toFixed(2)),
    })
  } else {
    const rows = r.perClient.map((c) => [
      clientLabel(c.rank, r.masterRank),
      c.address ?? '-',
      c.requests,
      c.served,
      c.alive ? 'yes' : color.red('no'),
    ])
    const columns = ['client', 'address', 'requests', 'lines served', 'alive']
    printRun(
      r,
      [
        ['resumed', r.resumed],
        ['takeovers', r.takeovers],
      ],
      { columns, rows },
    )
    if (o.out) process.stdout.write(`wrote ${o.out}\n`)
  }
}

/** `distlab download client`: what this one client did, and the reply to SUBMIT if it was the master. */
export function printClientResult(r: DownloadClientResult, o: { json?: boolean }): void {
  if (o.json)
    printJson({
      rank: r.rank,
      role: r.role,
      clients: r.clients,
      lines: r.lines,
      seconds: Number(r.seconds.toFixed(3)),
      requests: r.requests,
      rateLimited: r.rateLimited,
      served: r.served,
      submitted: r.submitted,
      submitReply: r.submitReply ?? null,
      fromJournal: r.fromJournal,
      masterRank: r.masterRank ?? null,
      mergeUsPerLine: Number(r.mergeUsPerLine.toFixed(2)),
    })
  else {
    const who =
      r.role === 'master'
        ? `client ${r.rank} (master): ${r.lines} lines${r.fromJournal ? ` (${r.fromJournal} from the journal)` : ''} in ${formatDuration(r.seconds * 1000)}`
        : `client ${r.rank}: fetched ${r.lines} distinct lines; master ${r.masterRank ?? '?'} submitted`
    process.stdout.write(
      `${who}; ${r.requests} requests, ${r.rateLimited} rate-limited, ${r.served} lines served to this client\n`,
    )
    printSubmitReply(r)
  }
}

/** `distlab download --mode docker`: the run, each container with what the line server served its address. */
export function printDockerResult(r: DockerDownloadResult, o: { json?: boolean }): void {
  const perAddress = new Map(r.serverAddresses.map((a) => [a.address, a]))
  if (o.json) {
    printJson({
      ...runJson(r),
      mode: 'docker',
      rateLimited: r.rateLimited,
      fromJournal: r.fromJournal,
      masterRank: r.masterRank,
      killed: r.killed.filter((k) => k.rank >= 0),
      perClient: r.perClient.map((c) => ({
        rank: c.rank,
        container: c.container,
        address: c.address,
        alive: c.alive,
        requests: (perAddress.get(c.address)?.served ?? 0) + (perAddress.get(c.address)?.rateLimited ?? 0),
        served: perAddress.get(c.address)?.served ?? 0,
      })),
      serverAddresses: r.serverAddresses,
    })
  } else {
    const rows = r.perClient.map((c) => {
      const a = perAddress.get(c.address)
      return [
        clientLabel(c.rank, r.masterRank),
        c.container,
        c.address || '-',
        a ? a.served + a.rateLimited : '-',
        a ? a.served : '-',
        c.alive ? 'yes' : color.red('killed'),
      ]
    })
    const columns = ['client', 'container', 'address', 'requests', 'lines served', 'alive']
    printRun(
      r,
      [
        ['from journal', r.fromJournal],
        ['master', r.masterRank],
      ],
      { columns, rows },
    )
    process.stdout.write(
      `the line server saw ${r.serverAddresses.length} client address${r.serverAddresses.length === 1 ? '' : 'es'}; every container, the network and the volume are removed\n`,
    )
  }
}

/** `distlab download bench`: time and speedup against clients, the coupon-collector expectation, the plots. */
export function printBenchResult(
  result: DownloadBenchResult,
  expected: number,
  files: { pngPath: string; svgPath: string } | undefined,
  o: { json?: boolean },
): void {
  if (o.json) {
    printJson({
      lines: result.lines,
      rate: result.ratePerSecond,
      seed: result.seed ?? null,
      expectedDraws: Number(expected.toFixed(1)),
      runs: result.runs.map((r) => ({
        clients: r.clients,
        seconds: Number(r.seconds.toFixed(3)),
        speedup: Number(r.speedup.toFixed(3)),
        requests: r.requests,
        rateLimited: r.rateLimited,
        submitted: r.submitted,
      })),
      plot: files ?? null,
    })
  } else {
    printTable(
      ['clients', 'time', 'speedup', 'ideal', 'efficiency', 'requests', 'rate-limited', 'submitted'],
      result.runs.map((r) => [
        r.clients,
        formatDuration(r.seconds * 1000),
        r.speedup.toFixed(2),
        r.clients,
        `${((r.speedup / r.clients) * 100).toFixed(0)}%`,
        r.requests,
        r.rateLimited,
        r.submitted ? 'yes' : color.red('no'),
      ]),
    )
    process.stdout.write(
      `${result.lines} lines at ${result.ratePerSecond} lines/s per client; coupon-collector expectation n·H(n) = ${expected.toFixed(0)} draws` +
        (result.seed !== undefined ? `; server seed ${result.seed} (the same draws for every size)` : '') +
        '\n',
    )
    if (files) process.stdout.write(`wrote ${files.pngPath} and ${files.svgPath}\n`)
  }
}
