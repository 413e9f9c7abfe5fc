// Link emulator: wraps any transport and applies, per destination node or for all links, loss,
// drop-every-n, delay with jitter, duplication, reordering, corruption, a bandwidth limit and
// partitions. Rules act on the sending
// side (a rule for a→b shapes what a sends to b); partitions are checked on both sides, so a
// message addressed to every node (IP broadcast, multicast) is cut too.
import type { Envelope } from '../core/envelope.js'
import type { DropInfo, PeerAddress, Transport, TransportHandler } from '../core/interfaces.js'
import { systemClock, type Clock } from '../core/clock.js'
import { checkInteger, checkNumber, checkProbability, checkString } from '../core/options.js'
import { InvalidArgumentError } from '../core/errors.js'
import type { LinkRule, LinkRuleInit } from '../core/link-rule.js'

export const ALL_LINKS = '*'

// The rule's type is core's (src/core/link-rule.ts): the launchers and the CLI set rules with it too.
export type { LinkRule, LinkRuleInit }

export const NO_RULE: LinkRule = Object.freeze({
  loss: 0,
  dropEvery: 0,
  delayMs: 0,
  jitterMs: 0,
  duplicate: 0,
  reorder: 0,
  corrupt: 0,
  rateBps: 0,
})

export function resolveLinkRule(init: LinkRuleInit = {}, base: LinkRule = NO_RULE): LinkRule {
  return Object.freeze({
    loss: checkProbability('loss', init.loss ?? base.loss),
    dropEvery: checkInteger('dropEvery', init.dropEvery ?? base.dropEvery, 0),
    delayMs: checkNumber('delayMs', init.delayMs ?? base.delayMs, 0, 60_000),
    jitterMs: checkNumber('jitterMs', init.jitterMs ?? base.jitterMs, 0, 60_000),
    duplicate: checkProbability('duplicate', init.duplicate ?? base.duplicate),
    reorder: checkProbability('reorder', init.reorder ?? base.reorder),
    corrupt: checkProbability('corrupt', init.corrupt ?? base.corrupt),
    rateBps: checkNumber('rateBps', init.rateBps ?? base.rateBps, 0, 1e12),
  })
}

export function isNoRule(r: LinkRule): boolean {
  return (
    r.loss === 0 &&
    r.dropEvery === 0 &&
    r.delayMs === 0 &&
    r.jitterMs === 0 &&
    r.duplicate === 0 &&
    r.reorder === 0 &&
    r.corrupt === 0 &&
    r.rateBps === 0
  )
}

const RATE = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?$/i
const RATE_UNIT: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
}

/** `1mbit`, `500kbit`, `2mbps` (bytes, as tc says), or a bare number of bits per second → bits per second. */
export function parseRate(field: string, text: string): number {
  const m = RATE.exec(text.trim())
  if (!m)
    throw new InvalidArgumentError(
      `${field} must be a rate such as 1mbit, 500kbit or 2mbps, got ${JSON.stringify(text)}`,
      field,
    )
  return Number(m[1]) * RATE_UNIT[(m[2] ?? 'bit').toLowerCase()]!
}

/**
 * When a message of `bytes` may leave on a link of `rateBps` whose previous message left the
 * line at `busyUntil` (ms): serialisation one after another, as a token bucket of one packet.
 */
export function rateRelease(now: number, busyUntil: number, bytes: number, rateBps: number): number {
  if (rateBps <= 0) return now
  return Math.max(now, busyUntil) + (bytes * 8 * 1000) / rateBps
}

/** Validates partition groups: non-empty names, no node in two groups. */
export function resolvePartition(groups: unknown): string[][] {
  if (!Array.isArray(groups) || groups.length < 2)
    throw new InvalidArgumentError('groups must be a list of at least two groups of node names', 'groups')
  const seen = new Set<string>()
  return groups.map((g, i) => {
    if (!Array.isArray(g) || g.length === 0)
      throw new InvalidArgumentError(`groups[${i}] must be a non-empty list`, 'groups')
    return g.map((name) => {
      const n = checkString(`groups[${i}]`, name)
      if (seen.has(n)) throw new InvalidArgumentError(`node ${n} is in more than one group`, 'groups')
      seen.add(n)
      return n
    })
  })
}

/**
 * The rules and partition of one node. A node's UDP and TCP emulators share one table, so a rule
 * set through the API shapes both.
 */
export class LinkTable {
  private readonly rules = new Map<string, LinkRule>()
  private readonly sentPerPeer = new Map<string, number>()
  private readonly busyUntil = new Map<string, number>()
  private groupOf = new Map<string, number>()

  constructor(readonly self: string) {}

  /** Sets the rule for frames to `peer`, or for every link with `*`. Fields left out keep their value. */
  setRule(peer: string, init: LinkRuleInit): LinkRule {
    checkString('peer', peer)
    const rule = resolveLinkRule(init, this.rules.get(peer) ?? NO_RULE)
    if (isNoRule(rule)) this.rules.delete(peer)
    else this.rules.set(peer, rule)
    return rule
  }

  ruleFor(peer: string): LinkRule {
    return this.rules.get(peer) ?? this.rules.get(ALL_LINKS) ?? NO_RULE
  }

  listRules(): Record<string, LinkRule> {
    return Object.fromEntries(this.rules)
  }

  setPartition(groups: unknown): void {
    const validated = resolvePartition(groups)
    this.groupOf = new Map(validated.flatMap((g, i) => g.map((n) => [n, i] as const)))
  }

  partition(): string[][] {
    const groups: string[][] = []
    for (const [n, i] of this.groupOf) (groups[i] ??= []).push(n)
    return groups.filter(Boolean)
  }

  /** Removes every rule and partition. */
  heal(): void {
    this.rules.clear()
    this.groupOf = new Map()
    this.sentPerPeer.clear()
    this.busyUntil.clear()
  }

  /** True when this node and `peer` are in different groups; nodes in no group reach everyone. */
  partitioned(peer: string): boolean {
    const mine = this.groupOf.get(this.self)
    const theirs = this.groupOf.get(peer)
    return mine !== undefined && theirs !== undefined && mine !== theirs
  }

  /** The delay, in ms from `now`, a message of `bytes` to `peer` waits for the link's bandwidth. */
  rateDelay(peer: string, now: number, bytes: number, rateBps: number): number {
    if (rateBps <= 0) return 0
    const at = rateRelease(now, this.busyUntil.get(peer) ?? 0, bytes, rateBps)
    this.busyUntil.set(peer, at)
    return at - now
  }

  /** Counts a frame to `peer` and says whether it is the n-th to drop. */
  countAndCheckDropEvery(peer: string, every: number): boolean {
    const n = (this.sentPerPeer.get(peer) ?? 0) + 1
    this.sentPerPeer.set(peer, n)
    return n % every === 0
  }
}

export interface LinkEmulatorInit {
  /** This node's name, or the table it shares with its other transports. */
  table: LinkTable
  clock?: Clock
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number
  /** Called for every frame actually put on the wire (after emulation), with its size. */
  onWire?: (env: Envelope, bytes: number) => void
}

function bodyBytes(body: unknown): number {
  if (body instanceof Uint8Array) return body.length
  try {
    return JSON.stringify(body)?.length ?? 0
  } catch {
    return 0
  }
}

export class LinkEmulator implements Transport {
  readonly kind
  readonly table: LinkTable
  private handler?: TransportHandler
  private readonly pending = new Set<ReturnType<Clock['setTimeout']>>()
  private readonly clock: Clock
  private readonly random: () => number

  constructor(
    private readonly inner: Transport,
    private readonly init: LinkEmulatorInit,
  ) {
    this.kind = inner.kind
    this.table = init.table
    this.clock = init.clock ?? systemClock
    this.random = init.random ?? Math.random
    inner.setHandler({
      message: (msg) => {
        if (this.table.partitioned(msg.env.src))
          this.handler?.drop({
            reason: 'partition',
            bytes: msg.bytes,
            transport: msg.transport,
            direction: 'in',
            from: msg.from,
            env: msg.env,
          })
        else this.handler?.message(msg)
      },
      drop: (info) => this.handler?.drop(info),
    })
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler
  }

  start(): Promise<void> {
    return this.inner.start()
  }

  async stop(): Promise<void> {
    for (const t of this.pending) this.clock.clearTimeout(t)
    this.pending.clear()
    await this.inner.stop()
  }

  address(): PeerAddress {
    return this.inner.address()
  }

  async send(to: PeerAddress, env: Envelope, replyOn?: PeerAddress): Promise<number> {
    if (this.table.partitioned(env.dst)) return this.dropped('partition', env)
    const rule = this.table.ruleFor(env.dst)
    if (rule === NO_RULE) return this.wire(to, env, replyOn)
    if (rule.dropEvery > 0 && this.table.countAndCheckDropEvery(env.dst, rule.dropEvery))
      return this.dropped('drop_every', env)
    if (rule.loss > 0 && this.random() < rule.loss) return this.dropped('loss', env)
    if (rule.corrupt > 0 && this.random() < rule.corrupt) return this.dropped('corrupt', env)
    // The bandwidth limit delays by the frame's size: the body plus about 100 bytes of header.
    const rateDelayMs =
      rule.rateBps > 0
        ? this.table.rateDelay(env.dst, this.clock.now(), bodyBytes(env.body) + 100, rule.rateBps)
        : 0
    const copies = rule.duplicate > 0 && this.random() < rule.duplicate ? 2 : 1
    for (let i = 0; i < copies; i++) {
      let delay =
        rateDelayMs + rule.delayMs + (rule.jitterMs > 0 ? (this.random() * 2 - 1) * rule.jitterMs : 0)
      if (rule.reorder > 0 && this.random() < rule.reorder)
        delay += Math.max(2 * rule.jitterMs, rule.delayMs, 20)
      delay = Math.max(0, delay)
      if (delay === 0) {
        await this.wire(to, env, replyOn)
        continue
      }
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(timer)
        this.wire(to, env, replyOn).catch(() => {})
      }, delay)
      this.pending.add(timer)
    }
    return 0
  }

  private async wire(to: PeerAddress, env: Envelope, replyOn?: PeerAddress): Promise<number> {
    let bytes: number
    try {
      bytes = await this.inner.send(to, env, replyOn)
    } catch (err) {
      this.handler?.drop({ reason: 'send_failed', bytes: 0, transport: this.kind, direction: 'out', env })
      throw err
    }
    this.init.onWire?.(env, bytes)
    return bytes
  }

  private dropped(reason: DropInfo['reason'], env: Envelope): number {
    this.handler?.drop({ reason, bytes: 0, transport: this.kind, direction: 'out', env })
    return 0
  }
}
