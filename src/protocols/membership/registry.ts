// What a registry needs before it calls a URL someone handed it: a strict URL check (http and
// https only, no credentials, no path) and a token bucket that bounds registrations per second.
import { InvalidPeerUrlError } from '../../core/errors.js'
import { MAX_URL_LENGTH } from './constants.js'

export { InvalidPeerUrlError }

/**
 * `http://node1:5000/` → `http://node1:5000`. Throws InvalidPeerUrlError for anything that is not
 * a plain http(s) origin: other schemes, user:password@, a path, a query or a fragment.
 */
export function normalizePeerUrl(value: unknown, field = 'url'): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidPeerUrlError(`${field} must be a non-empty string such as "http://node1:5000"`, field)
  if (value.length > MAX_URL_LENGTH)
    throw new InvalidPeerUrlError(`${field} is longer than ${MAX_URL_LENGTH} characters`, field)
  let u: URL
  try {
    u = new URL(value)
  } catch {
    throw new InvalidPeerUrlError(`${field} is not a URL: ${JSON.stringify(value.slice(0, 80))}`, field)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new InvalidPeerUrlError(
      `${field} must use http or https, not ${u.protocol.replace(/:$/, '')}`,
      field,
    )
  if (u.username || u.password) throw new InvalidPeerUrlError(`${field} must not carry credentials`, field)
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash)
    throw new InvalidPeerUrlError(
      `${field} must be scheme://host:port with no path, query or fragment`,
      field,
    )
  if (!u.hostname) throw new InvalidPeerUrlError(`${field} has no host`, field)
  return u.origin
}

/** The classic token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst
    this.last = now()
  }

  take(): boolean {
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate)
    this.last = t
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/**
 * A counting semaphore. The peers of one process share one for their registrations: a thousand
 * in-process peers each opening a connection to the registry at once overflowed its accept backlog,
 * the dropped SYNs were retried only after a second or more, and requests timed out while queued.
 */
export class Gate {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r))
    else this.active++
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.active--
    }
  }
}
