// One colour per protocol, the same in every chart distlab draws: the dashboard (which gets this
// palette from GET /api/palette), `distlab plot` and the reports' SVG/PNG charts. Known protocols
// have fixed colours so a person learns them; any other name is hashed onto FALLBACK_COLORS with
// the rule below (the dashboard's page applies the same rule to the served lists).

/** Colours of the protocols distlab runs, by protocol name. */
export const PROTOCOL_COLORS: ReadonlyMap<string, string> = new Map([
  ['broadcast', '#ff8c42'],
  ['unicast', '#5aa9ff'],
  ['multicast', '#c77dff'],
  ['anycast', '#2ec4b6'],
  ['ping', '#3ccf91'],
  ['heartbeat', '#5c6b8a'],
  ['membership', '#8d99ae'],
  ['http', '#ffd166'],
  ['gossip', '#f15bb5'],
  ['dv', '#00bbf9'],
  ['gbn', '#fee440'],
])

/** Colours for other protocol names, picked by HASH_RULE. */
export const FALLBACK_COLORS: readonly string[] = [
  '#ef476f',
  '#06d6a0',
  '#118ab2',
  '#9b5de5',
  '#fb8500',
  '#00a896',
  '#b5179e',
  '#7a9e00',
]

/** How an unknown name picks its colour, as the served palette states it. */
export const HASH_RULE = 'h = (h * 31 + charCode) >>> 0 over the name; FALLBACK_COLORS[h % length]'

/** The colour of a protocol (CSS hex). */
export function protocolColor(proto: string): string {
  const known = PROTOCOL_COLORS.get(proto)
  if (known) return known
  let h = 0
  for (let i = 0; i < proto.length; i++) h = (h * 31 + proto.charCodeAt(i)) >>> 0
  return FALLBACK_COLORS[h % FALLBACK_COLORS.length]!
}

/** What GET /api/palette serves. */
export interface ServedPalette {
  known: Record<string, string>
  fallback: string[]
  rule: string
}

export function servedPalette(): ServedPalette {
  return { known: Object.fromEntries(PROTOCOL_COLORS), fallback: [...FALLBACK_COLORS], rule: HASH_RULE }
}

/** A Vega-Lite colour scale giving each of `protos` its palette colour. */
export function protocolColorScale(protos: readonly string[]): { domain: string[]; range: string[] } {
  const domain = [...new Set(protos)]
  return { domain, range: domain.map(protocolColor) }
}
