// Counting a message on the wire: inside each program's network namespace, iptables rules of the
// raw table match the message's unique text (`-m string`) on every packet that arrives on an
// interface (PREROUTING, before any routing decision, so a packet a program never reads still
// counts) and on every packet the program sends (OUTPUT). The counters say which instance's wire
// carried the message and how many times, whatever the protocol (TCP or UDP, unicast, broadcast or
// IP multicast). Needs a namespace per program (Lab, as root): a namespace of distlab's by name, or a
// container's by its main process's pid (docker mode).
import { exec } from '../foreign/netns.js'

const CHAIN_IN = 'DLCHK_IN'
const CHAIN_OUT = 'DLCHK_OUT'
/** Tokens are matched as plain text; they are made by the check, never taken from a program. */
const TOKEN = /^[A-Za-z0-9._-]{4,64}$/

export interface WireCount {
  /** Packets carrying the text that arrived at this instance. */
  arrived: number
  /** Packets carrying the text this instance sent. */
  sent: number
}

export class WireCounters {
  private readonly tokens = new Set<string>()
  /** Per program: its namespace's name, or the pid of a process in it. */
  constructor(private readonly netns: ReadonlyMap<string, string | number>) {}

  private ns(netns: string | number, args: string[]): Promise<{ code: number; stdout: string }> {
    const enter =
      typeof netns === 'number' ? ['nsenter', '-t', String(netns), '-n'] : ['ip', 'netns', 'exec', netns]
    return exec(enter[0]!, [...enter.slice(1), 'iptables', '-w', '-t', 'raw', ...args], {
      allowFailure: true,
    })
  }

  /** Makes the (empty) chains in every namespace. */
  async start(): Promise<void> {
    for (const netns of this.netns.values()) {
      for (const [chain, hook] of [
        [CHAIN_IN, 'PREROUTING'],
        [CHAIN_OUT, 'OUTPUT'],
      ] as const) {
        await this.ns(netns, ['-N', chain])
        await this.ns(netns, ['-A', hook, '-j', chain])
      }
    }
  }

  /** Starts counting packets that carry `token`, in both directions, at every instance. */
  async watch(token: string): Promise<void> {
    if (!TOKEN.test(token)) throw new Error(`not a token: ${token}`)
    this.tokens.add(token)
    for (const netns of this.netns.values())
      for (const chain of [CHAIN_IN, CHAIN_OUT])
        await this.ns(netns, ['-A', chain, '-m', 'string', '--string', token, '--algo', 'bm'])
  }

  /** Per instance, the packets that carried `token`. */
  async read(token: string): Promise<Map<string, WireCount>> {
    const out = new Map<string, WireCount>()
    for (const [name, netns] of this.netns) {
      const count: WireCount = { arrived: 0, sent: 0 }
      for (const chain of [CHAIN_IN, CHAIN_OUT]) {
        const r = await this.ns(netns, ['-L', chain, '-v', '-n', '-x'])
        for (const line of r.stdout.split('\n')) {
          if (!line.includes(`"${token}"`)) continue
          const packets = Number(line.trim().split(/\s+/)[0])
          if (!Number.isFinite(packets)) continue
          if (chain === CHAIN_IN) count.arrived += packets
          else count.sent += packets
        }
      }
      out.set(name, count)
    }
    return out
  }

  /** Reads until the counters of `token` stay the same for `quietMs` (at most `timeoutMs`). */
  async settled(token: string, quietMs = 1000, timeoutMs = 8000): Promise<Map<string, WireCount>> {
    const deadline = Date.now() + timeoutMs
    let last = await this.read(token)
    let since = Date.now()
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      const now = await this.read(token)
      if (!sameCounts(now, last)) {
        last = now
        since = Date.now()
      } else if (Date.now() - since >= quietMs) return now
    }
    return last
  }
}

function sameCounts(a: Map<string, WireCount>, b: Map<string, WireCount>): boolean {
  for (const [k, v] of a) {
    const w = b.get(k)
    if (!w || w.arrived !== v.arrived || w.sent !== v.sent) return false
  }
  return a.size === b.size
}
