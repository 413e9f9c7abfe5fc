// Cluster key: node-to-node frames carry an HMAC-SHA256 (RFC 2104) over the frame's bytes, with a
// key id so that keys can be rotated without downtime (a node accepts every key of its keyring and
// signs with the first), and a signing time and nonce so that a captured frame cannot be played
// again (a time window plus a bounded cache of recent nonces per sender, the scheme of RFC 4303's
// anti-replay window with timestamps in place of sequence numbers). The HTTP API's bearer token is
// derived from the same secret, so one secret is all an operator hands out.
import { createHash, createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Envelope } from './envelope.js'
import type { PeerAddress, Transport, TransportHandler } from './interfaces.js'
import {
  FrameDecodeError,
  InvalidArgumentError,
  type DecodeFailure,
  KeyError,
  UnauthorizedError,
} from './errors.js'
import {
  decodeFrame,
  encodeFrame,
  type AuthFailure,
  type CodecLimits,
  type FrameAuthenticator,
  type FrameStamp,
} from './frame.js'
import { checkInteger } from './options.js'

/** Frames signed more than this far from the receiver's clock are rejected, in ms (clock skew allowance). */
export const REPLAY_WINDOW_MS = 30_000
/** Nonces remembered per sender; beyond it the oldest go and frames older than they are refused. */
export const MAX_NONCES_PER_SENDER = 4096
/** Senders whose nonces are remembered; beyond it the least recently heard is forgotten. */
export const MAX_REPLAY_SENDERS = 1024
/** Shortest secret accepted, in characters. */
export const MIN_SECRET_CHARS = 8
/** Environment variable holding the cluster key (a secret, or `id:secret,id:secret`). */
export const KEY_ENV = 'DISTLAB_KEY'
/** The file in the state dir that keeps the cluster key for the CLI (mode 0600). */
export const KEY_FILE = 'cluster.key'

const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/
const FRAME_LABEL = 'distlab frame key v1'
const TOKEN_LABEL = 'distlab http token v1'
// v2: the MAC covers the frame's bytes (src/core/frame.ts), not a canonical form of the envelope.
const MAC_LABEL = 'distlab-frame-mac-v2\n'

export type { AuthFailure } from './frame.js'
export const AUTH_FAILURES: readonly AuthFailure[] = ['no_mac', 'unknown_key', 'bad_mac', 'stale', 'replay']

export { KeyError, UnauthorizedError }

export interface ClusterKey {
  readonly id: string
  /** Key for frame MACs, derived from the secret. */
  readonly frameKey: Buffer
  /** Bearer token for the HTTP API, derived from the secret: `<id>.<64 hex>`. */
  readonly token: string
}

function deriveKey(id: string, secret: string): ClusterKey {
  const frameKey = createHmac('sha256', secret).update(FRAME_LABEL).digest()
  const token = `${id}.${createHmac('sha256', secret).update(TOKEN_LABEL).digest('hex')}`
  return Object.freeze({ id, frameKey, token })
}

/** The default id of a secret: 8 hex digits of its SHA-256, so every node derives the same one. */
export function keyIdOf(secret: string): string {
  return createHash('sha256').update('distlab key id\n').update(secret).digest('hex').slice(0, 8)
}

/**
 * Parses a key spec: `secret`, or `id:secret[,id:secret...]` (the first key signs; all verify).
 * Rotation without downtime: restart the nodes one by one with `old:S1,new:S2` (signing with the
 * old key, accepting both), then one by one with `new:S2,old:S1`, then with `new:S2` alone.
 */
export function parseKeySpec(spec: string): Array<{ id: string; secret: string }> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new KeyError('the cluster key is empty')
  const entries = spec.split(',').map((e) => e.trim())
  const many = entries.length > 1
  const out = entries.map((entry) => {
    const colon = entry.indexOf(':')
    const id = colon > 0 ? entry.slice(0, colon) : ''
    if (colon > 0 && KEY_ID.test(id)) return { id, secret: entry.slice(colon + 1) }
    if (many) throw new KeyError('with several keys, write each as id:secret (id: 1-16 of A-Z a-z 0-9 _ -)')
    return { id: keyIdOf(entry), secret: entry }
  })
  const ids = new Set<string>()
  for (const k of out) {
    if (k.secret.length < MIN_SECRET_CHARS)
      throw new KeyError(`the cluster key ${k.id} is shorter than ${MIN_SECRET_CHARS} characters`)
    if (ids.has(k.id)) throw new KeyError(`two cluster keys have the id ${k.id}`)
    ids.add(k.id)
  }
  return out
}

/** Every key a node accepts; the first signs. */
export class Keyring {
  readonly keys: readonly ClusterKey[]
  private readonly byId: Map<string, ClusterKey>

  constructor(spec: string) {
    this.keys = Object.freeze(parseKeySpec(spec).map((k) => deriveKey(k.id, k.secret)))
    this.byId = new Map(this.keys.map((k) => [k.id, k]))
  }

  get current(): ClusterKey {
    return this.keys[0]!
  }

  key(id: string): ClusterKey | undefined {
    return this.byId.get(id)
  }

  /** `Authorization` header value for calls to other nodes. */
  bearer(): string {
    return `Bearer ${this.current.token}`
  }

  /** True when `header` is `Bearer <token>` of any key of the ring (compared in constant time). */
  acceptsBearer(header: string | undefined): boolean {
    if (typeof header !== 'string') return false
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m) return false
    const given = Buffer.from(m[1]!, 'utf8')
    let ok = false
    for (const k of this.keys) {
      const want = Buffer.from(k.token, 'utf8')
      if (given.length === want.length && timingSafeEqual(given, want)) ok = true
    }
    return ok
  }
}

export function keyring(spec: string | Keyring): Keyring {
  return spec instanceof Keyring ? spec : new Keyring(spec)
}

// ---- the replay window ----

interface SenderWindow {
  nonces: Set<string>
  /** The nonces in `nonces` and their signing times in arrival order, from `head` on (a queue). */
  order: string[]
  times: number[]
  head: number
  /** Frames signed at or before this time are refused: their nonces may have been forgotten. */
  floor: number
  newest: number
}

/**
 * Remembers the nonces of recently accepted frames per sender. Memory is bounded by
 * MAX_NONCES_PER_SENDER × MAX_REPLAY_SENDERS entries, and only frames with a valid MAC get in.
 * The nonces leave in arrival order from a queue beside the set (a Map iterated from its oldest
 * entry would step over every entry deleted before it, on every frame).
 */
export class ReplayWindow {
  private readonly senders = new Map<string, SenderWindow>()
  private globalFloor = 0
  private lastSender: string | undefined

  constructor(
    private readonly windowMs = REPLAY_WINDOW_MS,
    private readonly maxNonces = MAX_NONCES_PER_SENDER,
    private readonly maxSenders = MAX_REPLAY_SENDERS,
  ) {
    checkInteger('windowMs', windowMs, 1)
    checkInteger('maxNonces', maxNonces, 1)
    checkInteger('maxSenders', maxSenders, 1)
  }

  /** Checks and records one frame; undefined when it is fresh. */
  check(sender: string, signedAt: number, nonce: string, now: number): 'stale' | 'replay' | undefined {
    if (Math.abs(now - signedAt) > this.windowMs) return 'stale'
    let w = this.senders.get(sender)
    if (w) {
      if (sender !== this.lastSender) {
        this.senders.delete(sender) // keep the map in least-recently-heard order
        this.senders.set(sender, w)
      }
    } else {
      w = { nonces: new Set(), order: [], times: [], head: 0, floor: this.globalFloor, newest: 0 }
      this.senders.set(sender, w)
      if (this.senders.size > this.maxSenders) {
        const [oldest, ow] = this.senders.entries().next().value as [string, SenderWindow]
        this.senders.delete(oldest)
        this.globalFloor = Math.max(this.globalFloor, ow.newest)
      }
    }
    this.lastSender = sender
    if (signedAt <= w.floor) return 'replay'
    if (w.nonces.has(nonce)) return 'replay'
    w.nonces.add(nonce)
    w.order.push(nonce)
    w.times.push(signedAt)
    if (signedAt > w.newest) w.newest = signedAt
    // Forget what the time window refuses anyway, then the oldest beyond the cap.
    while (w.head < w.order.length) {
      const t = w.times[w.head]!
      if (t >= now - this.windowMs && w.nonces.size <= this.maxNonces) break
      w.nonces.delete(w.order[w.head]!)
      if (t > w.floor) w.floor = t
      w.head++
    }
    if (w.head > 1024 && w.head * 2 > w.order.length) {
      w.order = w.order.slice(w.head)
      w.times = w.times.slice(w.head)
      w.head = 0
    }
    return undefined
  }

  /** Nonces held, for tests and metrics. */
  size(): number {
    let n = 0
    for (const w of this.senders.values()) n += w.nonces.size
    return n
  }
}

// ---- sealing and opening frames ----

// HMAC (RFC 2104) as two one-shot SHA-256 calls over precomputed pads: H(K^opad | H(K^ipad | m)).
// createHmac builds a key object and a context per call, which costs as much as the hashing of a
// typical frame; the one-shot hash copies the message behind the inner pad in a reused buffer.
const SHA256_BLOCK_BYTES = 64
const SHA256_BYTES = 32
/** Messages up to this size are MACed by the one-shot path; larger ones by createHmac (no copy). */
const ONE_SHOT_MAX_BYTES = 64 * 1024

interface MacPads {
  /** K ⊕ ipad, then the label: the start of the inner hash's input. */
  inner: Buffer
  /** K ⊕ opad: the start of the outer hash's input. */
  outer: Buffer
  key: Buffer
}

function macPads(key: Buffer): MacPads {
  // A key longer than the block would be hashed first (RFC 2104); derived frame keys are 32 bytes.
  if (key.length > SHA256_BLOCK_BYTES) throw new KeyError('a frame key is longer than the SHA-256 block')
  const label = Buffer.from(MAC_LABEL, 'latin1')
  const inner = Buffer.alloc(SHA256_BLOCK_BYTES + label.length, 0x36)
  const outer = Buffer.alloc(SHA256_BLOCK_BYTES, 0x5c)
  for (let i = 0; i < key.length; i++) {
    inner[i] = inner[i]! ^ key[i]!
    outer[i] = outer[i]! ^ key[i]!
  }
  label.copy(inner, SHA256_BLOCK_BYTES)
  return { inner, outer, key }
}

export interface FrameGuardInit {
  keyring: string | Keyring
  /** @default Date.now */
  now?: () => number
  /** @default REPLAY_WINDOW_MS */
  replayWindowMs?: number
}

/** Signs outgoing envelopes and checks incoming ones for one node. */
export class FrameGuard implements FrameAuthenticator {
  readonly keyring: Keyring
  private readonly now: () => number
  private readonly replay: ReplayWindow
  private lastSigned = 0
  // Nonces: a random prefix per guard (so per node start) and a counter; unique without asking
  // the kernel for randomness on every frame.
  private readonly noncePrefix = randomBytes(6).toString('base64url')
  private nonceCounter = 0
  private readonly pads: Map<string, MacPads>
  private scratch = Buffer.alloc(0)
  private readonly outerScratch = Buffer.alloc(SHA256_BLOCK_BYTES + SHA256_BYTES)

  constructor(init: FrameGuardInit) {
    this.keyring = keyring(init.keyring)
    this.pads = new Map(this.keyring.keys.map((k) => [k.id, macPads(k.frameKey)]))
    this.now = init.now ?? Date.now
    this.replay = new ReplayWindow(init.replayWindowMs ?? REPLAY_WINDOW_MS)
  }

  stamp(): FrameStamp {
    // Signing times never go backwards, so a restarted receiver's floor cannot refuse them.
    const signedAt = Math.max(Math.floor(this.now()), this.lastSigned)
    this.lastSigned = signedAt
    return {
      keyId: this.keyring.current.id,
      signedAt,
      nonce: `${this.noncePrefix}${(this.nonceCounter++).toString(36)}`,
    }
  }

  mac(keyId: string, signed: Uint8Array): Buffer | undefined {
    const pads = this.pads.get(keyId)
    if (!pads) return undefined
    if (signed.length > ONE_SHOT_MAX_BYTES)
      return createHmac('sha256', pads.key).update(MAC_LABEL).update(signed).digest()
    const head = pads.inner.length
    if (this.scratch.length < head + signed.length)
      this.scratch = Buffer.allocUnsafe(Math.min(head + ONE_SHOT_MAX_BYTES, 2 * (head + signed.length)))
    pads.inner.copy(this.scratch, 0)
    this.scratch.set(signed, head)
    // The digests come back as latin1 ('binary') strings, one char a byte: Node's one-shot hash
    // costs about three times as much per call when it returns a Buffer.
    const inner = hash('sha256', this.scratch.subarray(0, head + signed.length), 'binary')
    pads.outer.copy(this.outerScratch, 0)
    this.outerScratch.write(inner, SHA256_BLOCK_BYTES, SHA256_BYTES, 'latin1')
    return Buffer.from(hash('sha256', this.outerScratch, 'binary'), 'latin1')
  }

  admit(src: string, signedAt: number, nonce: string): 'stale' | 'replay' | undefined {
    return this.replay.check(src, signedAt, nonce, this.now())
  }

  /** The frame bytes of `env`, sealed with the current key. */
  sealFrame(env: Envelope, limits: Omit<CodecLimits, 'auth'> = {}): Buffer {
    return encodeFrame(env, { ...limits, auth: this })
  }

  /** Authenticates, then decodes, one received frame: the envelope, or why it is refused. */
  openFrame(
    buf: Uint8Array,
    limits: Omit<CodecLimits, 'auth'> = {},
  ): { env: Envelope } | { reason: DecodeFailure } {
    try {
      return { env: decodeFrame(buf, { ...limits, auth: this }) }
    } catch (err) {
      if (err instanceof FrameDecodeError) return { reason: err.reason }
      throw err
    }
  }

  /** Nonces held by the replay window. */
  replayEntries(): number {
    return this.replay.size()
  }
}

/**
 * Wraps a transport so that every frame it sends is sealed and every frame it receives is
 * authenticated over its bytes before it is parsed (the transport's codec calls the guard); a frame
 * that does not open reaches the drop handler with the reason, never the node.
 */
export class AuthTransport implements Transport {
  readonly kind

  constructor(
    private readonly inner: Transport,
    guard: FrameGuard,
  ) {
    this.kind = inner.kind
    if (!inner.setFrameAuth)
      throw new InvalidArgumentError(
        `the ${inner.kind} transport cannot carry authenticated frames (it has no setFrameAuth)`,
        'transports',
      )
    inner.setFrameAuth(guard)
  }

  setHandler(handler: TransportHandler): void {
    this.inner.setHandler(handler)
  }

  start(): Promise<void> {
    return this.inner.start()
  }

  stop(): Promise<void> {
    return this.inner.stop()
  }

  address(): PeerAddress {
    return this.inner.address()
  }

  send(to: PeerAddress, env: Envelope, replyOn?: PeerAddress): Promise<number> {
    return this.inner.send(to, env, replyOn)
  }
}

// ---- the key on disk, for the CLI ----

/**
 * Writes a secret (a key, a token) as one line to `<dir>/<name>`, readable by its owner only: the
 * old file goes first, so a file another user made cannot keep its mode. Returns the path.
 */
export function writeSecretFile(dir: string, name: string, secret: string): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, name)
  rmSync(file, { force: true })
  writeFileSync(file, secret + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
  return file
}

/** Writes the cluster key to `<stateDir>/cluster.key`, readable by its owner only. */
export function writeKeyFile(stateDir: string, spec: string): string {
  return writeSecretFile(stateDir, KEY_FILE, spec)
}

export function removeKeyFile(stateDir: string): void {
  rmSync(join(stateDir, KEY_FILE), { force: true })
}

/** The running cluster's key: `<stateDir>/cluster.key`, else $DISTLAB_KEY, else undefined. */
export function readClusterKey(stateDir?: string): string | undefined {
  if (stateDir) {
    try {
      const spec = readFileSync(join(stateDir, KEY_FILE), 'utf8').trim()
      if (spec) return spec
    } catch {
      // no key file: an open cluster, or a key in the environment
    }
  }
  return process.env[KEY_ENV] || undefined
}

/** `{ authorization: 'Bearer ...' }` for the CLI's calls to a keyed cluster, `{}` for an open one. */
export function bearerHeaders(stateDir?: string): Record<string, string> {
  const spec = readClusterKey(stateDir)
  if (!spec) return {}
  try {
    return { authorization: new Keyring(spec).bearer() }
  } catch {
    return {}
  }
}
