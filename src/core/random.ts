// The one seeded random source of distlab: mulberry32 (Tommy Ettinger's 32-bit generator), small
// and fast, so a fuzz run, a synthetic history, a line server's picks or a test's loss pattern is
// repeatable from its seed. Not for anything secret: use node:crypto there. And one shuffle, over
// that source or any other.

/** A seeded generator of numbers uniform in [0, 1); the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Shuffles `xs` in place (Fisher-Yates) and returns it; `rand` gives numbers uniform in [0, 1). */
export function shuffle<T>(xs: T[], rand: () => number = Math.random): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}
