// One network namespace per instance, on a bridge of distlab's, so that every foreign process has
// an address of its own (and can listen on 0.0.0.0:5000 like in a container) and so that rules
// inside its namespace can send its traffic through distlab's relays.
//
// Why a private range and not the 127.x plan: a 127/8 address never leaves the namespace it lives
// in (the kernel drops loopback sources and destinations on any other interface), so instances in
// different namespaces cannot reach each other on 127.x. They get 10.213.<block>.<slot>/24 on a
// veth joined to the bridge `dlbr<block>` in the host namespace instead: the host reaches every
// instance directly (curl http://10.213.0.4:5000/), the addresses never leave the machine (no
// route out of the namespaces and no masquerading), and the bridge's own address 10.213.<block>.1
// is where the relays listen.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { ClusterError } from '../core/errors.js'

export const NETNS_PREFIX = '10.213'

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a program to its end (at most timeoutMs); a non-zero exit throws unless allowFailure. */
export function exec(
  cmd: string,
  args: readonly string[],
  o: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new ClusterError(`${cmd} could not run: ${err.message}`, { cause: err }))
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      const r = { code: code ?? -1, stdout, stderr }
      if (r.code === 0 || o.allowFailure) return resolve(r)
      reject(
        new ClusterError(
          `\`${cmd} ${args.join(' ')}\` failed: ${(stderr || stdout).trim().split('\n').pop()}`,
        ),
      )
    })
    if (o.input !== undefined) {
      child.stdin!.on('error', () => {})
      child.stdin!.end(o.input)
    }
  })
}

/** Whether this machine lets distlab make namespaces, and if not, why (said once at start-up). */
export async function isolationAvailable(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.platform !== 'linux') return { ok: false, why: 'network namespaces exist only on Linux' }
  if (process.getuid?.() !== 0)
    return { ok: false, why: 'network namespaces and iptables rules need root (run distlab run as root)' }
  for (const [cmd, args] of [
    ['ip', ['netns', 'list']],
    ['iptables', ['-t', 'nat', '-S', 'OUTPUT']],
    ['nsenter', ['--version']],
  ] as const) {
    const r = await exec(cmd, args, { allowFailure: true }).catch(() => undefined)
    if (!r || r.code !== 0) return { ok: false, why: `\`${cmd} ${args.join(' ')}\` does not work here` }
  }
  return { ok: true }
}

export const bridgeName = (block: number) => `dlbr${block}`
export const netnsName = (block: number, name: string) => `dl${block}-${name}`
const vethName = (block: number, slot: number) => `dlv${block}-${slot}`
export const bridgeAddress = (block: number) => `${NETNS_PREFIX}.${block}.1`
export const slotAddress = (block: number, slot: number) => `${NETNS_PREFIX}.${block}.${slot}`
/** The host's FORWARD rule that lets the block's bridge carry its own traffic (after -I or -D). */
const forwardRule = (block: number) => {
  const br = bridgeName(block)
  return [
    'FORWARD',
    '-i',
    br,
    '-o',
    br,
    '-m',
    'comment',
    '--comment',
    `distlab-foreign-${block}`,
    '-j',
    'ACCEPT',
  ]
}

/** The bridge and the host's forwarding rule for it (Docker sets FORWARD's policy to DROP). */
export async function createBridge(block: number): Promise<void> {
  const br = bridgeName(block)
  await exec('ip', ['link', 'add', br, 'type', 'bridge'])
  await exec('ip', ['addr', 'add', `${bridgeAddress(block)}/24`, 'dev', br])
  await exec('ip', ['link', 'set', br, 'up'])
  await exec('iptables', ['-I', ...forwardRule(block)])
}

/** A namespace with lo, a veth on the bridge at the slot's address, and routes for the /24, multicast and broadcast only. */
export async function createNamespace(block: number, name: string, slot: number): Promise<string> {
  const ns = netnsName(block, name)
  const veth = vethName(block, slot)
  await exec('ip', ['netns', 'add', ns])
  await exec('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
  await exec('ip', ['link', 'set', veth, 'master', bridgeName(block), 'up'])
  const inNs = (args: string[]) => exec('ip', ['-n', ns, ...args])
  await inNs(['addr', 'add', `${slotAddress(block, slot)}/24`, 'dev', 'eth0'])
  await inNs(['link', 'set', 'lo', 'up'])
  await inNs(['link', 'set', 'eth0', 'up'])
  await inNs(['route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
  await inNs(['route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
  return ns
}

/** Every namespace, veth, bridge and host rule of the block; safe to run twice or after a crash. */
export async function removeIsolation(block: number): Promise<void> {
  const prefix = `dl${block}-`
  const list = await exec('ip', ['netns', 'list'], { allowFailure: true }).catch(() => undefined)
  for (const line of list?.stdout.split('\n') ?? []) {
    const ns = line.split(' ')[0]
    if (ns && ns.startsWith(prefix)) await exec('ip', ['netns', 'del', ns], { allowFailure: true })
  }
  await exec('ip', ['link', 'del', bridgeName(block)], { allowFailure: true }).catch(() => {})
  for (let i = 0; i < 16; i++) {
    const r = await exec('iptables', ['-D', ...forwardRule(block)], { allowFailure: true }).catch(
      () => undefined,
    )
    if (!r || r.code !== 0) break
  }
}

/** The command prefix that runs a program in an instance's namespace. */
export function nsenterArgs(target: { netns?: string; pid?: number }): string[] {
  if (target.netns) return [`--net=/run/netns/${target.netns}`]
  if (target.pid) return ['-t', String(target.pid), '-n']
  throw new ClusterError('no namespace to enter')
}

/** Applies an iptables-restore script inside a namespace (one call for many rules). */
export async function restoreRules(target: { netns?: string; pid?: number }, script: string): Promise<void> {
  await exec('nsenter', [...nsenterArgs(target), '--', 'iptables-restore', '--noflush'], { input: script })
}

export interface ListeningPort {
  proto: 'tcp' | 'udp'
  port: number
}

const EPHEMERAL_PORT_MIN = 32768

/** One listening TCP socket or bound UDP socket of a namespace, as /proc/<pid>/net shows it. */
export interface ProcSocket {
  proto: 'tcp' | 'udp'
  /** True for an IPv6 socket (tcp6/udp6). */
  v6: boolean
  /** The local address: dotted IPv4, or the raw hex of an IPv6 address. */
  address: string
  port: number
}

/** The IPv4 address of /proc/net's little-endian hex form (`0100007F` → 127.0.0.1). */
export function hexToIpv4(hex: string): string {
  const n = parseInt(hex, 16)
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.')
}

/**
 * Every TCP socket in LISTEN and every bound UDP socket of the network namespace of process `pid`,
 * read from /proc/<pid>/net/{tcp,udp[,tcp6,udp6]} (which show that process's namespace). A file
 * that cannot be read (the process is gone) gives nothing.
 */
export function* procSockets(pid: number, withV6 = false): Generator<ProcSocket> {
  const files = withV6 ? (['tcp', 'udp', 'tcp6', 'udp6'] as const) : (['tcp', 'udp'] as const)
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8')
    } catch {
      continue
    }
    const proto = file.startsWith('tcp') ? 'tcp' : 'udp'
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 4) continue
      const [addrHex, portHex] = (f[1] ?? '').split(':')
      if (!addrHex || !portHex) continue
      if (f[3] !== (proto === 'tcp' ? '0A' : '07')) continue // LISTEN / bound (unconnected)
      const port = parseInt(portHex, 16)
      if (!(port > 0)) continue
      const v6 = addrHex.length > 8
      yield { proto, v6, address: v6 ? addrHex : hexToIpv4(addrHex), port }
    }
  }
}

/**
 * The ports a namespace listens on from outside (TCP LISTEN; UDP bound below the ephemeral range).
 * Loopback-only sockets are left out: nobody else can reach them.
 */
export function listeningPorts(pid: number, limit = 32): ListeningPort[] {
  const out: ListeningPort[] = []
  const seen = new Set<string>()
  for (const s of procSockets(pid)) {
    if (s.address.startsWith('127.')) continue
    if (s.proto === 'udp' && s.port >= EPHEMERAL_PORT_MIN) continue
    const key = `${s.proto}/${s.port}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ proto: s.proto, port: s.port })
    if (out.length >= limit) return out
  }
  return out
}
