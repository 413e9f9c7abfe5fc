// Gossip rounds and push-pull anti-entropy: a digest first, whole views only when digests differ,
// and the members a node removed carried along so that a view that missed a death learns it.
import { MAX_MEMBERS, STATE_JSON_MAX_AGE_MS } from './constants.js'
import { type WireMember } from './wire.js'
import { cmp, type DigestPart, type MemberStatus } from './types.js'
import { FailureDetector } from './probe.js'
import type { PeerAddress } from '../../core/interfaces.js'

export class PushPull extends FailureDetector {
  protected gossipRound(): void {
    for (const m of this.queued.size > 0 ? this.randomMembers(this.o.gossipFanout) : []) {
      const u = this.piggyback()
      if (!u) break
      this.counts.gossipSent++
      this.send(m, 'gossip', { u })
    }
    // (Drained by sending, or by feedback since the last round.)
    if (this.queued.size === 0 && this.backlog) {
      // A backlog just drained, cut short by feedback: rumor mongering leaves a few peers
      // uninformed, and anti-entropy repairs them (Demers et al.). Swap views with one member now
      // rather than at the next push-pull round, up to half a minute away in a large overlay.
      this.backlog = false
      const [m] = this.randomMembers(1)
      if (m) this.pushPull(m)
    }
  }

  protected state(): WireMember[] {
    const out: WireMember[] = this.o.registry ? [] : [this.selfWire()]
    for (const m of this.members.values())
      if (m.kind === 'frames' && out.length <= MAX_MEMBERS) out.push(this.wire(m))
    return out
  }

  /**
   * The view a push-pull carries: state() and the members this node removed as dead (memberlist
   * sends its dead members too until it forgets them). A member that never hears the death by
   * gossip (the registry, which no member gossips to; a member that lost every copy) learns it at
   * its next push-pull. The digest leaves them out: views that agree on the living do not swap.
   */
  protected pushPullView(): WireMember[] {
    const out = this.state()
    for (const [url, t] of this.dead) {
      if (out.length > MAX_MEMBERS) break
      out.push(this.tombstoneWire(url, t))
    }
    return out
  }

  /**
   * state() as the registry hands it out, rebuilt when the view changed and the last build is older
   * than STATE_JSON_MAX_AGE_MS: during a mass join one list serves every registration of a window.
   * Frozen, because registrations made by call (local-registry.ts) share the very objects.
   */
  protected stateList(): readonly WireMember[] {
    const now = this.c.clock.now()
    const cache = this.stateCache
    if (cache && (cache.version === this.version || now - cache.at < STATE_JSON_MAX_AGE_MS)) return cache.list
    const list = this.state()
    for (const m of list) Object.freeze(m)
    this.stateCache = { version: this.version, at: now, list: Object.freeze(list) }
    return this.stateCache.list
  }

  /** stateList() as JSON (POST /register's answer), encoded once per list. */
  protected stateJson(): string {
    const list = this.stateList()
    const cache = this.stateCache!
    return (cache.json ??= JSON.stringify(list))
  }

  protected pushPullRound(): void {
    const [m] = this.randomMembers(1)
    if (m) this.pushPull(m)
    this.after(Math.floor((0.5 + this.o.random() / 2) * this.pushPullIntervalMs()), () =>
      this.pushPullRound(),
    )
  }

  /**
   * Push-pull in two steps: the digest of this view first, the whole views only when the digests
   * differ. memberlist sends whole views every time; a thousand converged peers then moved ~10 kB
   * per peer per second of identical lists (at 150 bytes a member), where a digest is 40 bytes.
   */
  protected pushPull(m: { name: string; host: string; port: number }): void {
    this.counts.pushPulls++
    const s = this.selfInfo!
    this.send(m, 'pp', { d: this.digest(), from: { h: s.host, p: s.framePort } }, true)
  }

  /**
   * An order-free digest of the view (this node included): the same views give the same digest.
   * Two 32-bit sums over the members of two string hashes of `url gen inc status`: a change of one
   * member changes both sums, and no sort, copy or SHA-1 of the view is needed. (The sorted SHA-1
   * it replaces cost 5% of the CPU of a thousand-peer mass join, where the view changes between
   * most push-pulls.) Each member's hashes are kept on it until its state changes, so a digest of
   * a changed view costs a pass of additions, not a string and a hash per member (that was 6% of a
   * thousand-peer mass join). Only agreement is read from it: a peer that lies can lie in its view
   * anyway.
   */
  protected digest(): string {
    const s = this.selfInfo!
    const cache = this.digestCache
    if (cache && cache.version === this.version && cache.inc === s.inc) return cache.d
    let n = 0
    let a = 0
    let b = 0
    if (!this.o.registry) {
      const p = (this.selfDigestPart = digestPart(this.selfDigestPart, s.url, s.gen, s.inc, 'alive'))
      a = p.h1
      b = p.h2
      n++
    }
    for (const m of this.members.values())
      if (m.kind === 'frames' && n <= MAX_MEMBERS) {
        const p = (m.digestPart = digestPart(m.digestPart, m.url, m.gen, m.inc, m.status))
        a = (a + p.h1) | 0
        b = (b + p.h2) | 0
        n++
      }
    const d = `${n}:${(a >>> 0).toString(36)}.${(b >>> 0).toString(36)}`
    this.digestCache = { version: this.version, inc: s.inc, d }
    return d
  }

  /**
   * The members of this view (this node included) that `theirs` lacks, holds at an older version,
   * or holds in another state. In a mass join the answer to a whole view is then a few members, not
   * a thousand.
   */
  protected missingFrom(theirs: WireMember[]): WireMember[] {
    const known = new Map<string, WireMember>()
    for (const t of theirs) known.set(t.u, t)
    const out = this.state().filter((m) => {
      const t = known.get(m.u)
      return !t || cmp(m, t) > 0 || (cmp(m, t) === 0 && t.s !== m.s)
    })
    // And the deaths of members they still hold.
    for (const [url, dead] of this.dead) {
      const t = known.get(url)
      if (t && t.s !== 'd' && t.i === dead.id && cmp(dead, t) >= 0 && out.length <= MAX_MEMBERS)
        out.push(this.tombstoneWire(url, dead))
    }
    return out
  }

  /**
   * A peer's whole view. A death in it is final, as one in gossip is. (memberlist only suspects a
   * member that a push-pull reports dead; but the registry hears deaths in no other way, and a
   * suspicion begun there, with nobody to confirm it, waited out its whole maximum after the member
   * was already gone everywhere else. A stale death cannot win: a restart has a newer generation,
   * a refutation a higher incarnation, and either readmits a member buried by mistake.) A death of
   * a member not in this view is not remembered here: passed on from view to view, each holder
   * remembering it anew, it would never be forgotten.
   */
  protected merge(list: readonly WireMember[], sender: string): void {
    for (const u of list) {
      if (u.s !== 'd') this.apply(u, false, sender)
      else if (u.u === this.selfInfo?.url) this.aboutSelf(u)
      else if (this.members.has(u.u)) this.applyDead(u, `${sender} reports it dead`)
    }
  }

  /**
   * A TCP answer to the address a frame asked for: sent when the URL guard allows that address.
   * `replyOn`: the asked frame's `from`, whose connection carries the answer while it is open.
   */
  protected sendChecked(
    to: { name: string; host: string; port: number },
    type: string,
    body: unknown,
    replyOn?: PeerAddress,
  ): void {
    const known = this.live().some((m) => m.host === to.host && m.port === to.port)
    if (known || !this.c.trust) return this.send(to, type, body, true, replyOn)
    this.c.trust
      .checkPeerUrl(`http://${to.host.includes(':') ? `[${to.host}]` : to.host}:${to.port}`, 'from')
      .then(
        () => this.send(to, type, body, true, replyOn),
        () => {
          this.counts.urlsRejected++
          this.count(
            'urls_rejected_total',
            'Peer URLs or frame addresses learned from other peers and refused by the URL guard.',
          )
        },
      )
  }
}

/** `part` when it was taken of this state, else the member's hashes taken anew (in `part` if there is one). */
function digestPart(
  part: DigestPart | undefined,
  url: string,
  gen: number,
  inc: number,
  status: MemberStatus,
): DigestPart {
  if (part && part.gen === gen && part.inc === inc && part.status === status) return part
  const p = part ?? { gen, inc, status, h1: 0, h2: 0 }
  p.gen = gen
  p.inc = inc
  p.status = status
  memberHash(url, gen, inc, status === 'alive' ? 'a' : 's', p)
  return p
}

/** Two 32-bit hashes (FNV-1a and a multiply-rotate one) of one member's `url gen inc status`, into `out`. */
function memberHash(u: string, g: number, c: number, st: string, out: DigestPart): void {
  const text = `${u} ${g} ${c} ${st}`
  let h1 = 0x811c9dc5
  let h2 = 0x9e3779b9
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 0x01000193)
    h2 = Math.imul((h2 << 5) | (h2 >>> 27), 0x5bd1e995) ^ ch
  }
  // Final mixing, so that members whose lines differ in one character spread over all the bits.
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b)
  h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35)
  out.h1 = h1 ^ (h1 >>> 15)
  out.h2 = h2 ^ (h2 >>> 16)
}
