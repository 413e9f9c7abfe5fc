// Real packet captures of distlab's ports through tcpdump or dumpcap (whichever is installed), for
// `distlab capture`. The filter keeps to distlab's ports (and, if asked, to an address block) so a
// capture on a busy loopback holds only what a person wants to see.
import { spawn } from 'node:child_process'
import { accessSync, constants as fsConstants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import {
  InvalidArgumentError,
  CaptureError,
  CaptureToolMissingError,
  CapturePermissionError,
} from '../core/errors.js'
import { checkInteger, checkNumber, checkString } from '../core/options.js'
import { DEFAULT_CAPTURE_DURATION_MS, DISTLAB_PORTS } from './constants.js'

export { CaptureError, CaptureToolMissingError, CapturePermissionError }

export interface CaptureInit {
  /** File to write (pcap). */
  out: string
  /** @default 'lo' */
  iface?: string
  /** @default 10000 */
  durationMs?: number
  /** @default distlab's ports: 5000, 7000, 5007, 9801 */
  ports?: number[]
  /** Only traffic from or to this address or CIDR block (e.g. 127.70.0.0/16). */
  net?: string
  /** @default the first of tcpdump, dumpcap found */
  tool?: 'tcpdump' | 'dumpcap'
}

const NET = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/

export function resolveCaptureOptions(
  init: CaptureInit,
): Required<Omit<CaptureInit, 'net' | 'tool'>> & Pick<CaptureInit, 'net' | 'tool'> {
  const ports = (init.ports ?? Object.values(DISTLAB_PORTS)).map((p, i) =>
    checkInteger(`ports[${i}]`, p, 1, 65535),
  )
  if (ports.length === 0) throw new InvalidArgumentError('ports must name at least one port', 'ports')
  if (init.net !== undefined && !NET.test(init.net))
    throw new InvalidArgumentError(
      `net must be an IPv4 address or CIDR block, got ${JSON.stringify(init.net)}`,
      'net',
    )
  if (init.tool !== undefined && init.tool !== 'tcpdump' && init.tool !== 'dumpcap')
    throw new InvalidArgumentError(
      `tool must be tcpdump or dumpcap, got ${JSON.stringify(init.tool)}`,
      'tool',
    )
  return {
    out: checkString('out', init.out),
    iface: checkString('iface', init.iface ?? 'lo', /^[A-Za-z0-9_.:@-]{1,32}$/),
    durationMs: checkNumber('durationMs', init.durationMs ?? DEFAULT_CAPTURE_DURATION_MS, 1, 24 * 3600_000),
    ports,
    net: init.net,
    tool: init.tool,
  }
}

/** The BPF filter: distlab's ports, over UDP or TCP, optionally within one address block. */
export function captureFilter(ports: readonly number[], net?: string): string {
  const portExpr = ports.map((p) => `port ${p}`).join(' or ')
  return net ? `(${portExpr}) and net ${net}` : `(${portExpr})`
}

/** Finds an executable on PATH and in the sbin folders (where Debian puts tcpdump). */
export function findTool(name: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/sbin',
    '/sbin',
    '/usr/bin',
    '/usr/local/sbin',
  ]
  for (const d of dirs) {
    if (!d) continue
    const p = join(d, name)
    try {
      accessSync(p, fsConstants.X_OK)
      if (statSync(p).isFile()) return p
    } catch {
      // not here
    }
  }
  return undefined
}

export interface CaptureResult {
  tool: string
  file: string
  iface: string
  filter: string
  durationMs: number
  bytes: number
}

const PERMISSION = /permission|not permitted|you don't have|insufficient|must be root/i

type CaptureOptions = ReturnType<typeof resolveCaptureOptions>

/**
 * Captures until the duration passes or `signal` aborts. `onReady` is called once the tool is
 * listening, so a caller can start its traffic without losing the first packets.
 */
export async function capture(
  init: CaptureInit,
  options: { signal?: AbortSignal; onReady?: () => void } = {},
): Promise<CaptureResult> {
  const o = resolveCaptureOptions(init)
  const { tool, path } = pickTool(o.tool ? [o.tool] : CAPTURE_TOOLS)
  const filter = captureFilter(o.ports, o.net)
  const child = spawn(path, captureArgs(tool, o.iface, o.out, filter), {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  let ready = false
  const started = Date.now()
  return new Promise<CaptureResult>((resolvePromise, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const stopChild = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
    }
    const markReady = () => {
      if (ready) return
      ready = true
      timer = setTimeout(stopChild, o.durationMs)
      options.onReady?.()
    }
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000)
      if (CAPTURE_READY.test(stderr)) markReady()
    })
    const onAbort = () => stopChild()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    child.on('error', (err) => reject(new CaptureError(`${tool} could not start: ${err.message}`)))
    child.on('exit', (code, sig) => {
      if (timer) clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      const outcome = captureOutcome({ tool, path, o, stderr, ready, code, sig })
      if (outcome instanceof Error) return reject(outcome)
      resolvePromise({
        tool,
        file: o.out,
        iface: o.iface,
        filter,
        durationMs: Date.now() - started,
        bytes: outcome,
      })
    })
    // Some builds print nothing when quiet; assume ready shortly after a clean start.
    setTimeout(() => {
      if (child.exitCode === null && !ready) markReady()
    }, 1500).unref()
  })
}

/** The capture tools distlab drives, in the order it prefers them. */
export const CAPTURE_TOOLS = ['tcpdump', 'dumpcap'] as const
export type CaptureTool = (typeof CAPTURE_TOOLS)[number]

/** What either tool prints on stderr once it captures. */
export const CAPTURE_READY = /listening on|Capturing on/i

/** The first of the candidate tools installed, if any. */
export function findCaptureTool(
  candidates: readonly CaptureTool[] = CAPTURE_TOOLS,
): { tool: CaptureTool; path: string } | undefined {
  for (const tool of candidates) {
    const path = findTool(tool)
    if (path) return { tool, path }
  }
  return undefined
}

/** The first of the candidate tools installed, or a CaptureToolMissingError naming them. */
function pickTool(candidates: readonly CaptureTool[]): { tool: CaptureTool; path: string } {
  const found = findCaptureTool(candidates)
  if (found) return found
  throw new CaptureToolMissingError(
    `neither ${candidates.join(' nor ')} is installed; install one (Debian: sudo apt-get install tcpdump) and run again`,
  )
}

/**
 * The capture tool's command line: the interface, the whole packet, pcap written as it comes to
 * `out` (a file, or `-` for stdout).
 */
export function captureArgs(tool: CaptureTool, iface: string, out: string, filter: string): string[] {
  if (tool !== 'tcpdump') return ['-i', iface, '-q', '-F', 'pcap', '-s', '0', '-w', out, '-f', filter]
  return [
    '-i',
    iface,
    '-n',
    '-s',
    '0',
    // Each packet handed over as it comes (not in the kernel's 1 s blocks) and written at once: a
    // capture stopped a moment after the traffic still holds it.
    '--immediate-mode',
    '-U',
    '-w',
    out,
    // As root, tcpdump drops to its own user before writing, which may not own the folder.
    ...(out !== '-' && process.getuid?.() === 0 ? ['-Z', 'root'] : []),
    filter,
  ]
}

/** After the tool exits: the capture file's size, or the error that says why there is none. */
function captureOutcome(x: {
  tool: string
  path: string
  o: CaptureOptions
  stderr: string
  ready: boolean
  code: number | null
  sig: NodeJS.Signals | null
}): number | Error {
  const { tool, o } = x
  const text = x.stderr.trim().split('\n').filter(Boolean)
  const last =
    text.filter((l) => !/^(listening on|Capturing on|File:|\d+ packets)/i.test(l)).pop() ?? text.pop() ?? ''
  if (!x.ready) {
    if (PERMISSION.test(x.stderr))
      return new CapturePermissionError(
        `${tool} may not capture on ${o.iface}: ${last || 'permission denied'}. Run as root (sudo distlab capture ...) or allow it once: sudo setcap cap_net_raw,cap_net_admin=eip ${x.path}`,
      )
    const why = text
      .filter((l) => !/^(listening on|Capturing on)/i.test(l))
      .map((l) => l.replace(/^(tcpdump|dumpcap): /, ''))
      .join('; ')
    return new CaptureError(
      `${tool} could not capture on ${o.iface} (${x.sig ?? `exit ${x.code}`}): ${why || 'no message'}`,
    )
  }
  try {
    return statSync(o.out).size
  } catch {
    return new CaptureError(`${tool} wrote no file ${o.out}: ${last}`)
  }
}
