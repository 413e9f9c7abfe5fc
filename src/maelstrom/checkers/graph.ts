// A transaction dependency graph (Adya's ww / wr / rw edges, as Elle builds them), strongly
// connected components by Tarjan's algorithm with an explicit stack, and cycle search by BFS
// restricted to chosen edge kinds. Nothing here recurses.

export const WW = 1
export const WR = 2
export const RW = 4
export const EDGE_NAMES: Record<number, string> = { 1: 'ww', 2: 'wr', 4: 'rw' }

export class DepGraph {
  /** adj[from]: to -> bitmask of edge kinds. */
  readonly adj: Array<Map<number, number>>
  constructor(readonly size: number) {
    this.adj = Array.from({ length: size }, () => new Map<number, number>())
  }

  link(from: number, to: number, kind: number): void {
    if (from === to) return
    const m = this.adj[from] as Map<number, number>
    m.set(to, (m.get(to) ?? 0) | kind)
  }

  /** Strongly connected components with more than one node, using edges whose kind is in `mask`. */
  sccs(mask: number): number[][] {
    const n = this.size
    const index = new Int32Array(n).fill(-1)
    const low = new Int32Array(n)
    const onStack = new Uint8Array(n)
    const stack: number[] = []
    const out: number[][] = []
    let counter = 0
    // Explicit DFS frames: node and an iterator over its successors.
    const frameNode: number[] = []
    const frameIter: Array<Iterator<[number, number]>> = []
    for (let root = 0; root < n; root++) {
      if (index[root] !== -1) continue
      frameNode.push(root)
      frameIter.push((this.adj[root] as Map<number, number>).entries())
      index[root] = low[root] = counter++
      stack.push(root)
      onStack[root] = 1
      while (frameNode.length > 0) {
        const v = frameNode[frameNode.length - 1] as number
        const it = frameIter[frameIter.length - 1] as Iterator<[number, number]>
        let descended = false
        for (let step = it.next(); !step.done; step = it.next()) {
          const [w, kinds] = step.value
          if ((kinds & mask) === 0) continue
          if (index[w] === -1) {
            index[w] = low[w] = counter++
            stack.push(w)
            onStack[w] = 1
            frameNode.push(w)
            frameIter.push((this.adj[w] as Map<number, number>).entries())
            descended = true
            break
          }
          if (onStack[w] === 1) low[v] = Math.min(low[v] as number, index[w] as number)
        }
        if (descended) continue
        frameNode.pop()
        frameIter.pop()
        const parent = frameNode[frameNode.length - 1]
        if (parent !== undefined) low[parent] = Math.min(low[parent] as number, low[v] as number)
        if (low[v] === index[v]) {
          const comp: number[] = []
          for (;;) {
            const w = stack.pop() as number
            onStack[w] = 0
            comp.push(w)
            if (w === v) break
          }
          if (comp.length > 1) out.push(comp)
        }
      }
    }
    return out
  }

  /**
   * A shortest path from `from` to `to` over edges of kinds in `mask`, staying inside `within`
   * (if given), as [node, kindOfEdgeIntoNext] steps; undefined if none.
   */
  path(
    from: number,
    to: number,
    mask: number,
    within?: Set<number>,
  ): Array<{ node: number; kinds: number }> | undefined {
    const prev = new Map<number, { node: number; kinds: number }>()
    const queue: number[] = [from]
    const seen = new Set<number>([from])
    for (let qi = 0; qi < queue.length; qi++) {
      const v = queue[qi] as number
      for (const [w, kinds] of this.adj[v] as Map<number, number>) {
        if ((kinds & mask) === 0 || seen.has(w) || (within !== undefined && !within.has(w))) continue
        seen.add(w)
        prev.set(w, { node: v, kinds: kinds & mask })
        if (w === to) {
          const steps: Array<{ node: number; kinds: number }> = []
          let cur = to
          while (cur !== from) {
            const p = prev.get(cur) as { node: number; kinds: number }
            steps.push({ node: p.node, kinds: p.kinds })
            cur = p.node
          }
          return steps.reverse()
        }
        queue.push(w)
      }
    }
    return undefined
  }
}
