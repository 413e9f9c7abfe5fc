// Shared by the tests: run the real CLI, wait for a condition, make a scratch state dir.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** bin/distlab.js from the repository root, whether the test runs from test/ (tsx) or dist/test/. */
export function binPath(): string {
  const here = fileURLToPath(import.meta.url)
  const root = here.includes('/dist/test/') ? here.split('/dist/test/')[0]! : here.split('/test/')[0]!
  return join(root, 'bin', 'distlab.js')
}

/**
 * A fresh directory under the system's temporary folder. Every one a test file made is removed when
 * that file's process exits, unless a test failed: then they are kept for a look, and their paths
 * printed.
 */
export function scratchDir(prefix = 'distlab-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  if (scratchDirs.size === 0) process.once('exit', removeScratchDirs)
  scratchDirs.add(dir)
  return dir
}

const scratchDirs = new Set<string>()

function removeScratchDirs(code: number): void {
  if (code !== 0) {
    process.stderr.write(`kept for a look (a test failed): ${[...scratchDirs].join(' ')}\n`)
    return
  }
  for (const dir of scratchDirs) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // A file left by a container as another user, say: the directory stays, as before.
    }
  }
}

/** Runs `fn` in a fresh scratch directory, removed afterwards whether `fn` passed or threw. */
export async function withScratchDir<T>(prefix: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = scratchDir(prefix)
  try {
    return await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `distlab <args>` to completion (bounded by timeoutMs). */
export function runCli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath(), ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      // SIGTERM first, so the command can stop what it started (a check's programs); SIGKILL if it cannot
      child.kill('SIGTERM')
      setTimeout(() => child.kill('SIGKILL'), 5000).unref()
      reject(
        new Error(
          `distlab ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 60_000} ms\n${stdout}\n${stderr}`,
        ),
      )
    }, opts.timeoutMs ?? 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(opts.input ?? '')
  })
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastErr: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      lastErr = err
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`,
      )
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function getJson<T = unknown>(
  url: string,
  init?: RequestInit,
  timeoutMs = 20_000,
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // text
  }
  return { status: res.status, body: body as T }
}

export function postJson<T = unknown>(
  url: string,
  body: unknown,
  method = 'POST',
): Promise<{ status: number; body: T }> {
  return getJson<T>(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/**
 * POST JSON on a connection of its own (no keep-alive pool left behind, no client timeout unless
 * `timeoutMs`): resolves with the answer, rejects when the server closes the connection first.
 */
export function postFresh(
  url: string,
  body: unknown,
  timeoutMs?: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body)
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    if (timeoutMs !== undefined)
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url} did not answer in ${timeoutMs} ms`)))
    req.end(data)
  })
}

/** A port free on 127.0.0.1 right now (the OS's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/**
 * Runs `fn` with the machine to itself when the suite runs under scripts/test.mjs: asks the runner
 * (DISTLAB_TEST_EXCLUSIVE_DIR), which starts no file meanwhile and answers once every other file has
 * ended. For a part that loads the whole machine (50 containers) and would starve files beside it.
 * Outside the runner it just runs `fn`.
 */
export async function exclusively<T>(fn: () => Promise<T>, waitMs = 20 * 60_000): Promise<T> {
  const dir = process.env.DISTLAB_TEST_EXCLUSIVE_DIR
  if (!dir || !existsSync(dir)) return fn()
  const want = join(dir, `want-${process.pid}`)
  const granted = join(dir, `granted-${process.pid}`)
  writeFileSync(want, '')
  try {
    const deadline = Date.now() + waitMs
    while (!existsSync(granted)) {
      if (Date.now() > deadline) throw new Error(`the test runner did not grant the machine in ${waitMs} ms`)
      await new Promise((r) => setTimeout(r, 250))
    }
    return await fn()
  } finally {
    rmSync(want, { force: true })
    rmSync(granted, { force: true })
  }
}

/**
 * Reads a server-sent event stream (the dashboard's /api/stream) until `enough` says its text so
 * far holds what the test waits for, the stream ends, 4 MB have come or `timeoutMs` has passed;
 * returns the text read.
 */
export async function readStreamUntil(
  url: string,
  enough: (text: string) => boolean,
  timeoutMs = 20_000,
): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  const reader = res.body!.getReader()
  let text = ''
  try {
    while (!enough(text)) {
      const { value, done } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString('utf8')
      if (text.length > 4_000_000) break
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
  return text
}
