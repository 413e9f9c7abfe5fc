#!/usr/bin/env node
// The whole test suite: every compiled test file under node's test runner, with lint, formatting
// and types beside them. `npm test` builds first (pretest). Pass file paths or name fragments to run a subset:
//   npm test -- link         (every test file whose path contains "link")
//
// Test files run side by side. Tests bind fixed loopback addresses and ports, so each file that
// needs only loopback runs in a network namespace of its own (`unshare -n`, a fresh `lo`): no two
// files can collide however many run at once. That includes the files that make network
// namespaces and bridges of their own (`distlab run`, `distlab check`): bridges and veths live in
// the file's namespace, and the namespaces' names carry the test's block, one per file. Files that
// use the Docker engine (its bridges and containers are on the host's network, its networks have
// global names) run in lanes of their own, on the host's network: those under test/docker/ and any
// file with the line `// test-lane: host`. They mostly wait for the engine, so two of them run at
// once, beside the namespaced lanes, when they share nothing: a host file names what engine state
// with fixed names it uses in a line `// test-shares: swarm proj1-network` (or `none`), and two
// files that name the same thing never run at once; a host file without that line runs with no
// other host file. Without root or `unshare`, or with DISTLAB_TEST_LANES=1, every file runs one at
// a time in the host's namespace, as before.
// A file with the line `// test-lane: alone` loads the whole machine for a while (docker.test's 50
// containers): it runs in a host lane and wraps that part in `exclusively()` (test/helpers.ts),
// which asks this runner for the machine: no file starts meanwhile, and the part begins once every
// other running file has ended, so it cannot starve them (meanwhile a free lane takes only a file
// that should end well before them, `backfill()`). The rest of the file runs beside the others.
//   DISTLAB_TEST_LANES=N         namespaced lanes + 1 (default 3: two namespaced lanes)
//   DISTLAB_TEST_SPARE_LANES=N   namespaced lanes that take a file only while the CPU has most of a
//                                core idle (default 1)
//   DISTLAB_TEST_DOCKER_LANES=N  host files at once (default 2)
import { spawn, spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const filters = process.argv.slice(2)
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

// Lint, formatting and types (the whole suite only). They share nothing with the test files, so
// they run beside them, one after the other and niced (one core at most, and the tests' timers come
// first), instead of 40 s before the first test; their output is printed at the end and a failing
// one fails the run. The type check is left out under `npm test`: its pretest build compiles the
// same files with the same options (tsconfig.build.json only adds the emit), and a type error fails
// that build.
const CACHE = 'node_modules/.cache/distlab'
const builtByPretest =
  process.env.npm_lifecycle_event === 'test' && process.env.npm_config_ignore_scripts !== 'true'
const CHECKS =
  filters.length > 0
    ? []
    : [
        ['eslint', ['eslint', '--cache', '--cache-location', `${CACHE}/eslint-cache`, '.']],
        ['prettier', ['prettier', '--check', '--cache', '--cache-location', `${CACHE}/prettier-cache`, '.']],
        ...(builtByPretest ? [] : [['tsc', ['tsc', '-p', 'tsconfig.json', '--noEmit']]]),
      ]

/** A compiled test file's source: dist/test/x.test.js ← test/x.test.ts. */
const sourceOf = (f) => f.replace(/^dist\//, '').replace(/\.js$/, '.ts')
const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p)
    // A compiled test whose source is gone (renamed or removed; tsc does not delete its output) is
    // not run: it would test code that no longer exists.
    else if (name.endsWith('.test.js') && existsSync(sourceOf(p))) files.push(p)
  }
}
walk('dist/test')
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`)
  process.exit(1)
}
selected.sort()

/** Files that need the host's network namespace: they run one at a time, in the host lane. */
const HOST_LANE = ['dist/test/docker/']
/** A test file elsewhere that needs the host's network says so in a comment of its own. */
const HOST_MARKER = '// test-lane: host'
/**
 * A test file that loads the whole machine for a while says so: it runs last in the host lane (the
 * heavy part asks for the machine with `exclusively()`, below).
 */
const ALONE_MARKER = '// test-lane: alone'
// Each file's source, read once: the markers and the Docker engine's start are decided from it. The
// source, not the compiled file, which a build need not keep comments in.
const texts = new Map(selected.map((f) => [f, readFileSync(sourceOf(f), 'utf8')]))
const aloneFiles = new Set(selected.filter((f) => texts.get(f).includes(ALONE_MARKER)))
const runsAlone = (f) => aloneFiles.has(f)
// A file that may start the Docker engine must do it from the host's namespace.
const startsDocker = (f) => texts.get(f).includes('docker-start')
const hostFiles = new Set(
  selected.filter(
    (f) =>
      HOST_LANE.some((p) => f.startsWith(p)) ||
      runsAlone(f) ||
      startsDocker(f) ||
      texts.get(f).includes(HOST_MARKER),
  ),
)
const needsHost = (f) => hostFiles.has(f)
/** What a host file shares with other host files; undefined: everything (it runs with no other). */
const sharesOf = new Map(
  [...hostFiles].map((f) => {
    // The names end where a comment on them begins: `// test-shares: swarm (why)`.
    const line = texts.get(f).match(/^\/\/ test-shares:([^(\n]*)/m)?.[1]
    const names = line?.split(/[\s,]+/).filter((x) => x && x !== 'none')
    return [f, names && new Set(names)]
  }),
)
const collide = (a, b) => {
  const x = sharesOf.get(a)
  const y = sharesOf.get(b)
  return !x || !y || [...x].some((name) => y.has(name))
}

const lanes = Math.max(1, Number(process.env.DISTLAB_TEST_LANES ?? 3) || 1)
const canIsolate =
  lanes > 1 &&
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['-n', '--', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' }).status === 0

if (!canIsolate) {
  if (lanes > 1) console.log('test files run one at a time (side by side needs root and unshare -n)')
  for (const [, args] of CHECKS) run('npx', args)
  run(process.execPath, [
    '--test',
    '--test-force-exit',
    '--test-concurrency=1',
    '--test-reporter=spec',
    ...selected,
  ])
  process.exit(0)
}

// Longest first, so that the long files do not end up last: from the durations of the last run on
// this machine, else from test/durations.json (one run's durations kept in the repository, for a
// fresh clone: `cp node_modules/.cache/distlab/test-times.json test/durations.json` after a full
// run refreshes it), else from the file's size.
const TIMES = 'node_modules/.cache/distlab/test-times.json'
const readTimes = (path) => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    return {} // first run here
  }
}
const times = { ...readTimes('test/durations.json'), ...readTimes(TIMES) }
const weight = (f) => (typeof times[f] === 'number' ? times[f] : statSync(f).size / 1000)
const byWeight = (a, b) => weight(b) - weight(a)
// Longest first here too, the file that asks for the machine included: while it waits for the
// machine, the files running beside it keep the cores busy; last, it would be the run's tail.
const hostQueue = selected.filter(needsHost).sort(byWeight)
const nsQueue = selected.filter((f) => !needsHost(f)).sort(byWeight)

// The Docker engine, when a test will need it, is started now from the host's namespace: started
// from inside a namespaced file it would live in that file's namespace.
if (selected.some(startsDocker)) spawnSync('bash', ['scripts/docker-start.sh'], { stdio: 'inherit' })

const FILE_TIMEOUT_MS = 15 * 60_000
const started = Date.now()
/** When a test file last started: a file just started has not yet shown what CPU it takes. */
let lastStart = 0
const sinceStart = () => `${((Date.now() - started) / 1000).toFixed(0)} s in`
const results = []
let done = 0
// Each file runs in a process group of its own (node --test runs the file in a child process, and
// the file may start more): the watchdog and a stopped runner end the whole group, not only its
// leader, so no test process outlives the run.
const running = new Set()
/** The test files running now, and when each started. */
const runningSince = new Map()
function signalGroup(child, sig) {
  try {
    process.kill(-child.pid, sig)
  } catch {
    // already gone
  }
}
const endGroup = (child) => signalGroup(child, 'SIGKILL')
/** The checks' processes (one at a time): stopped (SIGSTOP) while a test has the machine. */
const checking = new Set()
let checksPaused = false
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    for (const child of [...running, ...checking]) endGroup(child)
    console.error(`\ntest runner stopped by ${sig}: ended ${running.size} running test file(s)`)
    process.exit(130)
  })
}

// A file runs under a small shell that, once the file's processes have ended, prints the CPU time
// they used (its children's, from /proc: the test process and every process it waited for) on a
// last line of its own, which the runner takes out of the output.
const CPU_LINE = '@@distlab-test-cpu-ticks'
const TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100
const SHELL =
  '"$@"; s=$?; read -r l < /proc/$$/stat; set -- ${l##*) }; ' +
  `printf '\\n${CPU_LINE} %s\\n' $((\${14} + \${15})); exit $s`

function runFile(file, isolated) {
  return new Promise((resolve) => {
    const node = [process.execPath, '--test', '--test-force-exit', '--test-reporter=spec', file]
    const [cmd, args] = isolated
      ? ['unshare', ['-n', '--', 'sh', '-c', `ip link set lo up || exit 1; ${SHELL}`, 'sh', ...node]]
      : ['sh', ['-c', SHELL, 'sh', ...node]]
    const t0 = Date.now()
    lastStart = t0
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    running.add(child)
    runningSince.set(file, t0)
    const chunks = []
    child.stdout.on('data', (d) => chunks.push(d))
    child.stderr.on('data', (d) => chunks.push(d))
    const watchdog = setTimeout(() => endGroup(child), FILE_TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(watchdog)
      running.delete(child)
      runningSince.delete(file)
      // What the file left running in its group (a child the test did not stop) ends with it.
      endGroup(child)
      // A request for the machine left by a file that ended without withdrawing it (a crash).
      if (running.size === 0) for (const f of readdirSync(exclusiveDir)) rmSync(join(exclusiveDir, f))
      const seconds = (Date.now() - t0) / 1000
      let out = Buffer.concat(chunks).toString('utf8')
      const cpuAt = out.lastIndexOf(`\n${CPU_LINE} `)
      const cpu = cpuAt >= 0 ? Number(out.slice(cpuAt).split(' ')[1]) / TICKS_PER_S : undefined
      if (cpuAt >= 0) out = out.slice(0, cpuAt + 1)
      const count = (label) => Number(out.match(new RegExp(`^ℹ ${label} (\\d+)$`, 'm'))?.[1] ?? 0)
      const r = {
        file,
        seconds,
        cpu,
        ok: code === 0,
        why: signal ? `killed by ${signal}` : code === 0 ? '' : `exit ${code}`,
        tests: count('tests'),
        pass: count('pass'),
        fail: count('fail'),
        // The spec reporter closes with the failing tests and their errors; CI shows only the tail
        // of the output, so that part is printed again at the very end.
        failures: code === 0 ? '' : failureDigest(out),
      }
      done++
      // One file's output at a time, whole, so that files running side by side do not interleave.
      process.stdout.write(
        `\n━━ [${done}/${selected.length}] ${file} (${seconds.toFixed(1)} s` +
          `${cpu === undefined ? '' : `, ${cpu.toFixed(1)} CPU-s`}, ended ${sinceStart()})` +
          `${r.ok ? '' : ' FAILED'}\n`,
      )
      process.stdout.write(out)
      results.push(r)
      resolve()
    })
  })
}

/** One check (eslint, prettier, tsc), its output kept for the end. */
function runCheck(name, args) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const child = spawn('nice', ['-n', '10', 'npx', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    checking.add(child)
    if (checksPaused) signalGroup(child, 'SIGSTOP')
    const chunks = []
    child.stdout.on('data', (d) => chunks.push(d))
    child.stderr.on('data', (d) => chunks.push(d))
    child.on('error', (err) => chunks.push(Buffer.from(String(err))))
    child.on('close', (code, signal) => {
      checking.delete(child)
      const out = Buffer.concat(chunks).toString('utf8')
      const seconds = (Date.now() - t0) / 1000
      resolve({ name, seconds, ok: code === 0, why: signal ? `killed by ${signal}` : `exit ${code}`, out })
    })
  })
}

async function runChecks() {
  const out = []
  for (const [name, args] of CHECKS) out.push(await runCheck(name, args))
  return out
}

/** The failing tests' errors from one file's output, at most 60 lines. */
function failureDigest(out) {
  const at = out.lastIndexOf('✖ failing tests:')
  const lines = (at >= 0 ? out.slice(at) : out).split('\n').filter((l) => l.trim() !== '')
  const kept = at >= 0 ? lines.slice(0, 60) : lines.slice(-60)
  return (
    kept.join('\n') + (lines.length > kept.length ? `\n… ${lines.length - kept.length} more lines above` : '')
  )
}

// Exclusive parts: a test file asks for the machine by writing `want-<pid>` into this folder
// (DISTLAB_TEST_EXCLUSIVE_DIR) and waits for `granted-<pid>`; it removes its `want-` file when done.
// While a request stands no file starts, and it is granted once the asking file runs alone; the
// lint and type checks are stopped meanwhile (they only compute, so a pause costs them nothing else).
const exclusiveDir = mkdtempSync(join(tmpdir(), 'distlab-test-exclusive-'))
process.env.DISTLAB_TEST_EXCLUSIVE_DIR = exclusiveDir
process.on('exit', () => rmSync(exclusiveDir, { recursive: true, force: true }))

// The runs that the tests' clusters record go to a folder of this run's own, removed at the end, not
// into ./runs beside the user's own runs (a test that names its own folder still uses that).
if (process.env.DISTLAB_RUNS_DIR === undefined) {
  const runsDir = mkdtempSync(join(tmpdir(), 'distlab-test-runs-'))
  process.env.DISTLAB_RUNS_DIR = runsDir
  process.on('exit', () => rmSync(runsDir, { recursive: true, force: true }))
}
// The Python programs that stand in for a student's run on Debian's python3 and python3-flask,
// which .ci/run installs. Where `python3` on PATH is another (a version manager's shim: pyenv's is a
// shell script that took 1.4 s to start a program on an idle machine here, and over 10 s while the
// suite ran, so that Maelstrom nodes missed their 10 s for init_ok), a folder of this run's own puts
// Debian's first on the tests' PATH.
if (existsSync('/usr/bin/python3')) {
  const found = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim()
  if (found !== '/usr/bin/python3') {
    const bin = mkdtempSync(join(tmpdir(), 'distlab-test-python-'))
    symlinkSync('/usr/bin/python3', join(bin, 'python3'))
    process.env.PATH = `${bin}:${process.env.PATH}`
    process.on('exit', () => rmSync(bin, { recursive: true, force: true }))
    console.log(`python3 for the tests: /usr/bin/python3 (not ${found || 'none'})`)
  }
}
const wanted = () => readdirSync(exclusiveDir).filter((f) => f.startsWith('want-'))
const grantPoll = setInterval(() => {
  const want = wanted()
  if (want.length === 0 && checksPaused) {
    checksPaused = false
    for (const child of checking) signalGroup(child, 'SIGCONT')
  }
  if (want.length === 0 || running.size > 1) return
  const granted = join(exclusiveDir, want[0].replace('want-', 'granted-'))
  if (existsSync(granted)) return
  checksPaused = true
  for (const child of checking) signalGroup(child, 'SIGSTOP')
  writeFileSync(granted, '')
  console.log(`\n━━ a test has the machine to itself (${want[0]}); other files and the checks wait`)
}, 250)
grantPoll.unref()

/** Host files running now. */
const runningHost = new Set()
async function hostLane() {
  for (;;) {
    while (wanted().length > 0) await new Promise((r) => setTimeout(r, 250))
    if (hostQueue.length === 0) return
    const i = hostQueue.findIndex((f) => ![...runningHost].some((r) => collide(f, r)))
    if (i < 0) {
      // Every file left shares something with one running now: wait for it to end.
      await new Promise((r) => setTimeout(r, 250))
      continue
    }
    const [file] = hostQueue.splice(i, 1)
    runningHost.add(file)
    await runFile(file, false)
    runningHost.delete(file)
  }
}

async function lane(queue, isolated, spareOnly = false) {
  for (;;) {
    let file
    while (queue.length > 0) {
      if (!spareOnly || hasSpareCpu()) {
        const i = wanted().length === 0 ? 0 : backfill(queue)
        if (i >= 0) {
          file = queue.splice(i, 1)[0]
          break
        }
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    if (file === undefined) return
    await runFile(file, isolated)
  }
}

/**
 * While a test waits for the machine, the files running beside it must end first. A free lane
 * meanwhile takes a file that, by its last run's time, ends well before the longest of them is
 * expected to: the index of the longest such file in `queue`, or -1. The request is never delayed
 * by more than a misjudged file's overrun, and no file starts once the machine was granted.
 */
function backfill(queue) {
  if (readdirSync(exclusiveDir).some((f) => f.startsWith('granted-'))) return -1
  const now = Date.now()
  let drainEnd = now
  for (const [file, t0] of runningSince) {
    if (runsAlone(file)) continue
    // A file never timed here could run for as long as any: nothing is squeezed in beside it.
    if (typeof times[file] !== 'number') return -1
    drainEnd = Math.max(drainEnd, t0 + times[file] * 1000)
  }
  const room = (drainEnd - now) * BACKFILL_SHARE
  return queue.findIndex((f) => typeof times[f] === 'number' && times[f] * 1000 <= room)
}
/** A file backfilled while the others drain takes at most this share of the time left. */
const BACKFILL_SHARE = 0.6

// The machine's spare CPU, from /proc/stat's first line (all CPUs) sampled every second: a spare
// lane takes a file only when at least SPARE_CORES were idle over the last SPARE_WINDOW_S seconds
// and no file started in the last SPARE_START_GAP_MS. Most test files wait on timers and sockets more than they compute,
// so on a quiet machine a third namespaced file fits beside two; beside a CPU-bound process the
// spare lane stays idle and the files keep the CPU the two lanes always had.
const SPARE_CORES = 0.8
const SPARE_WINDOW_S = 5
const SPARE_START_GAP_MS = 2000
const cpuLines = readFileSync('/proc/stat', 'utf8').match(/^cpu\d+ /gm)?.length ?? 1
const cpuSamples = []
function sampleCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
  cpuSamples.push({ idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) })
  if (cpuSamples.length > SPARE_WINDOW_S + 1) cpuSamples.shift()
}
function hasSpareCpu() {
  if (cpuSamples.length <= SPARE_WINDOW_S || Date.now() - lastStart < SPARE_START_GAP_MS) return false
  const a = cpuSamples[0]
  const b = cpuSamples[cpuSamples.length - 1]
  return b.total > a.total && (cpuLines * (b.idle - a.idle)) / (b.total - a.total) >= SPARE_CORES
}
const spareLanes = Math.max(0, Number(process.env.DISTLAB_TEST_SPARE_LANES ?? 1) || 0)
if (spareLanes > 0) {
  sampleCpu()
  setInterval(sampleCpu, 1000).unref()
}

const dockerLanes = Math.max(1, Number(process.env.DISTLAB_TEST_DOCKER_LANES ?? 2) || 1)
console.log(
  `${selected.length} test files: ${hostQueue.length} on the host's network (${dockerLanes} at once ` +
    `when they share nothing), ${nsQueue.length} in their own network namespaces (${lanes - 1} at once, ` +
    `${spareLanes} more while a core is idle)`,
)
const checks = runChecks()
const workers = []
for (let i = 1; i < lanes; i++) workers.push(lane(nsQueue, true))
for (let i = 0; i < spareLanes; i++) workers.push(lane(nsQueue, true, true))
// With nothing left for the host lanes, the first helps with the namespaced files.
const hostLanes = Array.from({ length: Math.min(dockerLanes, hostQueue.length) }, hostLane)
await Promise.all(hostLanes)
workers.push(lane(nsQueue, true))
await Promise.all(workers)
const checked = await checks

try {
  mkdirSync('node_modules/.cache/distlab', { recursive: true })
  // Written as test/durations.json is kept: the files that exist, sorted, to a tenth of a second.
  const all = { ...times, ...Object.fromEntries(results.map((r) => [r.file, r.seconds])) }
  const kept = Object.keys(all)
    .filter((f) => files.includes(f))
    .sort()
    .map((f) => [f, Math.round(all[f] * 10) / 10])
  writeFileSync(TIMES, JSON.stringify(Object.fromEntries(kept), null, 2) + '\n')
} catch {
  // a read-only checkout still gets its results
}

const sum = (k) => results.reduce((a, r) => a + r[k], 0)
const failed = results.filter((r) => !r.ok)
const badChecks = checked.filter((c) => !c.ok)
for (const c of checked)
  console.log(
    `\n━━ ${c.name} (${c.seconds.toFixed(1)} s, beside the tests)${c.ok ? '' : ' FAILED'}\n${c.out}`,
  )
console.log(`\n━━ ${results.length} files, ${((Date.now() - started) / 1000).toFixed(0)} s`)
console.log(`ℹ tests ${sum('tests')}\nℹ pass ${sum('pass')}\nℹ fail ${sum('fail')}`)
for (const r of failed) console.log(`\n━━ failed: ${r.file} (${r.why})\n${r.failures}`)
for (const c of badChecks)
  console.log(`\n━━ failed: ${c.name} (${c.why})\n${c.out.trim().split('\n').slice(-60).join('\n')}`)
for (const r of failed) console.log(`✖ ${r.file} (${r.why}, ${r.fail} failing)`)
for (const c of badChecks) console.log(`✖ ${c.name} (${c.why})`)
process.exit(failed.length || badChecks.length ? 1 : 0)
