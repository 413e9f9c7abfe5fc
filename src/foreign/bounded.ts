// A stop that waits on something outside distlab's control (a socket's peer, a child's exit, a
// store closing) waits at most so long: cleanup goes on, and a caller never hangs on one part.

/** Resolves true when `p` settles within `ms`, false when the time ran out first; never rejects. */
export function boundedWait(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms)
    p.then(
      () => {
        clearTimeout(t)
        resolve(true)
      },
      () => {
        clearTimeout(t)
        resolve(true)
      },
    )
  })
}
