// What a node checks before it calls a URL that someone else handed it (a peer registering, a
// gossiped member): only http and https, no credentials, and a host whose every address lies in the
// cluster's address ranges, so that discovery cannot be turned into a request forgery against the
// machine's other services or the cloud's metadata address (OWASP's SSRF prevention cheat sheet:
// allow-list the destinations, resolve the name and check every address). Also the exposure rule:
// nothing listens beyond loopback without a cluster key unless the operator says --insecure.
import { BlockList, SocketAddress, isIP, isIPv4, type Server, type Socket } from 'node:net'
import { lookup } from 'node:dns/promises'
import { networkInterfaces } from 'node:os'
import { InvalidArgumentError, PeerUrlRejectedError, InsecureBindError } from './errors.js'

/** Longest URL checked at all. */
export const MAX_PEER_URL_CHARS = 512
/** Time allowed to resolve a peer's host name, in ms. */
export const RESOLVE_TIMEOUT_MS = 2000
/** How long a resolved host name is trusted, in ms. */
export const RESOLVE_CACHE_MS = 5000
/** Host names whose resolution is cached. */
export const RESOLVE_CACHE_ENTRIES = 1024
/** Open connections one remote address may hold to a node's HTTP API (when it listens beyond loopback). */
export const MAX_CONNECTIONS_PER_ADDRESS = 256
/** Environment variable with extra allowed peer ranges: CIDRs, addresses or host names, comma-separated. */
export const PEER_RANGES_ENV = 'DISTLAB_PEER_RANGES'
/** Environment variable that, set to 1, is the same as --insecure. */
export const INSECURE_ENV = 'DISTLAB_INSECURE'

export const LOOPBACK_RANGES: readonly string[] = ['127.0.0.0/8', '::1/128']

export { PeerUrlRejectedError, InsecureBindError }

/** `::ffff:10.0.0.1` → `10.0.0.1`; brackets removed. */
export function plainAddress(host: string): string {
  const h = host.replace(/^\[|\]$/g, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(h)
  return mapped ? mapped[1]! : h
}

/** True for 127.0.0.0/8, ::1, `localhost` and IPv4-mapped loopback. */
export function isLoopback(host: string): boolean {
  const h = plainAddress(host).toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

/**
 * 4 or 6 for an IP address, 0 otherwise, as isIP, for the ranges a guard is made with. An IPv6 one
 * is checked by the parser the socket layer uses (SocketAddress), not by isIPv6's regular
 * expression: that one costs every node process about 9 ms to compile at its first use, and the
 * loopback ranges every guard starts with hold an IPv6 one.
 */
function rangeAddressVersion(address: string): 0 | 4 | 6 {
  if (!address.includes(':')) return isIPv4(address) ? 4 : 0
  try {
    new SocketAddress({ address, family: 'ipv6' })
    return 6
  } catch {
    return 0
  }
}

/** Splits `a,b, c` (from a flag or the environment) into entries. */
export function splitList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** The subnets of this machine's non-loopback interfaces (a container's network, say). */
export function interfaceRanges(): string[] {
  const out: string[] = []
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) {
      if (a.internal || !a.cidr) continue
      if (a.family === 'IPv6' && /^fe80:/i.test(a.address)) continue // link-local: never a peer
      if (a.family === 'IPv4' && a.address.startsWith('169.254.')) continue
      out.push(a.cidr)
    }
  return out
}

export interface UrlGuardInit {
  /**
   * Allowed peer ranges besides loopback: CIDRs (`10.5.0.0/16`), single addresses, or host names
   * (trusted as given, without resolving). @default [] plus $DISTLAB_PEER_RANGES
   */
  allow?: string[]
  /**
   * The address the node binds. Beyond loopback, the subnets of the machine's interfaces (a
   * container's network) are allowed too. @default '127.0.0.1'
   */
  bindHost?: string
  /** Resolves a host name to addresses. @default dns.promises.lookup (all addresses) */
  resolve?: (host: string) => Promise<string[]>
  /** @default Date.now */
  now?: () => number
}

export interface ResolvedUrlGuardOptions {
  ranges: readonly string[]
  hosts: readonly string[]
}

export function resolveUrlGuardOptions(init: UrlGuardInit = {}): ResolvedUrlGuardOptions {
  const entries = [...(init.allow ?? []), ...splitList(process.env[PEER_RANGES_ENV])]
  const bindHost = init.bindHost ?? '127.0.0.1'
  const ranges = [...LOOPBACK_RANGES]
  if (!isLoopback(bindHost)) ranges.push(...interfaceRanges())
  const hosts: string[] = []
  for (const e of entries) {
    if (typeof e !== 'string' || e === '')
      throw new InvalidArgumentError('allow entries must be non-empty strings', 'allow')
    if (e.includes('/') || rangeAddressVersion(plainAddress(e))) {
      parseRange(e) // throws on a bad one
      ranges.push(e)
    } else if (/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(e)) hosts.push(e.toLowerCase())
    else
      throw new InvalidArgumentError(
        `allow entry ${JSON.stringify(e)} is not a CIDR, an address or a host name`,
        'allow',
      )
  }
  return Object.freeze({ ranges: Object.freeze(ranges), hosts: Object.freeze(hosts) })
}

function parseRange(range: string): { net: string; prefix: number; type: 'ipv4' | 'ipv6' } {
  const [addr, bits] = range.split('/')
  const net = plainAddress(addr ?? '')
  const v = rangeAddressVersion(net)
  const max = v === 4 ? 32 : 128
  const prefix = bits === undefined ? max : Number(bits)
  if (
    !v ||
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (bits !== undefined && !/^\d+$/.test(bits))
  )
    throw new InvalidArgumentError(`${JSON.stringify(range)} is not a CIDR such as 10.5.0.0/16`, 'allow')
  return { net, prefix, type: v === 4 ? 'ipv4' : 'ipv6' }
}

/**
 * Verdicts shared by the guards in this process with the same ranges: addresses (allowed or not)
 * and allowed URLs with an address (their origin). Full, it starts over.
 */
const VERDICT_CACHE_ENTRIES = 16_384
/** One table per set of ranges (a guard holds its own: no key built from the ranges per check). */
const verdictTables = new Map<string, Map<string, boolean | string>>()
/** Sets of ranges with a table; past this the tables start over (ranges come from configuration). */
const MAX_VERDICT_TABLES = 64

function verdictTable(rangesKey: string): Map<string, boolean | string> {
  let t = verdictTables.get(rangesKey)
  if (!t) {
    if (verdictTables.size >= MAX_VERDICT_TABLES) verdictTables.clear()
    verdictTables.set(rangesKey, (t = new Map()))
  }
  return t
}

/** Checks peer URLs against the cluster's ranges. */
export class UrlGuard {
  readonly options: ResolvedUrlGuardOptions
  private readonly list = new BlockList()
  private readonly resolveHost: (host: string) => Promise<string[]>
  private readonly now: () => number
  private readonly cache = new Map<string, { at: number; addresses: string[] }>()
  private readonly verdicts: Map<string, boolean | string>

  constructor(init: UrlGuardInit = {}) {
    this.options = resolveUrlGuardOptions(init)
    this.verdicts = verdictTable(this.options.ranges.join(','))
    for (const r of this.options.ranges) {
      const { net, prefix, type } = parseRange(r)
      this.list.addSubnet(net, prefix, type)
    }
    this.resolveHost =
      init.resolve ??
      (async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address))
    this.now = init.now ?? Date.now
  }

  /** True when `address` (an IP) lies in an allowed range. */
  allowsAddress(address: string): boolean {
    const a = plainAddress(address)
    const v = isIP(a)
    if (v === 0) return false
    // BlockList.check builds a SocketAddress per call; a thousand peers in one process each
    // checking a thousand members made that a tenth of the CPU. Verdicts are shared by guards
    // with the same ranges.
    const key = a
    const verdicts = this.verdicts
    const hit = verdicts.get(key)
    if (typeof hit === 'boolean') return hit
    const ok = this.list.check(a, v === 4 ? 'ipv4' : 'ipv6')
    if (verdicts.size >= VERDICT_CACHE_ENTRIES) verdicts.clear()
    verdicts.set(key, ok)
    return ok
  }

  /**
   * Returns the URL's origin when the node may call it; throws PeerUrlRejectedError (naming
   * `field`) otherwise. Host names are resolved and every address must be allowed.
   */
  async check(url: unknown, field = 'url'): Promise<string> {
    const now = this.checkNow(url, field)
    if (now !== undefined) return now
    const u = new URL(url as string)
    return this.verdict(u, await this.resolve(plainAddress(u.hostname).toLowerCase(), field), field)
  }

  /**
   * check() without waiting: the origin, or PeerUrlRejectedError, when the answer needs no DNS
   * lookup (an address, a trusted host name, a name resolved in the last few seconds); undefined
   * when it does.
   */
  checkNow(url: unknown, field = 'url'): string | undefined {
    if (typeof url !== 'string' || url.length === 0)
      throw new PeerUrlRejectedError(`${field} must be a non-empty string`, field)
    if (url.length > MAX_PEER_URL_CHARS)
      throw new PeerUrlRejectedError(`${field} is longer than ${MAX_PEER_URL_CHARS} characters`, field)
    // A URL with an address always gets the same answer: an allowed one is remembered for every
    // guard with these ranges (a thousand peers in one process each check the same member URLs).
    const memo = url
    const verdicts = this.verdicts
    const known = verdicts.get(memo)
    if (typeof known === 'string') return known
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw new PeerUrlRejectedError(`${field} is not a URL`, field)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new PeerUrlRejectedError(
        `${field} must use http or https, not ${u.protocol.replace(/:$/, '')}`,
        field,
      )
    if (u.username || u.password) throw new PeerUrlRejectedError(`${field} must not carry credentials`, field)
    const host = plainAddress(u.hostname).toLowerCase()
    if (!host) throw new PeerUrlRejectedError(`${field} has no host`, field)
    if (this.options.hosts.includes(host)) return u.origin
    if (isIP(host)) {
      const origin = this.verdict(u, [host], field)
      if (verdicts.size >= VERDICT_CACHE_ENTRIES) verdicts.clear()
      verdicts.set(memo, origin)
      return origin
    }
    const hit = this.cache.get(host)
    if (hit && this.now() - hit.at < RESOLVE_CACHE_MS) return this.verdict(u, hit.addresses, field)
    return undefined
  }

  private verdict(u: URL, addresses: string[], field: string): string {
    const outside = addresses.find((a) => !this.allowsAddress(a))
    if (addresses.length === 0 || outside !== undefined)
      throw new PeerUrlRejectedError(
        `${field} ${u.origin} is outside the cluster's address ranges (${outside ?? 'no address'}); allow it with --peer-ranges or ${PEER_RANGES_ENV}`,
        field,
      )
    return u.origin
  }

  private async resolve(host: string, field: string): Promise<string[]> {
    const hit = this.cache.get(host)
    if (hit && this.now() - hit.at < RESOLVE_CACHE_MS) return hit.addresses
    let timer: ReturnType<typeof setTimeout> | undefined
    let addresses: string[]
    try {
      addresses = await Promise.race([
        this.resolveHost(host),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), RESOLVE_TIMEOUT_MS)
          timer.unref?.()
        }),
      ])
    } catch (err) {
      throw new PeerUrlRejectedError(
        `${field} host ${host} does not resolve (${(err as Error).message})`,
        field,
      )
    } finally {
      if (timer) clearTimeout(timer)
    }
    if (this.cache.size >= RESOLVE_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(host, { at: this.now(), addresses })
    return addresses
  }
}

/**
 * The exposure rule: a node or dashboard that listens beyond loopback without a cluster key lets
 * anyone on the network drive it, so that needs --insecure (or DISTLAB_INSECURE=1).
 */
export function checkExposure(o: {
  binds: Array<{ flag: string; host: string }>
  keyed: boolean
  insecure: boolean
}): void {
  if (o.keyed || o.insecure) return
  const open = o.binds.find((b) => !isLoopback(b.host))
  if (open)
    throw new InsecureBindError(
      `${open.flag} ${open.host} listens beyond loopback without a cluster key: anyone who can reach it could drive this node. ` +
        `Give a key (--key or DISTLAB_KEY), or accept the risk with --insecure (or ${INSECURE_ENV}=1)`,
      open.flag,
    )
}

/**
 * Caps the connections one remote address may hold open to `server`; the ones over the cap are
 * closed at once and reported.
 */
export function limitConnectionsPerAddress(
  server: Server,
  max = MAX_CONNECTIONS_PER_ADDRESS,
  onReject?: (address: string) => void,
): void {
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const a = socket.remoteAddress ?? '?'
    const n = (open.get(a) ?? 0) + 1
    if (n > max) {
      onReject?.(a)
      socket.destroy()
      return
    }
    open.set(a, n)
    socket.once('close', () => {
      const left = (open.get(a) ?? 1) - 1
      if (left <= 0) open.delete(a)
      else open.set(a, left)
    })
  })
}
