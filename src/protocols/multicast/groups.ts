// Overlay multicast for named groups: works wherever node-to-node frames do (Docker overlay
// networks, across machines), with no IP multicast underneath. Membership is state-based: each node
// broadcasts its whole set of groups, stamped with its clock and a version, whenever it changes,
// and every node keeps the latest stamp per node (last writer wins), so the view converges through
// the broadcast protocol's anti-entropy. A message to a group goes to each current member over a
// reliable unicast channel of its own (the same ARQ as unicast), so each member delivers it once;
// a node that has left drops what still reaches it.
import { createEnvelope, type Envelope } from '../../core/envelope.js'
import type { InboundMessage, Protocol, ProtocolComponents } from '../../core/interfaces.js'
import { NotStartedError, GroupError } from '../../core/errors.js'
import { checkString } from '../../core/options.js'
import { named, type Logger } from '../../core/logger.js'
import type { RouteHost } from '../../core/routes.js'
import { groupMulticastRoutes } from './routes.js'
import { Unicast } from '../unicast/unicast.js'
import { resolveUnicastOptions, type UnicastInit } from '../unicast/options.js'
import type { Broadcast } from '../broadcast/broadcast.js'
import type { BroadcastDelivery } from '../broadcast/options.js'
import { GROUP_NAME_PATTERN } from './constants.js'
import { GROUP_STATE_KIND, GroupMessage, GroupState } from './wire.js'
import { ACK, DATA, SKIP } from '../unicast/wire.js'

export interface GroupMulticastInit {
  /** The node's broadcast protocol, which carries membership changes. */
  broadcast: () => Broadcast | undefined
  /** Options of the reliable channel that carries group messages. */
  channel?: UnicastInit
  /** Time a group message may wait for a member's acknowledgement, in ms. @default 10000 */
  sendTimeoutMs?: number
}

export { GroupError }

export interface GroupDelivery {
  index: number
  group: string
  from: string
  msg: unknown
  at: number
}

export interface GroupSendResult {
  group: string
  from: string
  /** Members the message was addressed to (the sender's view), this node included if a member. */
  members: string[]
  delivered: string[]
  failed: Array<{ node: string; error: string }>
  /** Time until the last member acknowledged, in ms. */
  elapsedMs: number
}

export function checkGroupName(field: string, value: unknown): string {
  return checkString(field, value, GROUP_NAME_PATTERN)
}

export class GroupMulticast implements Protocol {
  readonly name = 'multicast'
  private readonly log: Logger
  private readonly channel: Unicast
  private readonly mine = new Set<string>()
  private version = 0
  /** Latest membership state per node: its groups, stamped (sentAt, version). */
  private readonly view = new Map<string, { groups: Set<string>; sentAt: number; version: number }>()
  private readonly log_: GroupDelivery[] = []
  private deliveredTotal = 0
  private unsubscribe?: () => void
  private running = false
  private readonly counters = { sent: 0, delivered: 0, notMember: 0 }

  constructor(
    private readonly c: ProtocolComponents,
    private readonly init: GroupMulticastInit,
  ) {
    this.log = named(c.logger, 'distlab:multicast')
    this.channel = new Unicast(
      c,
      resolveUnicastOptions({ deliveredLogMessages: 0, ...init.channel }),
      'multicast',
    )
    this.channel.onDeliver((d) => this.onChannel(d.from, d.msg))
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await this.channel.start()
    const b = this.init.broadcast()
    if (b) this.unsubscribe = b.onDeliver((d) => this.onState(d))
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.unsubscribe?.()
    await this.channel.stop()
  }

  handle(env: Envelope, msg: InboundMessage): void {
    if (env.type === DATA || env.type === ACK || env.type === SKIP) return this.channel.handle(env, msg)
    this.c.dropped(env, 'unknown_type')
  }

  // ---- membership ----

  async join(group: string): Promise<string[]> {
    checkGroupName('group', group)
    this.mine.add(group)
    await this.announce()
    this.log.info(`${this.c.self.name} joined group ${group}`)
    return [...this.mine].sort()
  }

  async leave(group: string): Promise<string[]> {
    checkGroupName('group', group)
    if (this.mine.delete(group)) {
      await this.announce()
      this.log.info(`${this.c.self.name} left group ${group}`)
    }
    return [...this.mine].sort()
  }

  private async announce(): Promise<void> {
    const b = this.init.broadcast()
    if (!b || !this.running) throw new NotStartedError('group membership needs the broadcast protocol')
    this.version++
    const state: GroupState = { groups: [...this.mine], version: this.version }
    await b.broadcast(state, { kind: GROUP_STATE_KIND, strategy: 'tree' })
  }

  private onState(d: BroadcastDelivery): void {
    if (d.kind !== GROUP_STATE_KIND) return
    const r = GroupState.safeParse(d.value)
    if (!r.success) return
    if (d.from === this.c.self.name) return
    const prev = this.view.get(d.from)
    if (prev && (prev.sentAt > d.sentAt || (prev.sentAt === d.sentAt && prev.version >= r.data.version)))
      return
    this.view.set(d.from, { groups: new Set(r.data.groups), sentAt: d.sentAt, version: r.data.version })
  }

  /** Current members of `group` as this node sees them (live nodes only), itself included. */
  members(group: string): string[] {
    const live = new Set(this.c.peers())
    const out = [...this.view].filter(([n, s]) => live.has(n) && s.groups.has(group)).map(([n]) => n)
    if (this.mine.has(group)) out.push(this.c.self.name)
    return out.sort()
  }

  groups(): Record<string, string[]> {
    const names = new Set(this.mine)
    for (const s of this.view.values()) for (const g of s.groups) names.add(g)
    return Object.fromEntries([...names].sort().map((g) => [g, this.members(g)]))
  }

  myGroups(): string[] {
    return [...this.mine].sort()
  }

  // ---- messages ----

  /** Sends `msg` to every current member of `group`; resolves once each acknowledged or failed. */
  async send(group: string, msg: unknown, options: { timeoutMs?: number } = {}): Promise<GroupSendResult> {
    if (!this.running) throw new NotStartedError('multicast is not started')
    checkGroupName('group', group)
    const started = performance.now()
    const members = this.members(group)
    const result: GroupSendResult = {
      group,
      from: this.c.self.name,
      members,
      delivered: [],
      failed: [],
      elapsedMs: 0,
    }
    const timeoutMs = options.timeoutMs ?? this.init.sendTimeoutMs ?? 10_000
    await Promise.all(
      members.map(async (m) => {
        if (m === this.c.self.name) {
          this.deliver(group, m, msg)
          result.delivered.push(m)
          return
        }
        this.counters.sent++
        try {
          const body: GroupMessage = { g: group, m: msg ?? null }
          await this.channel.send(m, body, { timeoutMs })
          result.delivered.push(m)
        } catch (err) {
          result.failed.push({ node: m, error: (err as Error).message })
        }
      }),
    )
    result.delivered.sort()
    result.elapsedMs = Math.round((performance.now() - started) * 1000) / 1000
    return result
  }

  private onChannel(from: string, raw: unknown): void {
    const r = GroupMessage.safeParse(raw)
    const env = createEnvelope({ proto: this.name, type: 'deliver', src: from, dst: `group:x`, body: null })
    if (!r.success) {
      this.c.dropped(env, 'bad_body')
      return
    }
    env.dst = `group:${r.data.g}`
    if (!this.mine.has(r.data.g)) {
      this.counters.notMember++
      this.c.dropped(env, 'not_member')
      return
    }
    this.c.delivered(env)
    this.deliver(r.data.g, from, r.data.m)
  }

  private deliver(group: string, from: string, msg: unknown): void {
    this.counters.delivered++
    const d: GroupDelivery = { index: this.deliveredTotal++, group, from, msg, at: Date.now() }
    this.log_.push(d)
    if (this.log_.length > 1000) this.log_.shift()
    this.log.info(`received multicast for ${group} from ${from}`)
  }

  delivered(since = 0, group?: string): { total: number; messages: GroupDelivery[] } {
    return {
      total: this.deliveredTotal,
      messages: this.log_.filter((d) => d.index >= since && (!group || d.group === group)),
    }
  }

  stats(): { sent: number; delivered: number; notMember: number; channel: ReturnType<Unicast['stats']> } {
    return { ...this.counters, channel: this.channel.stats() }
  }

  routes(app: RouteHost): void {
    groupMulticastRoutes(app, this, this.c.self.name)
  }
}

export function groupMulticast(init: GroupMulticastInit): (c: ProtocolComponents) => GroupMulticast {
  return (c) => new GroupMulticast(c, init)
}
