// Runs HashiCorp's memberlist beside distlab (issue 17, item 5): builds the Go harness in
// bench/peers/memberlist/ from Debian's golang-go and golang-github-hashicorp-memberlist-dev
// (installed with apt-get when missing), offline: GOPATH over /usr/share/gocode, GO111MODULE=off,
// GOPROXY=off. Each run is one process holding N memberlist instances on their own loopback
// addresses (127.26.100.1 onwards, port 7946), bounded by its own caps.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface MemberlistRow {
  n: number
  startMs: number
  joinP999Ms: number | null
  joinFullMs: number | null
  joinErrors: number
  oneJoinMs: number | null
  detectMs: number | null
  /** Leave events (declared dead) for instances that were running, over all observers. */
  falseRemovals: number
  /** Suspect messages handled (memberlist's memberlist.msg.suspect counter). */
  suspects: number
  cpuJoinSeconds: number
  cpuTotalSeconds: number
  gomaxprocs: number
  trace: Array<[number, number]>
}

const GOPATH = '/usr/share/gocode'
const PACKAGES = ['golang-go', 'golang-github-hashicorp-memberlist-dev']

/** The harness's source folder: bench/peers/memberlist in the repository (this file runs from dist/). */
function sourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [join(here, 'memberlist'), resolve(here, '../../../bench/peers/memberlist')])
    if (existsSync(join(dir, 'main.go'))) return dir
  throw new Error('bench/peers/memberlist/main.go not found')
}

/** Installs the Debian packages when go or memberlist's source is missing (root only). */
function ensurePackages(): void {
  const haveGo = spawnSync('go', ['version']).status === 0
  const haveLib = existsSync(join(GOPATH, 'src/github.com/hashicorp/memberlist/memberlist.go'))
  if (haveGo && haveLib) return
  if (process.getuid?.() !== 0)
    throw new Error(
      `memberlist bench needs: apt-get install ${PACKAGES.join(' ')} (run as root or install them)`,
    )
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...PACKAGES]]) {
    const r = spawnSync('apt-get', args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed with exit ${r.status}`)
  }
}

/** Builds the harness (GOPATH mode, no network) and returns the binary's path. */
export function buildMemberlistHarness(): string {
  ensurePackages()
  const out = join(tmpdir(), 'distlab-memberlist-bench')
  mkdirSync(out, { recursive: true })
  const bin = join(out, 'memberlist-bench')
  const r = spawnSync('go', ['build', '-o', bin, '.'], {
    cwd: sourceDir(),
    encoding: 'utf8',
    env: {
      ...process.env,
      GOPATH,
      GO111MODULE: 'off',
      GOPROXY: 'off',
      GOFLAGS: '',
      GOCACHE: process.env.GOCACHE ?? join(out, 'cache'),
    },
  })
  if (r.status !== 0) throw new Error(`go build of the memberlist harness failed: ${r.stderr}`)
  return bin
}

/** One run of `n` instances; progress lines go to this process's stderr. */
export function runMemberlist(
  bin: string,
  n: number,
  opts: { convergeCapMs?: number; detectCapMs?: number } = {},
): Promise<MemberlistRow> {
  const args = [
    '-n',
    String(n),
    '-prefix',
    '127.26.100',
    '-converge-cap',
    `${opts.convergeCapMs ?? 120_000}ms`,
    '-detect-cap',
    `${opts.detectCapMs ?? 45_000}ms`,
  ]
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d: string) => {
      if (out.length < 4_000_000) out += d
    })
    // The caps bound the run; this bounds a harness that hangs anyway.
    const limit = setTimeout(
      () => child.kill('SIGKILL'),
      2 * (opts.convergeCapMs ?? 120_000) + (opts.detectCapMs ?? 45_000) + 120_000,
    )
    child.on('error', (err) => {
      clearTimeout(limit)
      reject(err)
    })
    child.on('close', (code) => {
      clearTimeout(limit)
      if (code !== 0) return reject(new Error(`memberlist harness exited with ${code}`))
      try {
        resolvePromise(JSON.parse(out) as MemberlistRow)
      } catch (err) {
        reject(new Error(`memberlist harness printed no result: ${(err as Error).message}`))
      }
    })
  })
}
