// A membership overlay simulated in one process on a clock of its own: a registry and N peers, the
// real protocol code (membership.ts and its layers), frames handed from one to another after a
// random one-way delay and lost at a configurable rate, registrations made by call (the in-process
// launcher's RegistryDirectory). Time moves from one timer to the next, so a minute of a lossy
// cluster takes a fraction of a second and a run is repeatable from its seed: many runs give a rate
// (of false removals, say) where a real-time test gives one sample a minute. What it leaves out: the
// CPU (a process never stalls, so no timer fires late), HTTP, and the wire's encoding.
import { createRootLogger, silentLogger, type Logger } from '../../../src/core/logger.js'
import type { Clock, TimerHandle } from '../../../src/core/clock.js'
import type { Envelope } from '../../../src/core/envelope.js'
import type { MetricsSink, ProtocolComponents } from '../../../src/core/interfaces.js'
import { seededRandom } from '../../../src/core/random.js'
import { NO_RULE } from '../../../src/link/emulator.js'
import {
  DEATH_CHECK_ROUNDS,
  MAX_HEALTH,
  membership,
  PROBE_INTERVAL_MS,
  PROBE_TIMEOUT_MS,
  PUSH_PULL_INTERVAL_MS,
  PUSH_PULL_SCALE_THRESHOLD,
  RegistryDirectory,
  SUSPICION_MAX_TIMEOUT_MULT,
  SUSPICION_MULT,
  suspicionBounds,
  type Membership,
  type MembershipInit,
} from '../../../src/protocols/membership/index.js'

/** A clock whose timers sit in a binary heap; `SimCluster.run` moves it from one to the next. */
export class SimClock implements Clock {
  private time: number
  private nextId = 1
  private readonly heap: Array<{ at: number; id: number; fn: () => void }> = []
  private readonly live = new Set<number>()

  constructor(start: number) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++
    this.push({ at: this.time + Math.max(0, ms), id, fn })
    this.live.add(id)
    return { id }
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'object' && handle !== null && 'id' in handle) this.live.delete(handle.id as number)
  }

  /** Fires the earliest timer due by `end` (moving time to it) and says whether there was one. */
  fireNext(end: number): boolean {
    for (;;) {
      const top = this.heap[0]
      if (!top || top.at > end) return false
      this.pop()
      if (!this.live.delete(top.id)) continue
      this.time = top.at
      top.fn()
      return true
    }
  }

  /** Moves time to `t` (no timer may be due before it). */
  setNow(t: number): void {
    this.time = Math.max(this.time, t)
  }

  private push(e: { at: number; id: number; fn: () => void }): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (before(h[p]!, e)) break
      h[i] = h[p]!
      i = p
    }
    h[i] = e
  }

  private pop(): void {
    const h = this.heap
    const last = h.pop()!
    if (h.length === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && before(h[r]!, h[l]!) ? r : l
      if (before(last, h[c]!)) break
      h[i] = h[c]!
      i = c
    }
    h[i] = last
  }
}

const before = (a: { at: number; id: number }, b: { at: number; id: number }) =>
  a.at < b.at || (a.at === b.at && a.id < b.id)

const NO_METRICS: MetricsSink = { inc: () => {}, observe: () => {}, total: () => 0 }

export interface SimClusterInit {
  /** Peers besides the registry. */
  peers: number
  /** Seeds the loss, the delays and every member's random choices. */
  seed: number
  /** Timings every member runs with (the `lan` defaults when left out). */
  options?: MembershipInit
  /** One-way delay of a frame: at least this, in ms. @default 0.2 */
  minDelayMs?: number
  /** ...plus an exponentially distributed extra of this mean, in ms (a busy event loop). @default 2 */
  meanExtraDelayMs?: number
  /** Every member's debug log, and every frame (`lost` or not), for a look at one run. */
  trace?: {
    log?: (at: number, member: string, line: string) => void
    frame?: (at: number, from: string, to: string, type: string, body: unknown, lost: boolean) => void
  }
}

export interface SimMember {
  name: string
  url: string
  m: Membership
  dead: boolean
}

/** A removal some view made, with the viewer. */
export interface SimRemoval {
  viewer: string
  name: string
  inc: number
  at: number
  why: string
}

export class SimCluster {
  readonly clock = new SimClock(1_700_000_000_000)
  readonly members: SimMember[] = []
  /** Every frame is lost with this probability (both ways: each frame decides on its own). */
  loss = 0
  frames = 0
  /** Frames sent to a member that was killed (probes and last checks of a dead member). */
  framesToDead = 0
  private readonly random: () => number
  private readonly byAddress = new Map<string, SimMember>()
  private readonly directory = new RegistryDirectory()
  private frameId = 0

  constructor(private readonly init: SimClusterInit) {
    this.random = seededRandom(init.seed)
    const registry = this.add('master', '127.70.1.1', { registry: true })
    for (let i = 1; i <= init.peers; i++)
      this.add(`node${i}`, `127.70.${2 + (i >> 8)}.${i & 255}`, { bootstrapUrl: registry.url })
  }

  get registry(): SimMember {
    return this.members[0]!
  }

  get peers(): SimMember[] {
    return this.members.slice(1)
  }

  private add(name: string, host: string, role: MembershipInit): SimMember {
    const rand = seededRandom(Math.floor(this.randomSeed()))
    const c: ProtocolComponents = {
      self: { name, id: `${name}-id`, bindHost: host, host, framePort: 7000, httpPort: 5000 },
      logger: this.loggerFor(name),
      clock: this.clock,
      send: async (dst, type, body, options) => {
        const to = options?.address && this.byAddress.get(`${options.address.host}:${options.address.port}`)
        if (!to || member.dead) return
        if (to.dead) {
          this.framesToDead++
          return
        }
        this.frames++
        const lost = this.loss > 0 && this.random() < this.loss
        this.init.trace?.frame?.(this.clock.now(), name, to.name, type, body, lost)
        if (lost) return
        const env: Envelope = {
          v: 1,
          id: `${name}-${++this.frameId}`,
          proto: 'membership',
          type,
          src: name,
          dst,
          ts: this.clock.now(),
          body: JSON.parse(JSON.stringify(body)) as unknown,
        }
        const transport = options?.transport ?? 'udp'
        this.clock.setTimeout(() => {
          if (to.dead) return
          to.m.handle(env, { env, from: { host, port: 7000 }, bytes: 0, transport })
        }, this.delayMs())
      },
      peers: () => [],
      delivered: () => {},
      dropped: () => {},
      members: () => [],
      links: { partitioned: () => false, ruleFor: () => NO_RULE },
      metrics: NO_METRICS,
      record: () => {},
    }
    const m = membership({ ...this.init.options, ...role, random: rand, directory: this.directory })(c)
    const member: SimMember = { name, url: `http://${host}:5000`, m, dead: false }
    this.members.push(member)
    this.byAddress.set(`${host}:7000`, member)
    return member
  }

  private loggerFor(name: string): Logger {
    const log = this.init.trace?.log
    if (!log) return silentLogger
    return createRootLogger({
      level: 'debug',
      format: 'json',
      write: (line) => log(this.clock.now(), name, (JSON.parse(line) as { msg: string }).msg),
    })
  }

  private randomSeed(): number {
    return this.random() * 2 ** 32
  }

  private delayMs(): number {
    const min = this.init.minDelayMs ?? 0.2
    const mean = this.init.meanExtraDelayMs ?? 2
    return min + (mean > 0 ? -Math.log(1 - this.random()) * mean : 0)
  }

  async start(): Promise<void> {
    for (const s of this.members) {
      await s.m.start()
      await this.run(10)
    }
  }

  /**
   * Runs `ms` of simulated time: fires each timer in turn, and lets the promises and setImmediate
   * callbacks it started run before the next (the protocol decides a probe's fate in a
   * setImmediate after its ack timer).
   */
  async run(ms: number, until?: () => boolean): Promise<boolean> {
    const end = this.clock.now() + ms
    while (this.clock.fireNext(end)) {
      await new Promise((r) => setImmediate(r))
      if (until?.()) return true
    }
    this.clock.setNow(end)
    return until?.() ?? false
  }

  /** Every live peer sees every other live peer, and the registry sees them all. */
  converged(): boolean {
    const live = this.peers.filter((p) => !p.dead)
    if (this.registry.m.viewSize() !== live.length) return false
    return live.every((p) => p.m.viewSize() === live.length - 1)
  }

  /** A kill -9: frames to and from it vanish, its timers stop. */
  async kill(s: SimMember): Promise<void> {
    s.dead = true
    await s.m.stop()
  }

  /** Every removal each live view made, oldest first per view. */
  removals(): SimRemoval[] {
    return this.members
      .filter((s) => !s.dead)
      .flatMap((s) => s.m.removals().map((r) => ({ viewer: s.name, ...r })))
  }

  async stop(): Promise<void> {
    for (const s of this.members) if (!s.dead) await s.m.stop()
  }
}

/**
 * How long a killed peer of `peers` (and a registry) may take to leave every view, from the
 * protocol's default timings: some survivor probes it within one round over its view even at the
 * worst local health (probing slows down by up to MAX_HEALTH times); its suspicion lasts at most
 * the longest suspicion (nobody confirming it: SUSPICION_MAX_TIMEOUT_MULT times the minimum, which
 * local health does not stretch); the last check of the suspect, begun to end when the suspicion
 * is due, runs past it by at most its DEATH_CHECK_ROUNDS probe timeouts at the worst health (when
 * confirmations brought the timeout closer, or the health worsened since); and the death reaches
 * a view that missed it in gossip (the registry's: nobody gossips to it) at that view's next
 * push-pull, where the registry pings the member DEATH_CHECK_ROUNDS times (probe timeouts, at the
 * worst health) before it believes the report. For 5 peers: 40 + 24 + 16 + 5 + 16 s.
 */
export function removalBoundMs(peers: number): number {
  const n = peers + 1
  const pushPullScale =
    n <= PUSH_PULL_SCALE_THRESHOLD ? 1 : Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1
  return (
    peers * PROBE_INTERVAL_MS * MAX_HEALTH +
    suspicionBounds(n, SUSPICION_MULT, SUSPICION_MAX_TIMEOUT_MULT, PROBE_INTERVAL_MS).maxMs +
    DEATH_CHECK_ROUNDS * PROBE_TIMEOUT_MS * MAX_HEALTH +
    PUSH_PULL_INTERVAL_MS * pushPullScale +
    DEATH_CHECK_ROUNDS * PROBE_TIMEOUT_MS * MAX_HEALTH
  )
}

export interface LossyRunInit extends Omit<SimClusterInit, 'peers'> {
  /** @default 5 */
  peers?: number
  /** @default 0.3 */
  loss?: number
  /** How long every frame is lost at that rate, in ms. @default 60_000 */
  lossyMs?: number
  /** When the last peer is killed, in ms into the loss; 0: none is. @default 20_000 */
  killAfterMs?: number
  /** The longest wait for the killed peer to leave every view, in ms. @default 120_000 */
  maxWaitMs?: number
}

export interface LossyRun {
  /** Removals of a live member (or of the killed one before its kill), by any view. */
  falseRemovals: SimRemoval[]
  /** From the kill until no live view (the registry's included) held the killed peer, in ms. */
  detectionMs?: number
  /** From the kill until each live view first did not hold it, in ms. */
  removedAfterMs: Map<string, number>
  suspected: number
  refuted: number
  frames: number
  framesToDead: number
}

/**
 * The lossy test in simulation: a registry and `peers` peers join, then every frame is lost at
 * `loss` for `lossyMs`; the last peer is killed `killAfterMs` in, and the loss lasts until every
 * view has removed it (or `maxWaitMs` passed).
 */
export async function lossyRun(init: LossyRunInit): Promise<LossyRun> {
  const c = new SimCluster({ ...init, peers: init.peers ?? 5 })
  const lossyMs = init.lossyMs ?? 60_000
  const killAfterMs = init.killAfterMs ?? 20_000
  const bound = init.maxWaitMs ?? 120_000
  await c.start()
  if (!(await c.run(60_000, () => c.converged()))) throw new Error(`seed ${init.seed}: no convergence`)
  const before = new Set(c.removals().map((r) => `${r.viewer} ${r.name} ${r.at}`))
  c.loss = init.loss ?? 0.3
  const start = c.clock.now()
  const victim = killAfterMs > 0 ? c.peers.at(-1) : undefined
  let killedAt = 0
  const removedAfterMs = new Map<string, number>()
  const watch = () => {
    if (!killedAt) return false
    for (const s of c.members)
      if (!s.dead && !removedAfterMs.has(s.name) && !s.m.knows(victim!.url))
        removedAfterMs.set(s.name, c.clock.now() - killedAt)
    return false
  }
  if (victim) {
    await c.run(killAfterMs)
    await c.kill(victim)
    killedAt = c.clock.now()
    await c.run(bound, () => {
      watch()
      return c.members.every((s) => s.dead || !s.m.knows(victim.url))
    })
  }
  const left = start + lossyMs - c.clock.now()
  if (left > 0) await c.run(left)
  const falseRemovals = c
    .removals()
    .filter((r) => !before.has(`${r.viewer} ${r.name} ${r.at}`))
    .filter((r) => r.name !== victim?.name || r.at < killedAt)
  const gone = c.members.every((s) => s.dead || removedAfterMs.has(s.name))
  const stats = c.members.map((s) => s.m.stats())
  await c.stop()
  return {
    falseRemovals,
    detectionMs: victim && gone ? Math.max(...removedAfterMs.values()) : undefined,
    removedAfterMs,
    suspected: stats.reduce((n, s) => n + s.suspected, 0),
    refuted: stats.reduce((n, s) => n + s.refuted, 0),
    frames: c.frames,
    framesToDead: c.framesToDead,
  }
}
