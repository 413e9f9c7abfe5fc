// Moving a UDP flow onto a relay that came after it. DNAT applies only to a flow's first packet, the
// one that makes its conntrack entry: a UDP flow that a started to b:port before the relay for
// b:port (and a's DNAT rule for it) existed goes straight for as long as a keeps sending (the entry
// never times out), so no fault applies to it and no relay sees it. Deleting the flow's conntrack
// entries once the rule is in makes a's next datagram a new flow, and that one takes the relay.
//
// UDP only. Deleting a TCP connection's entry would put its next segment on the relay mid-stream:
// the relay host has no socket for that connection and answers with a reset, which breaks a
// connection that worked. An open TCP connection keeps its path until it closes.
//
// Only a flow that goes straight is moved: once every namespace has its rules, one `conntrack -L` in
// b's namespace shows which a's reach b:port directly (straightOnes). The deletions, in this order:
//  1. in a's namespace, a's entries to b:port: a's next datagram takes the DNAT rule;
//  2. in a's namespace, b's answers that reached a straight since (they were on their way): such an
//     entry b:port → a would match a's next datagram as a reply and send it straight again;
//  3. in b's namespace, b's end of a's flows to b:port (reply from b:port to a's address): the
//     relayed datagrams, whose source a rule there rewrites back to a's address (source.ts), would
//     otherwise find a's address and port taken by the old entry and get another port, and b would
//     see a new peer. The relay holds what it receives from the start until this is done, so that
//     no datagram of a's reaches b beside the old entry, and lets it go at once after: b sending to
//     a in between would make an entry of its own that takes a's address and port;
//  4. step 2 again, for the answers b sent straight until step 3.
// The steps are separate commands, so a datagram can still fall between two of them. A while after,
// a's namespace is looked at again, and where an answer from b:port went straight the steps are
// done again, twice at most (a flow b itself sends from b:port to a port of a's without a relay
// looks the same, and gets them too: its next datagram makes its entry again).
// One race stays: a program b that answers most of a's sending interval late (40 ms of 50 here)
// can send to a after step 3 and before a's held datagram reaches it, which makes an entry of its
// own with a's address and port; a's relayed flow then reaches b from another port of a's address,
// as in docker mode. Prompt answers, and answers 20 ms late, moved cleanly in every try.
import { setTimeout as sleep } from 'node:timers/promises'
import { exec, nsenterArgs } from './netns.js'

export interface NamespaceTarget {
  netns?: string
  pid?: number
}

/** One flow to move: from instance a (its namespace and address) to b's address and port, and b's relay for it. */
export interface UdpMove {
  a: NamespaceTarget
  aIp: string
  b: NamespaceTarget
  bIp: string
  port: number
  relay: { hold(): void; release(): void }
}

/** How long the deletions of one batch of moves may take, ms. */
const MOVE_TIMEOUT_MS = 10_000
/** How long after a move a's namespace is looked at again, ms: answers under way have arrived by then. */
const MOVE_RECHECK_MS = 300
/** Moves of one flow at most (the first and its repeats). */
const MOVE_ATTEMPTS = 3

/** Whether `conntrack` works here (the CLI, and the kernel's netlink interface to the table). */
export async function conntrackAvailable(): Promise<{ ok: true } | { ok: false; why: string }> {
  const r = await exec('conntrack', ['-L', '-p', 'udp', '--orig-dst', '127.255.255.254'], {
    allowFailure: true,
  }).catch(() => undefined)
  if (!r) return { ok: false, why: '`conntrack` is not installed' }
  if (r.code !== 0)
    return {
      ok: false,
      why: `\`conntrack -L\` does not work here: ${(r.stderr || r.stdout).trim().split('\n').pop()}`,
    }
  return { ok: true }
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** A shell command running `conntrack <op> -p udp <filter>` in a namespace, its messages left out. */
function conntrack(target: NamespaceTarget, op: '-D' | '-L', filter: Array<string | number>): string {
  const args = ['nsenter', ...nsenterArgs(target), '--', 'conntrack', op, '-p', 'udp', ...filter.map(String)]
  // "0 flow entries have been deleted" exits 1 on some versions: not an error, so no exit code counts.
  return `${args.map(quote).join(' ')} 2>/dev/null`
}

/** Runs `script` in one shell: its output, or undefined when it could not run. Never throws. */
async function shell(script: string): Promise<string | undefined> {
  const r = await exec('sh', ['-c', script], { allowFailure: true, timeoutMs: MOVE_TIMEOUT_MS }).catch(
    () => undefined,
  )
  return r?.stdout
}

/** Runs the commands one after the other in one shell (so that they follow closely); never throws. */
async function run(commands: string[]): Promise<void> {
  await shell(commands.map((c) => `${c} >/dev/null`).join('; '))
}

/** The original direction of one `conntrack -L` line: its first source, destination and ports. */
const ORIGINAL = /src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/

/** A flow's keys in udpFlows: a's to b:port, and b's from b:port to a. */
const sentToB = (m: UdpMove) => `${m.aIp}>${m.bIp}:${m.port}`
const sentFromB = (m: UdpMove) => `${m.bIp}:${m.port}>${m.aIp}`

/**
 * The UDP flows in the namespaces of `targets`, by one `conntrack -L` each, two keys an entry: who
 * sent to which port, and from which port to whom (sentToB, sentFromB). Undefined when they could
 * not be listed.
 */
async function udpFlows(targets: readonly NamespaceTarget[]): Promise<Set<string> | undefined> {
  const distinct = [...new Map(targets.map((t) => [t.netns ?? `pid:${t.pid}`, t])).values()]
  if (distinct.length === 0) return new Set()
  const out = await shell(distinct.map((t) => conntrack(t, '-L', [])).join('; '))
  if (out === undefined) return undefined
  const flows = new Set<string>()
  for (const line of out.split('\n')) {
    const o = ORIGINAL.exec(line)
    if (!o) continue
    const [, src, dst, sport, dport] = o
    flows.add(`${src}>${dst}:${dport}`).add(`${src}:${sport}>${dst}`)
  }
  return flows
}

/**
 * The moves whose flow goes straight, from b's namespaces: a's datagrams to b:port arrive there
 * directly (from a's own address; relayed ones come from a's alias or the gateway), and so do b's
 * from b:port to a. Most moves have none (a never sent to b before the relay came), and cost nothing
 * more: N instances starting one after the other make some N²/2 candidates, each of whose steps is
 * several processes. Without a list every candidate is moved, as if each went straight.
 */
async function straightOnes(moves: readonly UdpMove[]): Promise<UdpMove[]> {
  const flows = await udpFlows(moves.map((m) => m.b))
  if (!flows) return [...moves]
  return moves.filter((m) => flows.has(sentToB(m)) || flows.has(sentFromB(m)))
}

/** Answers from b:port that reached a straight (step 2's entries). */
const straightFromB = (m: UdpMove) => ['--orig-src', m.bIp, '--orig-port-src', m.port]

/** Moves UDP flows onto the relays whose rules just came (module comment); one per RelayHub. */
export class UdpFlowMover {
  private readonly pending = new Set<Promise<void>>()
  private readonly stopping = new AbortController()

  /**
   * Does the steps for the flows among `moves` that go straight (b's namespace holds an entry of
   * a's to b:port, or of b's from b:port to a), then checks again in the background. Called once the
   * rules of every namespace are in: a flow a starts after that takes its rule.
   */
  async move(candidates: readonly UdpMove[]): Promise<void> {
    const moves = await straightOnes(candidates)
    if (moves.length === 0) return
    await this.attempt(moves)
    const p = this.recheck(moves).finally(() => this.pending.delete(p))
    this.pending.add(p)
  }

  private async attempt(moves: readonly UdpMove[]): Promise<void> {
    const fromB = moves.map((m) => conntrack(m.a, '-D', straightFromB(m)))
    const steps = [
      ...moves.map((m) => conntrack(m.a, '-D', ['--orig-dst', m.bIp, '--orig-port-dst', m.port])),
      ...fromB,
      ...moves.map((m) =>
        conntrack(m.b, '-D', ['--reply-src', m.bIp, '--reply-port-src', m.port, '--reply-dst', m.aIp]),
      ),
    ]
    for (const m of moves) m.relay.hold()
    try {
      await run(steps)
    } finally {
      for (const m of moves) m.relay.release()
    }
    await run(fromB)
  }

  private async recheck(moves: readonly UdpMove[]): Promise<void> {
    let todo = moves
    for (let i = 1; i < MOVE_ATTEMPTS && todo.length > 0; i++) {
      const waited = await sleep(MOVE_RECHECK_MS, true, { signal: this.stopping.signal }).catch(() => false)
      if (!waited) return
      // In a's namespace, what b sent from b:port went straight (to a, the only address there).
      const flows = await udpFlows(todo.map((m) => m.a))
      todo = flows ? todo.filter((m) => flows.has(sentFromB(m))) : []
      if (todo.length > 0 && !this.stopping.signal.aborted) await this.attempt(todo)
    }
  }

  /** Stops the checks still to come; resolves once none runs. */
  async stop(): Promise<void> {
    this.stopping.abort()
    await Promise.all(this.pending)
  }
}
