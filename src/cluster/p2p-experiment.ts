// The p2p experiment of seed 002 (`distlab p2p`): a bootstrap and N peers on this machine, the
// time until every peer's view holds every other peer, optionally the bootstrap killed on the way,
// then messages between random pairs, each sent over the sender's own view. The library runs the
// phases and reports through callbacks; the CLI prints.
import { NodeClient } from '../client/node-client.js'
import { bearerHeaders } from '../core/auth.js'
import type { Membership } from '../protocols/membership/index.js'
import { runConcurrently } from '../protocols/workload.js'
import { LocalCluster, type LocalClusterInit } from './local.js'
import { nodeUrl } from './state.js'

export interface P2pExperimentInit {
  /** Peers besides the bootstrap. */
  nodes: number
  mode: 'process' | 'inproc'
  /** Messages sent between random pairs after convergence. */
  messages: number
  /** Kill -9 the bootstrap this long after the last peer started, in ms. */
  killBootstrapAfterMs?: number
  /** Kill -9 the bootstrap once every peer knows every other (or at the timeout). */
  killBootstrapOnConvergence?: boolean
  /** Give up waiting for convergence this long after the last peer started, in ms. */
  timeoutMs: number
  /** Second octet of every address (127.<block>.x.y). */
  block: number
  stateDir: string
  /** Membership options for every member (LocalClusterInit.membership). */
  membership?: LocalClusterInit['membership']
  /** A member started (its log said it listens); `count` so far. */
  onListening?: (count: number) => void
  /** How many peers see exactly the other peers, at each look. */
  onConverging?: (converged: number) => void
  /** The bootstrap was killed, `afterMs` after the last peer started. */
  onBootstrapKilled?: (afterMs: number) => void
  /** Messages sent so far. */
  onMessage?: (sent: number) => void
}

export interface P2pPeer {
  name: string
  url: string
}

export interface P2pSummary {
  nodes: number
  converged: boolean
  convergenceMs: number | null
  peersKnown: { min: number; median: number; max: number }
  messagesSent: number
  messagesDelivered: number
  lost: number
  /** The bootstrap was killed (--kill-bootstrap-after) before the messages were sent. */
  bootstrapKilled: boolean
}

export interface P2pMessages {
  sent: number
  delivered: number
  /** `from -> to: why`, one per message not answered `received`. */
  failures: string[]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  await runConcurrently(items.length, limit, async (i) => {
    out[i] = await fn(items[i]!)
  })
  return out
}

/** How many live peers see exactly the other live peers. */
function convergedCount(live: P2pPeer[], v: Map<string, string[] | undefined>): number {
  const all = new Set(live.map((p) => p.url))
  let ok = 0
  for (const p of live) {
    const seen = v.get(p.name)
    if (!seen || seen.length !== all.size - 1) continue
    if (seen.every((u) => u !== p.url && all.has(u))) ok++
  }
  return ok
}

function minMedianMax(values: number[]): { min: number; median: number; max: number } {
  if (values.length === 0) return { min: 0, median: 0, max: 0 }
  const s = [...values].sort((a, b) => a - b)
  return { min: s[0]!, median: s[Math.floor((s.length - 1) / 2)]!, max: s.at(-1)! }
}

/** Random ordered pairs of distinct peers. */
function randomPairs(peers: P2pPeer[], count: number): Array<[P2pPeer, P2pPeer]> {
  const pairs: Array<[P2pPeer, P2pPeer]> = []
  for (let i = 0; i < count && peers.length >= 2; i++) {
    const a = Math.floor(Math.random() * peers.length)
    let b = Math.floor(Math.random() * (peers.length - 1))
    if (b >= a) b++
    pairs.push([peers[a]!, peers[b]!])
  }
  return pairs
}

/** One run of the experiment: call start, converge, killBootstrapAsAsked, message, summary, stop. */
export class P2pExperiment {
  readonly cluster: LocalCluster
  peers: P2pPeer[] = []
  bootstrapUrl = ''
  bootstrapKilled = false
  convergenceMs: number | null = null
  private lastStart = 0
  private killTimer: ReturnType<typeof setTimeout> | undefined
  private killed: Promise<void> = Promise.resolve()
  private stopping: Promise<void> | undefined
  private messages: P2pMessages = { sent: 0, delivered: 0, failures: [] }

  constructor(private readonly init: P2pExperimentInit) {
    let listening = 0
    this.cluster = new LocalCluster({
      nodes: init.nodes,
      mode: init.mode,
      stateDir: init.stateDir,
      block: init.block,
      membership: init.membership,
      dashboardPort: 0,
      // A hundred processes on a busy two-core machine take their time to answer /health.
      startTimeoutMs: 60_000 + 500 * init.nodes,
      onLine: (_name, line) => {
        if (/ listening: http /.test(line)) init.onListening?.(++listening)
      },
    })
  }

  /** Starts the bootstrap and the peers; answers how long that took, in ms. */
  async start(): Promise<number> {
    const t0 = Date.now()
    await this.cluster.start()
    this.lastStart = Date.now()
    const list = this.cluster.list()
    this.bootstrapUrl = nodeUrl(list[0]!)
    this.peers = list.slice(1).map((n) => ({ name: n.name, url: nodeUrl(n) }))
    const after = this.init.killBootstrapAfterMs
    if (after !== undefined)
      this.killed = new Promise<void>((resolve) => {
        this.killTimer = setTimeout(() => void this.killBootstrap().then(resolve, resolve), after)
      })
    return this.lastStart - t0
  }

  private async killBootstrap(): Promise<void> {
    await this.cluster.kill('master')
    this.bootstrapKilled = true
    this.init.onBootstrapKilled?.(Date.now() - this.lastStart)
  }

  /** Each live peer's view (GET /peers, or the protocol object in process). */
  async views(): Promise<Map<string, string[] | undefined>> {
    const out = new Map<string, string[] | undefined>()
    if (this.cluster.mode === 'inproc') {
      const byName = new Map(this.cluster.nodeObjects().map((n) => [n.name, n]))
      for (const p of this.peers)
        out.set(p.name, byName.get(p.name)?.protocol<Membership>('membership')?.peers())
      return out
    }
    const auth = bearerHeaders(this.init.stateDir)
    const lists = await pool(this.peers, 16, (p) =>
      new NodeClient({ url: p.url, name: p.name, headers: auth, timeoutMs: 5000 })
        .call<{ peers: string[] }>('GET', '/peers')
        .then(
          (r) => r.peers,
          () => undefined,
        ),
    )
    this.peers.forEach((p, i) => out.set(p.name, lists[i]))
    return out
  }

  /** Waits until every live peer knows every live peer, or the timeout; answers the time it took, or null. */
  async converge(): Promise<number | null> {
    const deadline = this.lastStart + this.init.timeoutMs
    for (;;) {
      const t = Date.now()
      const ok = convergedCount(this.peers, await this.views())
      this.init.onConverging?.(ok)
      if (ok === this.peers.length) return (this.convergenceMs = t - this.lastStart)
      if (Date.now() > deadline) return null
      // Reading a thousand views in process costs tens of ms: wait ten times that, so that watching
      // does not take the CPU the peers converge with.
      await sleep(Math.max(this.cluster.mode === 'inproc' ? 100 : 250, 10 * (Date.now() - t)))
    }
  }

  /** After convergence: kills the bootstrap if asked to then; true when it waits for a timed kill first. */
  killBootstrapAsAsked(): { waiting: boolean; done: Promise<void> } {
    if (this.init.killBootstrapOnConvergence)
      return { waiting: false, done: this.killBootstrap().catch(() => {}) }
    const waiting = this.init.killBootstrapAfterMs !== undefined && !this.bootstrapKilled
    return { waiting, done: waiting ? this.killed : Promise.resolve() }
  }

  /** How many messages `message()` sends. */
  get pairCount(): number {
    return this.peers.length >= 2 ? this.init.messages : 0
  }

  /** Messages among random pairs, each over the sender's own view (POST /p2p/send). */
  async message(): Promise<P2pMessages> {
    const m: P2pMessages = { sent: 0, delivered: 0, failures: [] }
    const auth = bearerHeaders(this.init.stateDir)
    await pool(randomPairs(this.peers, this.init.messages), 8, async ([from, to]) => {
      m.sent++
      try {
        const r = await new NodeClient({
          url: from.url,
          name: from.name,
          headers: auth,
          timeoutMs: 10_000,
        }).call<{
          reply?: { status?: string }
        }>('POST', '/p2p/send', { body: { to: to.name, msg: `Hello ${to.name}, this is ${from.name}!` } })
        if (r.reply?.status === 'received') m.delivered++
        else m.failures.push(`${from.name} -> ${to.name}: answered ${JSON.stringify(r.reply)}`)
      } catch (err) {
        m.failures.push(`${from.name} -> ${to.name}: ${(err as Error).message}`)
      }
      this.init.onMessage?.(m.sent)
    })
    this.messages = m
    return m
  }

  /** The run in figures, with every peer's view read once more. */
  async summary(): Promise<P2pSummary> {
    const last = await this.views()
    const known = this.peers.map((p) => last.get(p.name)?.length ?? 0)
    const { sent, delivered } = this.messages
    return {
      nodes: this.init.nodes,
      converged: this.convergenceMs !== null,
      convergenceMs: this.convergenceMs,
      peersKnown: minMedianMax(known),
      messagesSent: sent,
      messagesDelivered: delivered,
      lost: sent - delivered,
      bootstrapKilled: this.bootstrapKilled,
    }
  }

  /** Stops every member (twice is harmless) and a pending kill timer. */
  stop(): Promise<void> {
    if (this.killTimer) clearTimeout(this.killTimer)
    return (this.stopping ??= this.cluster.stop().catch(() => {}))
  }
}
