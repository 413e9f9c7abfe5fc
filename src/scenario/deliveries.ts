// What the scenario runner reads and sends: the deliveries every node made, read per incarnation
// from the nodes' HTTP APIs (and seed 002's from their log lines), and the message workloads'
// send loops with the receivers each acknowledged message must reach.
import type { Launcher } from '../cluster/launcher.js'
import { NodeClient } from '../client/node-client.js'
import type { Workload } from './spec.js'
import { SendLoop } from './workloads.js'

/** Time between two polls of every node's deliveries, in ms. */
export const POLL_INTERVAL_MS = 250

/**
 * The whole log line of one POST /message (the node's logger escapes control characters in what
 * it logs, so a `msg` carrying `\n<a forged line>` stays inside this line): anchored at both
 * ends, so text that only looks like such a line, inside another line's message, is not counted.
 */
const RECEIVED_LINE =
  /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO +distlab:http Received message from [^:]*: (sc-[0-9a-f]+-\d+-\d+)$/

/** The scenario message key a node's log line records as received, if it is such a line. */
export function receivedKeyOfLogLine(line: string): string | undefined {
  return RECEIVED_LINE.exec(line)?.[1]
}

interface Incarnation {
  id: string
  since: Record<string, number>
  seen: Map<string, number>
}

/** Reads deliveries from every node, per incarnation (a restarted node has a new id). */
export class DeliveryTracker {
  /** node → incarnations in order. */
  readonly incarnations = new Map<string, Incarnation[]>()
  /** node → message key → count, from log lines (seed 002's POST /message). */
  readonly logged = new Map<string, Map<string, number>>()
  private timer?: ReturnType<typeof setInterval>
  private polling?: Promise<void>

  constructor(
    private readonly cluster: Launcher,
    private readonly kinds: Set<string>,
    private readonly runKey: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  onLine(node: string, line: string): void {
    const key = receivedKeyOfLogLine(line)
    if (!key || !key.startsWith(this.runKey)) return
    const per = this.logged.get(node) ?? new Map<string, number>()
    this.logged.set(node, per)
    per.set(key, (per.get(key) ?? 0) + 1)
  }

  start(): void {
    this.timer = setInterval(() => void this.pollAll(), POLL_INTERVAL_MS)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  async pollAll(): Promise<void> {
    if (this.polling) return this.polling
    this.polling = (async () => {
      await Promise.all(this.cluster.list().map((n) => this.pollNode(n.name).catch(() => {})))
    })().finally(() => (this.polling = undefined))
    return this.polling
  }

  async pollNode(name: string): Promise<void> {
    if (!this.cluster.running(name)) return
    const node = new NodeClient({
      url: this.cluster.list().find((x) => x.name === name)!.url,
      name,
      headers: this.headers,
    })
    const health = await node.health()
    const list = this.incarnations.get(name) ?? []
    this.incarnations.set(name, list)
    let inc = list.at(-1)
    if (!inc || inc.id !== health.id) {
      inc = { id: health.id, since: {}, seen: new Map() }
      list.push(inc)
    }
    for (const kind of this.kinds) {
      const path = {
        unicast: '/unicast/delivered',
        broadcast: '/broadcast/delivered',
        multicast: '/multicast/delivered',
      }[kind]
      if (!path) continue
      const since = inc.since[kind] ?? 0
      const r = await node.get<{ messages: Array<{ index: number; msg?: unknown; value?: unknown }> }>(
        `${path}?since=${since}`,
      )
      for (const d of r.messages ?? []) {
        if (d.index < since) continue
        inc.since[kind] = Math.max(inc.since[kind] ?? 0, d.index + 1)
        const key = messageKey(d.msg ?? d.value)
        if (key?.startsWith(this.runKey)) inc.seen.set(key, (inc.seen.get(key) ?? 0) + 1)
      }
    }
  }

  /** How node `name` delivered `key`: per incarnation counts (log lines count as one incarnation). */
  counts(name: string, key: string): number[] {
    const fromApi = (this.incarnations.get(name) ?? []).map((i) => i.seen.get(key) ?? 0)
    const logged = this.logged.get(name)?.get(key)
    return logged === undefined ? fromApi : [...fromApi, logged]
  }
}

function messageKey(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof (v as { key?: unknown }).key === 'string')
    return (v as { key: string }).key
  return undefined
}

type MessageWorkload = Exclude<Workload, { kind: 'download' | 'anycast' }>

/** One running message workload: sends in a loop; pause() waits for the sends in flight. */
export class WorkloadRun extends SendLoop {
  /** Message key → the receivers that must deliver it (undefined: every node alive at the end). */
  readonly acked = new Map<string, string[] | undefined>()

  constructor(
    override readonly w: MessageWorkload,
    index: number,
    private readonly ctx: { url: (n: string) => string; headers: Record<string, string>; runKey: string },
  ) {
    super(w, index, w.messages, w.interval)
  }

  protected keyOf(i: number): string {
    return `${this.ctx.runKey}-${this.index}-${i}`
  }

  async finish(): Promise<void> {
    await this.done
  }

  protected async sendOne(i: number, key: string): Promise<void> {
    const w = this.w
    const post = (node: string, path: string, body: unknown) =>
      new NodeClient({ url: this.ctx.url(node), name: node, headers: this.ctx.headers }).post<
        Record<string, unknown>
      >(path, body, { timeoutMs: w.timeout + 2000 })
    if (w.kind === 'unicast') {
      const [from, to] = w.pairs[i % w.pairs.length]!
      await post(from, '/unicast', { to, msg: { key }, transport: w.transport, timeoutMs: w.timeout })
      this.acked.set(key, [to])
    } else if (w.kind === 'broadcast') {
      const from = w.from[i % w.from.length]!
      const r = await post(from, '/broadcast', { msg: { key }, strategy: w.strategy, durable: w.durable })
      if (r.acknowledged === true) this.acked.set(key, undefined)
    } else if (w.kind === 'multicast') {
      const from = w.from[i % w.from.length]!
      await post(from, '/multicast', { group: w.group, msg: { key }, timeoutMs: w.timeout })
      this.acked.set(key, [...w.members])
    } else {
      const [from, to] = w.pairs[i % w.pairs.length]!
      const r = await post(from, '/p2p/send', { to, msg: key })
      if ((r.reply as { status?: string } | undefined)?.status === 'received') this.acked.set(key, [to])
    }
  }
}
