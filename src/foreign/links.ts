// The link rules of a foreign cluster: one LinkTable per sending instance (the same tables and
// rules as distlab's own nodes), so a rule for a→b shapes only what a sends to b, and one
// partition for the whole cluster.
import {
  ALL_LINKS,
  LinkTable,
  NO_RULE,
  resolvePartition,
  type LinkRule,
  type LinkRuleInit,
} from '../link/emulator.js'

/** Sending instances with a table; more names than this are refused (names come from the cluster). */
const MAX_TABLES = 1024

export class ForeignLinks {
  private readonly tables = new Map<string, LinkTable>()
  private groups: string[][] = []
  private groupOf = new Map<string, number>()

  private table(from: string): LinkTable {
    let t = this.tables.get(from)
    if (!t) {
      if (this.tables.size >= MAX_TABLES) throw new Error('too many link tables')
      t = new LinkTable(from)
      this.tables.set(from, t)
    }
    return t
  }

  /** The table of `from`, for the bandwidth and drop-every counters, if it has one. */
  tableOf(from: string): LinkTable | undefined {
    return this.tables.get(from)
  }

  set(from: string, to: string, init: LinkRuleInit): LinkRule {
    return this.table(from).setRule(to === '*' ? ALL_LINKS : to, init)
  }

  ruleFor(from: string, to: string): LinkRule {
    return this.tables.get(from)?.ruleFor(to) ?? NO_RULE
  }

  partition(groups: unknown): void {
    this.groups = resolvePartition(groups)
    this.groupOf = new Map(this.groups.flatMap((g, i) => g.map((n) => [n, i] as const)))
  }

  partitioned(a: string, b: string): boolean {
    const ga = this.groupOf.get(a)
    const gb = this.groupOf.get(b)
    return ga !== undefined && gb !== undefined && ga !== gb
  }

  heal(): void {
    for (const t of this.tables.values()) t.heal()
    this.tables.clear()
    this.groups = []
    this.groupOf = new Map()
  }

  state(): { rules: Array<{ from: string; to: string; rule: LinkRule }>; partition: string[][] } {
    const rules: Array<{ from: string; to: string; rule: LinkRule }> = []
    for (const [from, t] of this.tables)
      for (const [to, rule] of Object.entries(t.listRules())) rules.push({ from, to, rule })
    return { rules, partition: this.groups.map((g) => [...g]) }
  }
}
