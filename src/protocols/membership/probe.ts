// SWIM's failure detector with Lifeguard's probe side: a direct probe, then k indirect probes with
// nacks, timeouts scaled by local health, a suspect member told so in the probe (the buddy system),
// and a last check of a suspect before its suspicion removes it. Foreign seed-002 peers that speak
// only HTTP are probed with GET /.
import {
  DEATH_CHECK_BURST,
  DEATH_CHECK_ROUNDS,
  MAX_DEATH_CHECKS,
  MAX_LATE_REARMS,
  MAX_UPDATES_PER_FRAME,
} from './constants.js'
import { type Update, type WireMember } from './wire.js'
import type { LastCheck } from './suspicion.js'
import { cmp, type Member } from './types.js'
import { MemberStates } from './state.js'

export class FailureDetector extends MemberStates {
  /** Members another member reported dead that the registry is pinging before it removes them. */
  private readonly deathChecks = new Set<string>()
  /** Last checks of suspects running (lastCheck), at most MAX_DEATH_CHECKS. */
  private suspectChecks = 0

  protected nextProbeTarget(): Member | undefined {
    const size = this.members.size
    for (let i = 0; i <= size; i++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = [...this.members.keys()]
        for (let j = this.probeOrder.length - 1; j > 0; j--) {
          const k = Math.floor(this.o.random() * (j + 1))
          ;[this.probeOrder[j], this.probeOrder[k]] = [this.probeOrder[k]!, this.probeOrder[j]!]
        }
        this.probeIndex = 0
        if (this.probeOrder.length === 0) return undefined
      }
      const m = this.members.get(this.probeOrder[this.probeIndex++]!)
      if (m && m.kind !== 'unverified') return m
    }
    return undefined
  }

  protected probeRound(): void {
    this.pruneTombstones()
    const target = this.nextProbeTarget()
    if (!target) return
    if (target.kind === 'http') void this.probeHttp(target)
    else void this.probe(target)
  }

  /**
   * Waits for the ack of probe `seq`. When the timer fires, the decision waits until the pending
   * input has been read (setImmediate runs after the poll phase), and a timer that fired late
   * (this process was too busy to keep time: many nodes in one process, a stalled machine) waits
   * once more instead of blaming the peer for our own slowness.
   */
  protected waitAck(seq: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let rearms = 0
      const arm = () => {
        const due = this.c.clock.now() + ms
        const timer = this.c.clock.setTimeout(() => {
          const late = this.c.clock.now() - due
          setImmediate(() => {
            if (this.acks.get(seq)?.resolve !== resolve) return
            if (this.running && late > ms / 2 && rearms++ < MAX_LATE_REARMS) return arm()
            this.acks.delete(seq)
            resolve(false)
          })
        }, ms)
        this.acks.set(seq, { resolve, timer })
      }
      arm()
    })
  }

  protected async probe(target: Member): Promise<void> {
    this.counts.probes++
    const seq = ++this.seq
    const timeout = this.scaled(this.o.probeTimeoutMs)
    const direct = this.waitAck(seq, timeout)
    const sentAt = this.c.clock.now()
    this.send(target, 'ping', { seq, u: this.withBuddy(target) })
    if (await direct) {
      this.c.metrics.observe(
        'distlab_membership_probe_seconds',
        'Membership: time from a direct probe (ping) to its ack, for probes answered in time.',
        (this.c.clock.now() - sentAt) / 1000,
      )
      return this.adjustHealth(-1)
    }
    if (!this.running || this.members.get(target.url) !== target) return
    // No ack in time: ask k others to probe it for us, and try once more ourselves.
    this.counts.indirectProbes++
    const seq2 = ++this.seq
    const indirect = this.waitAck(seq2, Math.max(this.scaled(this.o.probeIntervalMs) - timeout, timeout))
    const t = { n: target.name, h: target.host, p: target.port }
    const helpers = this.randomMembers(this.o.indirectChecks, target.url)
    this.nacks.set(seq2, 0)
    for (const helper of helpers) this.send(helper, 'ping-req', { seq: seq2, t, u: this.piggyback() })
    this.send(target, 'ping', { seq: seq2, u: this.withBuddy(target) })
    const ok = await indirect
    const nacks = this.nacks.get(seq2) ?? 0
    this.nacks.delete(seq2)
    if (ok) return
    // Helpers that did not even say "no answer" point at us, not at the target; with no helper to
    // ask, a failed probe counts against us as well (memberlist does the same).
    this.adjustHealth(helpers.length === 0 ? 1 : Math.max(0, helpers.length - nacks))
    if (!this.running || this.members.get(target.url) !== target) return
    // Already suspect (at this incarnation): our own failed probe is an independent confirmation.
    this.suspect(target, target.inc, this.selfInfo!.name)
  }

  /**
   * The piggybacked updates of a ping, with (Lifeguard's buddy system) the target's own suspicion
   * first when this node suspects it: the target learns it at once and can refute, instead of
   * waiting for the gossip to reach it.
   */
  protected withBuddy(target: Member): Update[] | undefined {
    const u = this.piggyback()
    if (target.status !== 'suspect') return u
    const out = u ?? []
    if (out.length >= MAX_UPDATES_PER_FRAME) out.pop()
    out.unshift(this.wire(target, 's', this.selfInfo!.name))
    return out
  }

  /** The piggybacked updates of an ack to a probe that said this node is suspect: its refutation first. */
  protected withSelf(): Update[] {
    const self = this.selfWire()
    const out = (this.piggyback() ?? []).filter((u) => u.s === 'm' || u.u !== self.u)
    if (out.length >= MAX_UPDATES_PER_FRAME) out.pop()
    out.unshift(self)
    return out
  }

  /** A foreign seed-002 peer: GET / must answer; three failures in a row and it is forgotten. */
  protected async probeHttp(m: Member): Promise<void> {
    this.counts.probes++
    // Own fetch, not NodeClient: probes a URL another peer handed over; only reachability counts.
    const ok = await fetch(`${m.url}/`, {
      signal: AbortSignal.timeout(this.o.httpTimeoutMs),
      redirect: 'manual',
    }).then(
      (r) => r.ok,
      () => false,
    )
    if (!this.running || this.members.get(m.url) !== m) return
    if (ok) m.httpFailures = 0
    else if (++m.httpFailures >= this.o.verifyAttempts) this.declareDead(m, 'GET / stopped answering')
  }

  /**
   * A death someone else reports (gossip, a push-pull view). A peer believes it: if it is wrong, the
   * member hears of its death in a push-pull with a peer and refutes it. The registry checks it
   * first with pings of its own that carry the death: no member gossips or swaps views with the
   * registry, so a live member it removed stays out of its list (and of every joiner's answer)
   * until that member next re-registers. Reports come wrong from a peer that was cut off: it removed
   * every member, and the first frames it sends once its links heal carry their deaths (first to
   * the registry, whose probe finds it first). An ack keeps the member (it also refuted the death,
   * and its ack carries the higher incarnation); no ack after DEATH_CHECK_ROUNDS removes it.
   */
  protected override applyDead(u: WireMember, why?: string): void {
    const cur = this.members.get(u.u)
    const current = cur !== undefined && cur.id === u.i && cmp(u, cur) >= 0
    const checking =
      current &&
      this.checkBeforeRemoval(cur, u, (alive) => {
        if (!this.running) return
        if (!alive) return super.applyDead(u, `${why ?? 'gossip says so'}, and it did not answer`)
        this.count(
          'reported_deaths_refused_total',
          'Deaths reported to the registry that its own pings refused.',
        )
        this.log.info(`${cur.name} (${cur.url}) answered: not removed (${why ?? 'gossip says so'})`)
      })
    if (!checking) super.applyDead(u, why)
  }

  /**
   * The last check of a suspect before its suspicion buries it (suspicion.ts), for a frames member:
   * rounds of pings telling it it is suspect, as the registry checks a reported death, begun early
   * enough to end when the suspicion is due (a dead member goes no later). However long the
   * suspicion, the member's refutation may never have reached this node: the few transmissions of a
   * suspicion and of its refutation can all be lost, and this node probes the member once a round
   * over its view at best. Simulated at 30% loss each way with 6 members, a live member was removed
   * in 3.2% of one-minute runs without it, in none of 10,000 with it (test/protocols/membership/
   * lossy-sim). The ack carries the refutation (a ping that says a member is suspect is acked with
   * it first); an ack without one (a peer of an older version, which ignores a suspicion it already
   * refuted) keeps the member alive at the incarnation this node holds.
   */
  protected override lastCheck(m: Member, at: { gen: number; inc: number }): LastCheck | undefined {
    if (m.kind !== 'frames') return undefined
    return {
      leadMs: DEATH_CHECK_ROUNDS * this.scaled(this.o.probeTimeoutMs),
      run: () => this.checkSuspect(m, at),
    }
  }

  private async checkSuspect(m: Member, at: { gen: number; inc: number }): Promise<boolean> {
    const suspect = () =>
      this.running && this.members.get(m.url) === m && m.status === 'suspect' && cmp(m, at) === 0
    if (this.suspectChecks >= MAX_DEATH_CHECKS) return false
    this.suspectChecks++
    let answered: boolean
    try {
      answered = await this.checkDeath(m, this.wire(m, 's', this.selfInfo!.name), suspect)
    } finally {
      this.suspectChecks--
    }
    if (!answered) return false
    this.count(
      'suspicions_answered_total',
      'Suspects that answered the last check before their suspicion ran out.',
    )
    const level = this.o.registry ? 'info' : 'debug'
    if (this.log.isLevelEnabled(level))
      this.log[level](`${m.name} (${m.url}) answered: not removed (its suspicion was running out)`)
    if (suspect()) {
      m.suspicion?.stop()
      m.suspicion = undefined
      m.status = 'alive'
      this.changed()
    }
    return true
  }

  /**
   * The registry's last check before it removes `m`, a frames member: pings carrying `death` (see
   * checkDeath), then `then(alive)`; one check a member at a time (a second report while one runs
   * is dropped). False when no check runs (not the registry, another kind of member, or
   * MAX_DEATH_CHECKS running): the caller removes it at once.
   */
  private checkBeforeRemoval(m: Member, death: WireMember, then: (alive: boolean) => void): boolean {
    if (!this.o.registry || m.kind !== 'frames' || this.deathChecks.size >= MAX_DEATH_CHECKS) return false
    if (this.deathChecks.has(m.url)) return true
    this.deathChecks.add(m.url)
    void this.checkDeath(m, death).then((alive) => {
      this.deathChecks.delete(m.url)
      then(alive)
    })
    return true
  }

  /**
   * Pings `m` (telling it of `death`) until it acks, in at most DEATH_CHECK_ROUNDS rounds of
   * DEATH_CHECK_BURST pings each (one probe timeout a round). A round's pings share one seq, as an
   * indirect probe's do: the first ack of any of them ends the wait.
   */
  private async checkDeath(
    m: Member,
    death: WireMember,
    going = () => this.running && this.members.get(m.url) === m,
  ): Promise<boolean> {
    for (let i = 0; i < DEATH_CHECK_ROUNDS && going(); i++) {
      const seq = ++this.seq
      const acked = this.waitAck(seq, this.scaled(this.o.probeTimeoutMs))
      for (let b = 0; b < DEATH_CHECK_BURST; b++) this.send(m, 'ping', { seq, u: [death] })
      if (await acked) return true
    }
    return false
  }
}
