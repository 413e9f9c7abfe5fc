// The distance-vector table of one router: the distributed, asynchronous Bellman-Ford of Kurose &
// Ross §5.2.2. D_x(y) = min over neighbours v of c(x,v) + D_v(y), with poisoned reverse: a route
// through v is advertised to v as infinite, so two routers never count to infinity between them.
import { DISTANCE_EPSILON } from './constants.js'

export interface Route {
  distance: number
  nextHop: number
}

export interface DistanceVectorOptions {
  poisonedReverse: boolean
  maxDistance: number
}

export class DistanceVectorTable {
  /** c(x, v) per neighbour; Infinity when the link is down. */
  readonly links = new Map<number, number>()
  /** The last vector each neighbour advertised to us. */
  readonly neighborVectors = new Map<number, Map<number, number>>()
  /** Our routes; unreachable destinations stay with distance Infinity so we keep advertising it. */
  readonly routes = new Map<number, Route>()

  constructor(
    readonly self: number,
    private readonly o: DistanceVectorOptions,
  ) {}

  /** Sets c(self, port); true when the routes changed. */
  setLink(port: number, cost: number): boolean {
    this.links.set(port, cost)
    return this.recompute()
  }

  /** Takes a neighbour's vector; true when the routes changed. */
  receive(from: number, entries: Iterable<[number, number]>): boolean {
    const v = new Map<number, number>()
    for (const [dest, d] of entries) v.set(dest, d)
    this.neighborVectors.set(from, v)
    return this.recompute()
  }

  recompute(): boolean {
    const dests = new Set<number>(this.routes.keys())
    for (const port of this.links.keys()) dests.add(port)
    for (const v of this.neighborVectors.values()) for (const dest of v.keys()) dests.add(dest)
    dests.delete(this.self)
    let changed = false
    for (const dest of dests) {
      const old = this.routes.get(dest)
      let best = Number.POSITIVE_INFINITY
      let hop = -1
      for (const [v, c] of this.links) {
        if (!Number.isFinite(c)) continue
        const dv = v === dest ? 0 : this.neighborVectors.get(v)?.get(dest)
        if (dv === undefined) continue
        const d = c + dv
        if (d >= this.o.maxDistance) continue
        // Strictly better wins; on a tie keep the current next hop, else the lower port.
        if (
          d < best - DISTANCE_EPSILON ||
          (Math.abs(d - best) <= DISTANCE_EPSILON &&
            (v === old?.nextHop || (hop !== old?.nextHop && v < hop)))
        ) {
          best = d
          hop = v
        }
      }
      const route = { distance: best, nextHop: hop }
      if (
        !old ||
        old.nextHop !== route.nextHop ||
        Number.isFinite(old.distance) !== Number.isFinite(best) ||
        (Number.isFinite(best) && Math.abs(old.distance - best) > DISTANCE_EPSILON)
      ) {
        if (old || Number.isFinite(best)) changed = true
        this.routes.set(dest, route)
      }
    }
    return changed
  }

  /** What we tell neighbour `to`: our distances, poisoned for routes that go through it. */
  advertisementFor(to: number): Array<[number, number]> {
    const out: Array<[number, number]> = []
    for (const [dest, r] of this.routes) {
      const poisoned = this.o.poisonedReverse && r.nextHop === to && dest !== to
      out.push([dest, poisoned ? Number.POSITIVE_INFINITY : r.distance])
    }
    return out
  }

  /** Reachable routes, by destination port. */
  reachable(): Array<[number, Route]> {
    return [...this.routes]
      .filter(([, r]) => Number.isFinite(r.distance))
      .sort((a, b) => a[0] - b[0])
      .map(([dest, r]) => [dest, { ...r }])
  }
}
