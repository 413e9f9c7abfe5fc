// Seed 003, "cooperating clients": the student's clients (and their master, if the design has one)
// download a text of numbered lines from distlab's line server ("vayu": the course protocol,
// SENDLINE / SUBMIT, a rate limit per client address), each instance at an address of its own, and
// submit it. Rows: a correct submission of every line; every client fetching from its own address;
// the download time with 1, 2, 3 and 4 clients (a table and a plot, as the handout's graphs); and,
// when the design claims it, a submission despite the master being killed mid-run.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidArgumentError } from '../core/errors.js'
import { LineServer } from '../protocols/download/lineserver.js'
import { concatCharts, lineChart, writeChart } from '../monitor/plot.js'
import { Lab, type LabSlot } from './lab.js'
import { portBound } from './ports.js'
import { fillPlaceholders, poll, StudentProcess } from './process.js'
import { fail, pass, type ItemOutcome, type RubricItem, type SeedRubric } from './rubric.js'

/** The handout's text and rate: 1000 lines, 100 lines/s per client address. */
export const SEED003_LINES = 1000
export const SEED003_RATE = 100
export const SEED003_SERVER_PORT = 9801
export const SEED003_MASTER_PORT = 5000
/** The speedup item passes when 4 clients download at least this many times faster than 1. */
export const MIN_SPEEDUP = 1.5
/** The failover item kills the master once this share of the lines has been fetched. */
export const FAILOVER_AT = 0.3

export interface Seed003Options {
  /** Each client's command: `python3 client.py --server {server} --master {master} --lines {lines}`. */
  client: string
  /** The master's command, if the design has one (it runs beside the clients, at its own address). */
  master?: string
  /** Clients in the submit and failover runs. @default 4 */
  clients?: number
  /** Lines of the text. @default 1000 (the handout's) */
  lines?: number
  /** Lines per second per client address. @default 100 (the handout's) */
  rate?: number
  /** The port the master listens on ({port}). @default 5000 */
  port?: number
  /** The line server's port. @default 9801 */
  serverPort?: number
  block?: number
  cwd?: string
  env?: Record<string, string>
  masterEnv?: Record<string, string>
  /** Run the failover item: kill the master mid-run, expect a submission still. @default false */
  expectFailover?: boolean
  /** Where the speedup plot goes (PNG, and the SVG beside it). @default a file in the OS's tmpdir */
  plot?: string
  /** A namespace per program (root): 'auto' when the machine allows. @default 'auto' */
  isolate?: 'auto' | boolean
  /** How long one download may take. @default 20 s + 3 × the expected time of one client */
  timeoutMs?: number
  /** How long the master may take to listen on its port. @default 20 s */
  startTimeoutMs?: number
}

type Resolved = Required<
  Omit<Seed003Options, 'master' | 'env' | 'masterEnv' | 'cwd' | 'plot' | 'timeoutMs'>
> &
  Seed003Options & { timeoutMs: number }

interface Submission {
  address: string
  reply: string
  /** ms since the run's first line was served. */
  atMs: number
  correct: number
  incorrect: number
  read: number
}

export interface DownloadRun {
  clients: number
  /** ms from the first line served to the first submission. */
  ms?: number
  submission?: Submission
  /** Lines served per address. */
  served: Array<{ address: string; served: number }>
  /** Distinct lines the team had fetched, over time (ms since the first line). */
  progress: Array<{ ms: number; distinct: number }>
  killedMaster?: { ms: number; distinct: number }
  /** Why the run ended without a submission. */
  failure?: string
  tails: string[]
}

export interface Seed003Context {
  o: Resolved
  lab: Lab
  master?: LabSlot
  slots: LabSlot[]
  runs: Map<number, DownloadRun>
}

/** The line server, watched: every line served and every submission, as they happen. */
class WatchedLineServer extends LineServer {
  readonly seen = new Set<number>()
  readonly progress: Array<{ ms: number; distinct: number }> = []
  readonly submissions: Submission[] = []
  /** When the run's first line was served: download times count from here, as the server sees them. */
  firstLineAt: number | undefined

  /** ms since the first line was served (0 before). */
  sinceFirstLine(): number {
    return this.firstLineAt === undefined ? 0 : Date.now() - this.firstLineAt
  }

  override sendLine(session: Parameters<LineServer['sendLine']>[0]): string {
    const reply = super.sendLine(session)
    const n = Number(reply.slice(0, reply.indexOf('\n')))
    if (n >= 0 && !this.seen.has(n)) {
      this.firstLineAt ??= Date.now()
      this.seen.add(n)
      // one point per 1% of the text is enough for the plot
      if (this.seen.size % Math.max(1, Math.floor(this.options.lines.length / 100)) === 0)
        this.progress.push({ ms: this.sinceFirstLine(), distinct: this.seen.size })
    }
    return reply
  }

  override submitted(
    session: Parameters<LineServer['submitted']>[0],
    state: Parameters<LineServer['submitted']>[1],
  ): string {
    const reply = super.submitted(session, state)
    this.submissions.push({
      address: session.address,
      reply: reply.trim(),
      atMs: this.sinceFirstLine(),
      correct: state.error ? 0 : state.correct,
      incorrect: state.error ? 0 : state.incorrect,
      read: state.read,
    })
    return reply
  }

  override failedEarly(
    session: Parameters<LineServer['failedEarly']>[0],
    id: string,
    reason: string,
  ): string {
    const reply = super.failedEarly(session, id, reason)
    this.submissions.push({
      address: session.address,
      reply: reply.trim(),
      atMs: this.sinceFirstLine(),
      correct: 0,
      incorrect: 0,
      read: 0,
    })
    return reply
  }
}

/** Expected SENDLINEs to see all n lines drawn uniformly at random: n·H(n) (the coupon collector). */
function couponDraws(n: number): number {
  let h = 0
  for (let i = 1; i <= n; i++) h += 1 / i
  return n * h
}

const secs = (ms: number | undefined) => (ms === undefined ? '-' : (ms / 1000).toFixed(2))

function scaleNote(o: Resolved): string {
  const handout = o.lines === SEED003_LINES && o.rate === SEED003_RATE
  return `line server: ${o.lines} lines at ${o.rate} lines/s per address${handout ? " (the handout's)" : ` (the handout's ${SEED003_LINES} at ${SEED003_RATE}/s, scaled: one client alone expects ~${(couponDraws(o.lines) / o.rate).toFixed(1)} s instead of ~${(couponDraws(SEED003_LINES) / SEED003_RATE).toFixed(0)} s)`}`
}

type Started = Array<{ name: string; process: StudentProcess }>
type Starter = (slot: LabSlot, index: number, command: string, env?: Record<string, string>) => StudentProcess

/** Starts the master (if any) and `k` clients, waits for the first submission, stops them all. */
async function download(ctx: Seed003Context, k: number, killMaster = false): Promise<DownloadRun> {
  const o = ctx.o
  const server = new WatchedLineServer({
    host: ctx.lab.hostAddress,
    port: o.serverPort,
    lineCount: o.lines,
    ratePerSecond: o.rate,
  })
  await server.start()
  const procs: Started = []
  const run: DownloadRun = { clients: k, served: [], progress: server.progress, tails: [] }
  try {
    const start = starter(ctx, k, procs)
    let master: StudentProcess | undefined
    if (ctx.master && o.master) {
      master = await startMaster(ctx, start, run)
      if (!master) return run
    }
    ctx.slots.slice(0, k).forEach((s, i) => start(s, i + 1, o.client, o.env))
    await awaitSubmission(ctx, server, procs, run, killMaster ? master : undefined)
  } finally {
    await Promise.all(procs.map((p) => p.process.stop()))
    run.served = server.addresses().map((a) => ({ address: a.address, served: a.served }))
    await server.stop()
  }
  return run
}

/** A function that starts one student program in a slot, its placeholders filled, and records it in `procs`. */
function starter(ctx: Seed003Context, k: number, procs: Started): Starter {
  const o = ctx.o
  const serverAt = `${ctx.lab.hostAddress}:${o.serverPort}`
  const masterAt = ctx.master ? `${ctx.master.host}:${o.port}` : ''
  const clientSlots = ctx.slots.slice(0, k)
  const extra = new Map([
    ['server', serverAt],
    ['server_host', ctx.lab.hostAddress],
    ['server_port', String(o.serverPort)],
    ['lines', String(o.lines)],
    ['clients', String(k)],
  ])
  return (slot, index, command, env) => {
    const placeholders = {
      host: slot.host,
      port: o.port,
      name: slot.name,
      index,
      master: masterAt,
      peers: clientSlots
        .filter((s) => s !== slot)
        .map((s) => `${s.host}:${o.port}`)
        .join(','),
    }
    const filled = fillPlaceholders(command, placeholders).replace(
      /\{(server|server_host|server_port|lines|clients)\}/g,
      (_, key: string) => extra.get(key)!,
    )
    const p = new StudentProcess({
      command: filled,
      placeholders,
      env: {
        DISTLAB_SERVER: serverAt,
        DISTLAB_LINES: String(o.lines),
        DISTLAB_CLIENTS: String(k),
        ...env,
      },
      cwd: o.cwd,
      wrap: slot.wrap,
    })
    procs.push({ name: slot.name, process: p })
    return p
  }
}

/** Starts the master and waits for it to listen; on failure notes why in `run` and answers undefined. */
async function startMaster(
  ctx: Seed003Context,
  start: Starter,
  run: DownloadRun,
): Promise<StudentProcess | undefined> {
  const o = ctx.o
  const slot = ctx.master!
  const m = start(slot, 0, o.master!, o.masterEnv)
  const up = await poll(
    () => (m.pid !== undefined && portBound(m.pid, slot.host, o.port) ? true : m.running ? undefined : false),
    o.startTimeoutMs,
    50,
  )
  if (up === true) return m
  run.failure = `the master did not listen on ${slot.host}:${o.port} within ${o.startTimeoutMs} ms`
  run.tails = m.tail(4)
  return undefined
}

/** Waits for the first submission (killing `killMaster` part way when given) and records the outcome. */
async function awaitSubmission(
  ctx: Seed003Context,
  server: WatchedLineServer,
  procs: Started,
  run: DownloadRun,
  killMaster: StudentProcess | undefined,
): Promise<void> {
  const o = ctx.o
  const clients = procs.filter((p) => p.name !== 'master')
  const ended = await poll(
    () => {
      if (server.submissions.length > 0) return 'submitted'
      if (killMaster?.running && server.seen.size >= Math.ceil(o.lines * FAILOVER_AT)) {
        killMaster.signal('SIGKILL')
        run.killedMaster = { ms: server.sinceFirstLine(), distinct: server.seen.size }
      }
      if (clients.every((c) => !c.process.running)) return 'exited'
      return undefined
    },
    o.timeoutMs,
    25,
  )
  if (ended === 'submitted') {
    run.submission = server.submissions[0]
    run.ms = run.submission!.atMs
  } else {
    run.failure =
      ended === 'exited'
        ? `every client exited without a submission reaching the server`
        : `no submission within ${secs(o.timeoutMs)} s (${server.seen.size}/${o.lines} distinct lines fetched)`
    run.tails = procs.flatMap((p) => p.process.tail(3))
  }
}

async function runFor(ctx: Seed003Context, k: number): Promise<DownloadRun> {
  let r = ctx.runs.get(k)
  if (!r) {
    r = await download(ctx, k)
    ctx.runs.set(k, r)
  }
  return r
}

function submissionVerdict(o: Resolved, s: Submission): string | undefined {
  if (!s.reply.startsWith('SUBMIT SUCCESS')) return `the server answered ${s.reply}`
  if (s.incorrect > 0)
    return `${s.incorrect} of the ${s.read} pairs submitted were wrong (wrong text, a line number out of 0..${o.lines - 1}, or a number submitted twice)`
  if (s.correct < o.lines) return `only ${s.correct} of the ${o.lines} lines were submitted`
  return undefined
}

async function checkSubmit(ctx: Seed003Context): Promise<ItemOutcome> {
  const r = await runFor(ctx, ctx.o.clients)
  const evidence = [scaleNote(ctx.o), `${ctx.o.clients} client(s)${ctx.o.master ? ' and the master' : ''}`]
  if (!r.submission) return fail(...evidence, r.failure ?? 'no submission', ...r.tails)
  evidence.push(`${secs(r.ms)} s after the first line, from ${r.submission.address}: ${r.submission.reply}`)
  const wrong = submissionVerdict(ctx.o, r.submission)
  if (wrong) return fail(...evidence, wrong)
  return pass(...evidence, `all ${ctx.o.lines} lines correct, none wrong`)
}

async function checkAddresses(ctx: Seed003Context): Promise<ItemOutcome> {
  const k = ctx.o.clients
  const r = await runFor(ctx, k)
  const clientHosts = new Set(ctx.slots.slice(0, k).map((s) => s.host))
  const fetching = r.served.filter((a) => a.served > 0)
  const evidence = [
    `lines served per address: ${fetching.map((a) => `${a.address} ${a.served}`).join(', ') || 'none'}`,
    `the clients' addresses: ${[...clientHosts].join(', ')}`,
  ]
  const byClients = fetching.filter((a) => clientHosts.has(a.address))
  if (byClients.length < k)
    return fail(
      ...evidence,
      ctx.lab.isolated
        ? `only ${byClients.length} of the ${k} clients fetched lines: the others do not download (no cooperation)`
        : `only ${byClients.length} of the ${k} clients fetched from their own address: bind your client's socket to {host} (${ctx.lab.note ?? ''}; as root each client gets a namespace of its own)`,
    )
  return pass(...evidence, `each of the ${k} clients fetched from its own address`)
}

async function checkSpeedup(ctx: Seed003Context): Promise<ItemOutcome> {
  const runs: DownloadRun[] = []
  for (const k of [1, 2, 3, 4]) runs.push(await runFor(ctx, k))
  const base = runs[0]!.ms
  const rows = runs.map((r) => {
    const fetched = r.served.reduce((s, a) => s + a.served, 0)
    const speedup = base !== undefined && r.ms ? (base / r.ms).toFixed(2) : '-'
    return `  ${String(r.clients).padStart(7)}  ${secs(r.ms).padStart(7)}  ${speedup.padStart(7)}  ${String(fetched).padStart(7)}  ${r.submission?.reply ?? r.failure ?? ''}`
  })
  const evidence = [
    scaleNote(ctx.o),
    'seconds: from the first line served to the first SUBMIT; fetched: SENDLINEs answered with a line',
    `  clients  seconds  speedup  fetched  submission`,
    ...rows,
  ]
  const plotPath = ctx.o.plot ?? join(tmpdir(), `distlab-seed003-speedup-${process.pid}-${Date.now()}.png`)
  try {
    const timeChart = lineChart({
      title: 'download time by number of clients',
      xTitle: 'clients',
      yTitle: 'seconds',
      xTickMinStep: 1,
      pointMarkers: true,
      series: [
        { name: 'yours', points: runs.flatMap((r) => (r.ms ? [{ x: r.clients, y: r.ms / 1000 }] : [])) },
        ...(base
          ? [
              {
                name: 'linear speedup',
                dashed: true,
                points: runs.map((r) => ({ x: r.clients, y: base / 1000 / r.clients })),
              },
            ]
          : []),
      ],
    })
    const linesChart = lineChart({
      title: 'distinct lines fetched over time',
      xTitle: 'seconds',
      yTitle: 'lines',
      series: runs.map((r) => ({
        name: `${r.clients} client${r.clients > 1 ? 's' : ''}`,
        points: r.progress.map((p) => ({ x: p.ms / 1000, y: p.distinct })),
      })),
    })
    const files = await writeChart(concatCharts([timeChart, linesChart]), plotPath)
    evidence.push(`plot: ${files.pngPath} and ${files.svgPath}`)
  } catch (err) {
    evidence.push(`the plot could not be drawn: ${(err as Error).message}`)
  }
  const missing = runs.filter((r) => !r.submission)
  if (missing.length > 0)
    return fail(
      ...evidence,
      ...missing.map((r) => `with ${r.clients} client(s): ${r.failure ?? 'no submission'}`),
      ...missing[0]!.tails,
    )
  const speedup = base! / runs[3]!.ms!
  if (speedup < MIN_SPEEDUP)
    return fail(
      ...evidence,
      `4 clients were only ${speedup.toFixed(2)}× as fast as 1 (at least ${MIN_SPEEDUP}× passes): the clients do not share their lines`,
    )
  return pass(...evidence, `4 clients ${speedup.toFixed(2)}× as fast as 1 (linear would be 4×)`)
}

async function checkFailover(ctx: Seed003Context): Promise<ItemOutcome> {
  const r = await download(ctx, ctx.o.clients, true)
  const evidence = [scaleNote(ctx.o)]
  if (r.killedMaster)
    evidence.push(
      `killed the master (SIGKILL) after ${secs(r.killedMaster.ms)} s, at ${r.killedMaster.distinct}/${ctx.o.lines} distinct lines fetched`,
    )
  if (!r.submission) return fail(...evidence, r.failure ?? 'no submission', ...r.tails)
  evidence.push(`${secs(r.ms)} s after the first line, from ${r.submission.address}: ${r.submission.reply}`)
  if (!r.killedMaster)
    return fail(...evidence, 'the submission came before the master could be killed: run with more --lines')
  const wrong = submissionVerdict(ctx.o, r.submission)
  if (wrong) return fail(...evidence, wrong)
  return pass(...evidence, `every line submitted correctly without the master`)
}

export const SEED003_ITEMS: ReadonlyArray<RubricItem<Seed003Context>> = [
  {
    id: 'submit',
    title: 'the clients download the text and SUBMIT it: SUBMIT SUCCESS with every line correct',
    required: true,
    check: checkSubmit,
  },
  {
    id: 'addresses',
    title: 'every client fetches lines from an address of its own (the rate limit is per address)',
    required: true,
    check: checkAddresses,
  },
  {
    id: 'speedup',
    title: `with 1, 2, 3, 4 clients: the download time table and plot; 4 clients at least ${MIN_SPEEDUP}× as fast as 1`,
    required: true,
    check: checkSpeedup,
  },
  {
    id: 'failover',
    title: 'the master killed mid-run (--expect-failover): the text is still submitted correctly',
    required: true,
    check: checkFailover,
  },
]

export function resolveSeed003Options(options: Seed003Options): Resolved {
  if (!options.client?.trim()) throw new InvalidArgumentError('give the client command (--client)', 'client')
  const lines = options.lines ?? SEED003_LINES
  const rate = options.rate ?? SEED003_RATE
  if (!Number.isInteger(lines) || lines < 10 || lines > 100_000)
    throw new InvalidArgumentError('lines must be 10..100000', 'lines')
  if (!(rate > 0 && rate <= 100_000)) throw new InvalidArgumentError('rate must be in (0, 100000]', 'rate')
  const o: Resolved = {
    clients: 4,
    port: SEED003_MASTER_PORT,
    serverPort: SEED003_SERVER_PORT,
    block: 0,
    expectFailover: false,
    isolate: 'auto',
    startTimeoutMs: 20_000,
    ...options,
    lines,
    rate,
    timeoutMs: options.timeoutMs ?? Math.round(20_000 + (3 * couponDraws(lines) * 1000) / rate),
  }
  if (!Number.isInteger(o.clients) || o.clients < 1 || o.clients > 32)
    throw new InvalidArgumentError('clients must be 1..32', 'clients')
  if (o.expectFailover && !o.master?.trim())
    throw new InvalidArgumentError('--expect-failover kills the master: give --master', 'expectFailover')
  return o
}

/** The items a run checks: failover only when asked for. */
export function seed003ItemsFor(o: Seed003Options): string[] {
  return SEED003_ITEMS.map((i) => i.id).filter((id) => id !== 'failover' || o.expectFailover)
}

export const SEED003: SeedRubric<Seed003Options, Seed003Context> = {
  seed: 'seed003',
  title: "cooperating clients against distlab's line server: submit, one address each, speedup, failover",
  items: SEED003_ITEMS,
  async setup(options) {
    const o = resolveSeed003Options(options)
    const lab = await Lab.open(o.block, o.isolate)
    try {
      const master = o.master ? await lab.slot('master', 0) : undefined
      const slots: LabSlot[] = []
      for (let i = 1; i <= Math.max(4, o.clients); i++) slots.push(await lab.slot(`client${i}`, i))
      return { o, lab, master, slots, runs: new Map() }
    } catch (err) {
      await lab.close()
      throw err
    }
  },
  async teardown(ctx) {
    await ctx.lab.close()
  },
}
