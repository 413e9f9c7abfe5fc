// The interface a datagram to a multicast group leaves by when its sender does not set
// IP_MULTICAST_IF: the one of the IPv4 default route (Linux: /proc/net/route). A receiver that
// joins the group there as well as on loopback hears a course sender written without it (seed 001).
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'

export interface InterfaceAddress {
  /** Interface name, e.g. eth0. */
  name: string
  /** Its first IPv4 address. */
  address: string
}

/** The IPv4 default route's interface and its address, or undefined (no default route, not Linux). */
export function defaultInterface(routeTable = '/proc/net/route'): InterfaceAddress | undefined {
  let text: string
  try {
    text = readFileSync(routeTable, 'utf8')
  } catch {
    return undefined
  }
  // Columns: Iface Destination Gateway Flags ... Metric Mask; the default route has destination
  // and mask 00000000. The lowest metric wins, as the kernel's choice does.
  let best: { name: string; metric: number } | undefined
  for (const line of text.split('\n').slice(1, 1000)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue
    const metric = Number(f[6])
    if (!best || metric < best.metric) best = { name: f[0]!, metric }
  }
  if (!best) return undefined
  const v4 = (networkInterfaces()[best.name] ?? []).find((a) => a.family === 'IPv4')
  return v4 ? { name: best.name, address: v4.address } : undefined
}
