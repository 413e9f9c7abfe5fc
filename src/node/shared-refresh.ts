// What a node's member-list refreshes share (node.ts): one request in flight, and a gap between two.

/**
 * A member-list refresh that its askers share: the one in flight, or a new one when none started in
 * the last `minGapMs`, so that however many ask, the master gets one request per gap at most.
 * Failures are swallowed: the next refresh tries again.
 */
export class SharedRefresh {
  private current?: Promise<void>
  private startedAt = -Infinity

  constructor(
    private readonly run: () => Promise<void>,
    private readonly minGapMs: number,
  ) {}

  /** True when join(now) would start a new refresh. */
  wouldStart(now: number): boolean {
    return !this.current && now - this.startedAt >= this.minGapMs
  }

  /** The refresh in flight, or a new one when wouldStart(now); undefined when neither. */
  join(now: number): Promise<void> | undefined {
    if (this.current) return this.current
    if (now - this.startedAt < this.minGapMs) return undefined
    this.startedAt = now
    this.current = this.run()
      .catch(() => {})
      .finally(() => {
        this.current = undefined
      })
    return this.current
  }
}
