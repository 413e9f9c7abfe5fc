// Lifeguard's local health awareness (Dadgar, Phillips and Currey, "Lifeguard: Local Health
// Awareness for More Accurate Failure Detection", 2018; memberlist's "awareness"): a member that
// misses the acks and nacks it expects is more likely slow or lossy itself than surrounded by dead
// peers, so it raises its own health score and waits (score + 1) times longer before it blames
// others: its probe interval, its probe timeout and the suspicion timeout it starts.

export class Awareness {
  private score = 0

  /** @param max the multiplier's ceiling: the score stays in [0, max − 1] (memberlist AwarenessMaxMultiplier). */
  constructor(readonly max: number) {}

  /** 0 is healthy; higher is worse. */
  get health(): number {
    return this.score
  }

  /** A probe answered (−1), expected nacks missing (+each), a suspicion of this node refuted (+1). */
  apply(delta: number): void {
    this.score = Math.max(0, Math.min(this.max - 1, this.score + delta))
  }

  /** `ms` scaled by the local health: ms × (score + 1). */
  scale(ms: number): number {
    return ms * (this.score + 1)
  }
}
