// The distlab protocol `maelstrom` on the harness node: the side Maelstrom itself plays. Clients
// (c1, c2, ...) send requests to the wrapped node programs and wait for the replies; the services
// (lin-kv, seq-kv, lww-kv, lin-tso) answer the programs' requests. Everything travels as distlab
// frames, so the link emulator, the nemesis and the telemetry see it as they see the programs' own
// messages.
import type { Envelope } from '../core/envelope.js'
import type { Protocol, ProtocolComponents } from '../core/interfaces.js'
import { MAELSTROM_PROTO } from './constants.js'
import { checkMessage, distlabName, type MaelstromBody, type MaelstromMessage } from './message.js'
import { createService, isServiceName, type Service, type ServiceName } from './services.js'

/** Replies a client waits for at once, at most (each open request holds a timer). */
export const MAX_OPEN_REQUESTS = 100_000

export interface HarnessCounters {
  /** Requests clients sent and replies they received. */
  clientSent: number
  clientReceived: number
  /** Requests services received and replies they sent. */
  serviceReceived: number
  serviceSent: number
  /** Replies nobody waited for (late, after the client's timeout, or never asked). */
  unexpected: number
  /** Frames whose body was not a Maelstrom message, or for no client or service. */
  dropped: number
}

interface Pending {
  resolve: (r: { body: MaelstromBody; frameId: string } | undefined) => void
  timer: ReturnType<typeof setTimeout>
}

export interface RequestResult {
  /** The reply's body; undefined after a timeout. */
  reply?: MaelstromBody
  /** distlab frame ids of the request and its reply, to find them in the run's telemetry. */
  requestFrame: string
  replyFrame?: string
}

export class MaelstromHarness implements Protocol {
  readonly name = MAELSTROM_PROTO
  readonly counters: HarnessCounters = {
    clientSent: 0,
    clientReceived: 0,
    serviceReceived: 0,
    serviceSent: 0,
    unexpected: 0,
    dropped: 0,
  }
  private readonly services = new Map<string, Service>()
  private readonly pending = new Map<string, Pending>()
  private readonly nextMsgId = new Map<string, number>()
  private frameSeq = 0
  private readonly runTag = Math.random().toString(36).slice(2, 8)

  constructor(
    private readonly c: ProtocolComponents,
    private readonly transport: 'udp' | 'tcp' = 'tcp',
    random: () => number = Math.random,
  ) {
    for (const name of ['lin-kv', 'seq-kv', 'lww-kv', 'lin-tso'] as ServiceName[])
      this.services.set(name, createService(name, random))
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.resolve(undefined)
    }
    this.pending.clear()
  }

  /** Sends `body` from `client` to Maelstrom node `node` and waits up to timeoutMs for the reply. */
  async request(
    client: string,
    node: string,
    body: MaelstromBody,
    timeoutMs: number,
  ): Promise<RequestResult> {
    const msgId = (this.nextMsgId.get(client) ?? 0) + 1
    this.nextMsgId.set(client, msgId)
    const requestFrame = `${client}-${msgId}-${this.runTag}-${++this.frameSeq}`
    const dst = distlabName(node)
    if (!dst || this.pending.size >= MAX_OPEN_REQUESTS) return { requestFrame }
    const key = `${client}:${msgId}`
    const reply = new Promise<{ body: MaelstromBody; frameId: string } | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key)
        resolve(undefined)
      }, timeoutMs)
      this.pending.set(key, { resolve, timer })
    })
    const msg: MaelstromMessage = { src: client, dest: node, body: { ...body, msg_id: msgId } }
    this.counters.clientSent++
    this.c
      .send(dst, body.type.slice(0, 32), msg, { transport: this.transport, id: requestFrame })
      .catch(() => {
        // An unknown or unreachable node: the request times out like a lost message.
      })
    const r = await reply
    return r ? { reply: r.body, requestFrame, replyFrame: r.frameId } : { requestFrame }
  }

  handle(env: Envelope): void {
    const r = checkMessage(env.body)
    if (!r.ok) {
      this.counters.dropped++
      return this.c.dropped(env, 'malformed')
    }
    const msg = r.msg
    if (/^c[0-9]{1,9}$/.test(msg.dest)) {
      const irt = msg.body.in_reply_to
      const p = typeof irt === 'number' ? this.pending.get(`${msg.dest}:${irt}`) : undefined
      if (!p) {
        this.counters.unexpected++
        return this.c.dropped(env, 'unexpected_reply')
      }
      this.pending.delete(`${msg.dest}:${irt}`)
      clearTimeout(p.timer)
      this.counters.clientReceived++
      this.c.delivered(env)
      p.resolve({ body: msg.body, frameId: env.id })
      return
    }
    const svc = isServiceName(msg.dest) ? this.services.get(msg.dest) : undefined
    const back = distlabName(msg.src)
    if (!svc || !back) {
      this.counters.dropped++
      return this.c.dropped(env, 'unknown_dest')
    }
    this.counters.serviceReceived++
    this.c.delivered(env)
    const body = svc.handle(msg)
    if (!body) return
    this.counters.serviceSent++
    const out: MaelstromMessage = { src: svc.name, dest: msg.src, body }
    this.c.send(back, body.type.slice(0, 32), out, { transport: this.transport }).catch(() => {})
  }
}

export function maelstromHarness(
  transport: 'udp' | 'tcp' = 'tcp',
  random?: () => number,
): (c: ProtocolComponents) => MaelstromHarness {
  return (c) => new MaelstromHarness(c, transport, random)
}
