// Counters rendered in the Prometheus text exposition format (version 0.0.4).

type Labels = Record<string, string>

/**
 * Label sets one counter may hold. Nodes already fold label values that peers choose; this is the
 * backstop: past it, new label sets are counted under one set whose every value is `other`.
 */
export const MAX_SERIES_PER_FAMILY = 2000

interface Family {
  help: string
  values: Map<string, { labels: Labels; value: number }>
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function keyOf(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

export class Metrics {
  private readonly families = new Map<string, Family>()

  constructor(private readonly constLabels: Labels = {}) {}

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    let family = this.families.get(name)
    if (!family) this.families.set(name, (family = { help, values: new Map() }))
    let key = keyOf(labels)
    let cell = family.values.get(key)
    if (!cell && family.values.size >= MAX_SERIES_PER_FAMILY) {
      labels = Object.fromEntries(Object.keys(labels).map((k) => [k, 'other']))
      key = keyOf(labels)
      cell = family.values.get(key)
    }
    if (cell) cell.value += by
    else family.values.set(key, { labels, value: by })
  }

  get(name: string, labels: Labels = {}): number {
    const key = keyOf(labels)
    return this.families.get(name)?.values.get(key)?.value ?? 0
  }

  /** Sum of a counter over every label set, optionally filtered. */
  total(name: string, where: Labels = {}): number {
    let sum = 0
    for (const { labels, value } of this.families.get(name)?.values.values() ?? [])
      if (Object.entries(where).every(([k, v]) => labels[k] === v)) sum += value
    return sum
  }

  render(
    extra: Array<{ name: string; help: string; type: 'gauge' | 'counter'; value: number }> = [],
  ): string {
    const out: string[] = []
    for (const [name, family] of this.families) {
      out.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} counter`)
      for (const { labels, value } of family.values.values()) {
        const all = { ...this.constLabels, ...labels }
        const text = Object.entries(all)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(',')
        out.push(`${name}${text ? `{${text}}` : ''} ${value}`)
      }
    }
    for (const m of extra) {
      const text = Object.entries(this.constLabels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',')
      out.push(
        `# HELP ${m.name} ${m.help}`,
        `# TYPE ${m.name} ${m.type}`,
        `${m.name}${text ? `{${text}}` : ''} ${m.value}`,
      )
    }
    return out.join('\n') + '\n'
  }
}
