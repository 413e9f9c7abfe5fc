// The controls a running cluster offers over its nodes: kill and restart one, shape the links
// between them, partition and heal. Every launcher implements them (src/cluster/launcher.ts), and
// so does the dashboard's view of a cluster it did not start; the scenario runner and the
// dashboard's buttons call only this, so they work whichever launcher started the nodes.
// Types only: this floor imports nothing from above it.

/** A link rule as a caller sets it: every field optional, the node's link emulator fills the rest. */
export interface LinkRuleSpec {
  /** Probability that a frame is lost. */
  loss?: number
  /** Drop every n-th frame; 0 turns it off. */
  dropEvery?: number
  /** One-way delay, in ms. */
  delayMs?: number
  /** Uniform jitter around the delay, in ms. */
  jitterMs?: number
  /** Probability that a frame is sent twice. */
  duplicate?: number
  /** Probability that a frame is held back so that later ones overtake it. */
  reorder?: number
  /** Probability that a frame is corrupted. */
  corrupt?: number
  /** Bandwidth in bits per second; 0 is unlimited. */
  rateBps?: number
}

/** A node's link rules and the partition it applies, as its GET /link answers. */
export interface LinkView {
  rules: Record<string, Readonly<Required<LinkRuleSpec>>>
  partition: string[][]
}

/** What a fault applied to many nodes did: which took it, and which failed and why. */
export interface FaultOutcome {
  applied: string[]
  failed: Array<{ name: string; error: string }>
}

export type KillSignal = 'SIGKILL' | 'SIGTERM'

export interface ClusterControls {
  /** Stops one node abruptly (SIGKILL by default): no goodbye, it stays down until restart(). */
  kill(name: string, signal?: KillSignal): Promise<void>
  /** Starts a node again under the same name and address; it answers /health when this resolves. */
  restart(name: string): Promise<void>
  /** Sets the rule of the link from `from` to `to` (`*`: every peer of `from`). */
  setLink(from: string, to: string, rule: LinkRuleSpec): Promise<void>
  /** The link rules and partition node `name` applies. */
  links(name: string): Promise<LinkView>
  /** Every running node drops frames across the groups (nodes in no group reach everyone). */
  partition(groups: string[][]): Promise<FaultOutcome>
  /** Every running node drops its link rules and its partition. */
  heal(): Promise<FaultOutcome>
}
