// The nemesis: faults injected while the clients run, as Maelstrom's `--nemesis partition,kill,pause`
// does, over distlab's own cluster controls. Every interval it either starts one fault or heals the
// current one: a partition splits the nodes into a random majority and minority (link emulator on
// every node); kill is kill -9 of a node's process and a restart (its program starts afresh and is
// sent init again); pause is SIGSTOP of the program, then SIGCONT.
import { InvalidArgumentError } from '../core/errors.js'

export const NEMESIS_FAULTS = ['partition', 'kill', 'pause'] as const
export type NemesisFault = (typeof NEMESIS_FAULTS)[number]

export interface NemesisTarget {
  /** distlab names of the wrapped nodes. */
  nodes(): string[]
  partition(groups: string[][]): Promise<void>
  heal(): Promise<void>
  kill(node: string): Promise<void>
  restart(node: string): Promise<void>
  pause(node: string): Promise<void>
  resume(node: string): Promise<void>
}

export interface NemesisEvent {
  /** Nanoseconds since the run started, on the history's clock. */
  time: number
  f: 'start-partition' | 'stop-partition' | 'kill' | 'start' | 'pause' | 'resume'
  value: unknown
  ok: boolean
  error?: string
}

export function parseNemesis(list: string | undefined): NemesisFault[] {
  if (!list) return []
  const out: NemesisFault[] = []
  for (const raw of list.split(',')) {
    const f = raw.trim()
    if (f === '') continue
    if (!(NEMESIS_FAULTS as readonly string[]).includes(f))
      throw new InvalidArgumentError(`--nemesis takes ${NEMESIS_FAULTS.join(', ')}; got ${f}`, 'nemesis')
    if (!out.includes(f as NemesisFault)) out.push(f as NemesisFault)
  }
  return out
}

export class Nemesis {
  readonly events: NemesisEvent[] = []
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  private busy: Promise<void> = Promise.resolve()
  private current?: { fault: NemesisFault; nodes: string[] }

  constructor(
    private readonly target: NemesisTarget,
    private readonly faults: NemesisFault[],
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    if (this.faults.length === 0 || this.running) return
    this.running = true
    this.schedule()
  }

  private schedule(): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      this.busy = this.busy.then(() => this.step()).catch(() => {})
      void this.busy.then(() => this.schedule())
    }, this.intervalMs)
  }

  private async act(f: NemesisEvent['f'], value: unknown, action: () => Promise<void>): Promise<void> {
    try {
      await action()
      this.events.push({ time: this.now(), f, value, ok: true })
    } catch (err) {
      this.events.push({ time: this.now(), f, value, ok: false, error: (err as Error).message })
    }
  }

  private async step(): Promise<void> {
    if (!this.running) return
    if (this.current) return this.healCurrent()
    const fault = this.faults[Math.floor(this.random() * this.faults.length)]!
    const nodes = this.shuffled(this.target.nodes())
    if (nodes.length === 0) return
    if (fault === 'partition') {
      if (nodes.length < 2) return
      const cut = Math.floor(nodes.length / 2)
      const groups = [nodes.slice(0, cut === 0 ? 1 : cut), nodes.slice(cut === 0 ? 1 : cut)]
      this.current = { fault, nodes }
      await this.act('start-partition', groups, () => this.target.partition(groups))
    } else if (fault === 'kill') {
      // A minority at most, so that a majority-based algorithm can go on.
      const victims = nodes.slice(0, Math.max(1, Math.floor((nodes.length - 1) / 2)))
      this.current = { fault, nodes: victims }
      for (const n of victims) await this.act('kill', n, () => this.target.kill(n))
    } else {
      const victims = nodes.slice(0, Math.max(1, Math.floor((nodes.length - 1) / 2)))
      this.current = { fault, nodes: victims }
      for (const n of victims) await this.act('pause', n, () => this.target.pause(n))
    }
  }

  private async healCurrent(): Promise<void> {
    const cur = this.current
    this.current = undefined
    if (!cur) return
    if (cur.fault === 'partition') await this.act('stop-partition', null, () => this.target.heal())
    else if (cur.fault === 'kill')
      for (const n of cur.nodes) await this.act('start', n, () => this.target.restart(n))
    else for (const n of cur.nodes) await this.act('resume', n, () => this.target.resume(n))
  }

  /** Stops injecting and heals whatever fault is on; resolves once healed. */
  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    await this.busy.catch(() => {})
    await this.healCurrent()
  }

  private shuffled(list: string[]): string[] {
    const a = list.slice()
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1))
      const t = a[i]!
      a[i] = a[j]!
      a[j] = t
    }
    return a
  }
}
