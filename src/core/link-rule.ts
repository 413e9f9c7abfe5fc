// A link rule: how the link emulator (src/link/) shapes what one node sends to another, and what a
// caller passes to set one (the CLI, the scenario runner, the dashboard, every launcher). One type
// for all of them. Types only: this floor imports nothing from above it.

/** A link rule as a caller sets it: every field optional, the emulator fills the rest. */
export interface LinkRuleInit {
  /** Probability that a frame is lost. @default 0 */
  loss?: number
  /** Drop every n-th frame on the link; 0 turns it off. @default 0 */
  dropEvery?: number
  /** One-way delay, in milliseconds. @default 0 */
  delayMs?: number
  /** Uniform jitter added to or taken from the delay, in milliseconds. @default 0 */
  jitterMs?: number
  /** Probability that a frame is sent twice. @default 0 */
  duplicate?: number
  /** Probability that a frame is held back so that later frames overtake it. @default 0 */
  reorder?: number
  /**
   * Probability that a frame is corrupted on the way. A corrupted frame of distlab's fails its
   * CRC at the receiver, so the emulator drops it (reason `corrupt`); the foreign relays flip a byte
   * of a datagram instead. @default 0
   */
  corrupt?: number
  /** Bandwidth of the link in bits per second (a token bucket); 0 is unlimited. @default 0 */
  rateBps?: number
}

/** A rule with every field resolved, as a node applies and reports it. */
export type LinkRule = Readonly<Required<LinkRuleInit>>
