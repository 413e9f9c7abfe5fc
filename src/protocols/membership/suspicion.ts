// Lifeguard's dynamic suspicion (LHA-Suspicion; memberlist's suspicion): a suspicion starts with a
// long timeout and each independent confirmation (another member that suspects the same member at
// the same incarnation) shrinks it, logarithmically, to the minimum once k confirmations are in. A
// member that only one lossy peer suspects gets the most time to refute; one that everybody
// suspects (really dead) goes as fast as plain SWIM would take it. Before the timeout buries the
// member, a last check asks the member itself (probe.ts), begun early enough to end when it is due.
import type { Clock, TimerHandle } from '../../core/clock.js'
import { MAX_LATE_REARMS } from './constants.js'

/**
 * A suspicion timer that fires this much later than due (this process did not keep time: a stalled
 * machine, many nodes in one process) waits as long again before the member is declared dead, at
 * most MAX_LATE_REARMS times: while this process was stalled it could not hear the refutation.
 */
export const SUSPICION_LATE_MS = 500

/** Most distinct confirmers remembered per suspicion (a hostile peer cannot grow the set). */
export const MAX_CONFIRMERS = 64

export interface SuspicionInit {
  clock: Clock
  /** Confirmations expected before the timeout reaches its minimum (0: the minimum at once). */
  k: number
  minMs: number
  maxMs: number
  /** Who raised the suspicion: its confirmations do not count again. */
  from: string
  onTimeout: () => void
  /** Asked before the timeout buries the member (see LastCheck). */
  lastCheck?: LastCheck
}

/**
 * The last check of a suspect before its suspicion runs out: `run` starts `leadMs` before the
 * timeout is due, so that a dead member goes no later than without it, and resolves true when the
 * member answered (the caller has ended the suspicion) or false. A timeout that falls due while it
 * runs (confirmations brought it closer than `leadMs`) waits for its answer.
 */
export interface LastCheck {
  leadMs: number
  run: () => Promise<boolean>
}

/**
 * The timeout after `confirmations` independent confirmations: maxMs − (maxMs − minMs) ×
 * log(c + 1) / log(k + 1), never below minMs.
 */
export function suspicionTimeoutMs(confirmations: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs
  const frac = Math.log(confirmations + 1) / Math.log(k + 1)
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)))
}

/** How long a suspicion of one member lasts, as `suspicionBounds` works it out. */
export interface SuspicionBounds {
  /** Independent confirmations that bring the timeout down to minMs. */
  k: number
  minMs: number
  maxMs: number
}

/**
 * memberlist's suspicion timeouts for a view of `n` members (this one included): the minimum is
 * suspicionMult × max(1, log10 n) × probeIntervalMs, the base probe interval and not the one local
 * health stretches (Lifeguard scales a member's probing by its health, not how long it lets others
 * refute: a slow member already takes longer to suspect anyone, and a member that is really dead
 * must still go in bounded time); the maximum is maxTimeoutMult times that. k confirmations are
 * expected (suspicionMult − 2), none when the view is too small to give them.
 */
export function suspicionBounds(
  n: number,
  suspicionMult: number,
  maxTimeoutMult: number,
  probeIntervalMs: number,
): SuspicionBounds {
  const expected = Math.max(0, Math.floor(suspicionMult - 2))
  const k = n - 2 < expected ? 0 : expected
  const minMs = suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * probeIntervalMs
  return { k, minMs, maxMs: minMs * maxTimeoutMult }
}

export class Suspicion {
  private readonly started: number
  private readonly confirmers = new Set<string>()
  private timer?: TimerHandle
  private checkTimer?: TimerHandle
  private done = false
  private check: 'none' | 'running' | 'failed' = 'none'
  /** The timeout fell due while the last check ran (or before it started). */
  private expired = false
  /** Time added for timers that fired late (SUSPICION_LATE_MS), and how many times. */
  private graceMs = 0
  private lateRearms = 0

  constructor(private readonly init: SuspicionInit) {
    this.started = init.clock.now()
    this.confirmers.add(init.from)
    this.arm()
  }

  /** Independent confirmations so far. */
  get confirmations(): number {
    return this.confirmers.size - 1
  }

  /** The timeout as it stands, from the start of the suspicion, in ms. */
  get timeoutMs(): number {
    return suspicionTimeoutMs(this.confirmations, this.init.k, this.init.minMs, this.init.maxMs)
  }

  /**
   * Another member suspects the same member: true when it is a new, counted confirmation (then the
   * timer is shortened and the caller passes the suspicion on).
   */
  confirm(from: string): boolean {
    if (this.done || this.confirmations >= this.init.k || this.confirmers.size >= MAX_CONFIRMERS) return false
    if (this.confirmers.has(from)) return false
    this.confirmers.add(from)
    if (!this.expired) this.arm()
    return true
  }

  /** Cancels the timers (refuted, removed, or the node stops); a last check's answer is ignored. Twice is harmless. */
  stop(): void {
    this.done = true
    this.clearTimers()
  }

  private clearTimers(): void {
    const { clock } = this.init
    if (this.timer) clock.clearTimeout(this.timer)
    if (this.checkTimer) clock.clearTimeout(this.checkTimer)
    this.timer = this.checkTimer = undefined
  }

  private arm(): void {
    const { clock, lastCheck } = this.init
    this.clearTimers()
    const now = clock.now()
    const left = Math.max(0, this.started + this.timeoutMs + this.graceMs - now)
    const due = now + left
    this.timer = clock.setTimeout(() => {
      this.timer = undefined
      if (this.done) return
      const late = clock.now() - due
      if (late > SUSPICION_LATE_MS && this.lateRearms < MAX_LATE_REARMS) {
        this.lateRearms++
        this.graceMs += late
        return this.arm()
      }
      this.expire()
    }, left)
    if (lastCheck && this.check === 'none')
      this.checkTimer = clock.setTimeout(() => this.startCheck(), Math.max(0, left - lastCheck.leadMs))
  }

  private expire(): void {
    this.expired = true
    if (this.init.lastCheck && this.check === 'none') this.startCheck()
    if (this.check === 'running') return
    this.done = true
    this.clearTimers()
    this.init.onTimeout()
  }

  private startCheck(): void {
    this.checkTimer = undefined
    if (this.done || this.check !== 'none') return
    this.check = 'running'
    const check = this.init.lastCheck!
    void check
      .run()
      .catch(() => false)
      .then((answered) => {
        if (this.done) return
        if (answered) return this.stop()
        this.check = 'failed'
        if (this.expired) this.expire()
      })
  }
}
