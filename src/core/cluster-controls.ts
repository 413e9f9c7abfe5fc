// The controls a running cluster offers over its nodes: kill and restart one, shape the links
// between them, partition and heal. Every launcher implements them (src/cluster/launcher.ts), and
// so does the dashboard's view of a cluster it did not start; the scenario runner and the
// dashboard's buttons call only this, so they work whichever launcher started the nodes.
// Types only: this floor imports nothing from above it.
import type { LinkRule, LinkRuleInit } from './link-rule.js'

/** A node's link rules and the partition it applies, as its GET /link answers. */
export interface LinkView {
  rules: Record<string, LinkRule>
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
  /**
   * Sets the rule of the link from `from` to `to` (`*`: every peer of `from`); fields left out keep
   * their value. Resolves to the rule `from` applies now (all zeros: the link is clean again).
   */
  setLink(from: string, to: string, rule: LinkRuleInit): Promise<LinkRule>
  /** The link rules and partition node `name` applies. */
  links(name: string): Promise<LinkView>
  /** Every running node drops frames across the groups (nodes in no group reach everyone). */
  partition(groups: string[][]): Promise<FaultOutcome>
  /** Every running node drops its link rules and its partition. */
  heal(): Promise<FaultOutcome>
}
