// Joining: register with the bootstrap (or a seed peer), then swap views with a member; and the
// registry's side of POST /register: each registered URL is checked before it is admitted.
import {
  CATCH_UP_ROUNDS,
  JOIN_BACKOFF_MAX_FACTOR,
  JOIN_PUSH_PULLS,
  JOIN_PUSH_PULLS_SMALL,
  MAX_REGISTER_ANSWER_BYTES,
  PUSH_PULL_SCALE_THRESHOLD,
  REGISTER_CONCURRENCY,
  REGISTER_TIMEOUT_FACTOR,
} from './constants.js'
import { Gate } from './registry.js'
import { checkPushPull, SelfInfoSchema, type SelfInfo, type WireMember } from './wire.js'
import { PushPull } from './pushpull.js'
import { exchange } from '../../client/http-exchange.js'

/** Shared by every peer in this process (see Gate). */
const registerGate = new Gate(REGISTER_CONCURRENCY)

export class Joining extends PushPull {
  protected async join(): Promise<void> {
    const targets = [this.o.bootstrapUrl, this.o.seedUrl].filter((u): u is string => !!u)
    for (let attempt = 1; attempt <= this.o.joinAttempts && this.running; attempt++) {
      this.forgetWhenAlone()
      const results = await Promise.all(targets.map((t) => this.register(t, false)))
      // Joined once some member is known: from the answer, or from others who learned of this node
      // (the registry took a registration whose answer came too late) and probed or gossiped to it.
      // Then swap views with a few members, since the registry's list may lag (it checks each URL
      // first). Registered but still alone (the answer was empty: the first peer, or a registry that
      // went on to drop this URL when its checks timed out on a loaded machine) is not joined: no
      // one may know this node, so it asks again rather than wait for a re-registration.
      if (this.members.size > 0) {
        const swaps = this.members.size <= PUSH_PULL_SCALE_THRESHOLD ? JOIN_PUSH_PULLS_SMALL : JOIN_PUSH_PULLS
        for (const m of this.randomMembers(swaps)) this.pushPull(m)
        return
      }
      const note = results.some(Boolean)
        ? `registered with ${targets.join(' and ')}; no member known yet (attempt ${attempt} of ${this.o.joinAttempts})`
        : `could not register with ${targets.join(' or ')} (attempt ${attempt} of ${this.o.joinAttempts})`
      if (!results.some(Boolean) && (attempt === 1 || attempt === this.o.joinAttempts)) this.log.warn(note)
      else this.log.debug(note)
      // Back off with jitter: a thousand peers retrying in step keep an overloaded registry overloaded.
      await this.sleep(this.joinRetryDelayMs(attempt))
    }
  }

  /**
   * A peer that removed every member it knew is more likely cut off itself (its probes starved on a
   * loaded machine, or its links were down) than the last one alive, as Lifeguard reasons. Left as
   * it is, it can stay alone for good: its tombstones refuse the registry's list of the members it
   * buried, and theirs refuse it at the same incarnation, while nobody tells it of its death so
   * that it would refute. So it forgets whom it buried and raises its own incarnation, which the
   * registry's check of its next registration spreads, outranking the members' tombstones of it.
   */
  protected forgetWhenAlone(): void {
    if (this.members.size > 0 || this.dead.size === 0 || !this.selfInfo) return
    this.log.info(
      `alone after removing ${this.dead.size} members: forgetting them, rejoining at incarnation ${this.selfInfo.inc + 1}`,
    )
    this.dead.clear()
    this.selfInfo.inc++
    this.enqueue(this.selfWire())
  }

  /** The wait before join attempt `attempt` + 1: joinRetryMs doubling up to JOIN_BACKOFF_MAX_FACTOR times, ±50%. */
  protected joinRetryDelayMs(attempt: number): number {
    const backoff = Math.min(2 ** (attempt - 1), JOIN_BACKOFF_MAX_FACTOR)
    return Math.round(this.o.joinRetryMs * backoff * (0.5 + this.o.random()))
  }

  /** POST /register at `target`; merges the member list it answers with. */
  protected async register(target: string, quiet: boolean): Promise<boolean> {
    return registerGate.run(() => this.registerNow(target, quiet))
  }

  protected async registerNow(target: string, quiet: boolean): Promise<boolean> {
    if (!this.running) return false
    const s = this.selfInfo!
    if (this.log.isLevelEnabled('debug')) this.log.debug(`register at ${target} starts`)
    const local = await this.registerByCall(target, quiet)
    if (local !== undefined) return local
    try {
      // Not NodeClient: a URL another peer handed over, checked by url-guard, logged not thrown. Over
      // node:http (http-exchange.ts), as the node's own calls to its master: a node that started
      // loads no fetch (undici) for its registration.
      const res = await exchange(`${target}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.c.trust?.httpHeaders() },
        body: JSON.stringify({ url: s.url, name: s.name, quiet, members: true, self: this.selfWire() }),
        // Longer than other calls: a registry swamped by a mass join answers late rather than never,
        // and an abandoned request is work it did for nothing.
        signal: AbortSignal.timeout(this.o.httpTimeoutMs * REGISTER_TIMEOUT_FACTOR),
        maxBytes: MAX_REGISTER_ANSWER_BYTES,
      })
      if (res.status < 200 || res.status >= 300) {
        this.log.debug(`${target}/register answered ${res.status}`)
        return false
      }
      const body = JSON.parse(res.text) as { members?: unknown }
      try {
        this.merge(checkPushPull({ m: body.members ?? [] }).m ?? [], 'registry')
      } catch {
        this.log.debug(`${target}/register answered a member list that does not parse`)
      }
      return true
    } catch (err) {
      this.log.debug(`${target}/register failed: ${(err as Error).message}`)
      return false
    }
  }

  /**
   * Registers with a registry of this process by a call (local-registry.ts), its member list merged
   * as an HTTP answer's would be; undefined when `target` is not one (or will not take it by call).
   */
  private async registerByCall(target: string, quiet: boolean): Promise<boolean | undefined> {
    const registry = this.o.directory?.get(target)
    if (!registry) return undefined
    const s = this.selfInfo!
    const r = await registry.registerLocal(
      { url: s.url, field: 'url', name: s.name, quiet, self: this.selfWire() },
      this.c.trust?.httpHeaders() ?? {},
    )
    if (!r || !this.running) return r === undefined ? undefined : false
    if (!r.ok) {
      this.log.debug(`${target} (in this process) refused the registration: ${r.why}`)
      return false
    }
    this.merge(r.members, 'registry')
    if (!quiet) this.catchUp(target, r.members.length, 1)
    return true
  }

  /**
   * After a registration by call, reads the registry's list again a join retry later, and again
   * while it keeps growing (up to CATCH_UP_ROUNDS): in a mass join the first registrants' answers
   * list the few that came before them, and the rest otherwise reaches them only by gossip, each
   * alive update relayed by every peer. A read by call costs no frame and no encoding; over HTTP
   * each would move the whole list, so peers in other processes rely on gossip and push-pull.
   */
  private catchUp(target: string, had: number, round: number): void {
    if (round > CATCH_UP_ROUNDS) return
    this.after(Math.round(this.o.joinRetryMs * (0.5 + this.o.random())), () => {
      const list = this.o.directory?.get(target)?.membersLocal(this.c.trust?.httpHeaders() ?? {})
      if (!list) return
      this.merge(list, 'registry')
      if (list.length > had) this.catchUp(target, list.length, round + 1)
    })
  }

  protected async verify(url: string): Promise<void> {
    try {
      for (let attempt = 1; attempt <= this.o.verifyAttempts && this.running; attempt++) {
        if (!this.pendingVerify.has(url)) return
        while (this.verifying >= this.o.verifyConcurrency && this.running)
          await new Promise<void>((r) => this.verifyWaiters.push(r))
        this.verifying++
        let verdict: 'frames' | 'http' | 'none'
        let info: SelfInfo | undefined
        try {
          ;[verdict, info] = await this.check(url)
        } finally {
          this.verifying--
          this.verifyWaiters.shift()?.()
        }
        if (!this.running || !this.pendingVerify.has(url)) return
        const cur = this.members.get(url)
        if (verdict === 'frames' && info && !info.registry && info.url === url) {
          this.pendingVerify.delete(url)
          if (cur?.kind === 'unverified') this.members.delete(url)
          this.dead.delete(url)
          this.apply({
            s: 'a',
            n: info.name,
            u: url,
            i: info.id,
            h: info.host,
            p: info.framePort,
            g: info.gen,
            c: info.inc,
          })
          return
        }
        if (verdict === 'http') {
          this.pendingVerify.delete(url)
          if (cur?.kind === 'unverified') {
            cur.kind = 'http'
            this.changed()
          }
          return
        }
        if (attempt < this.o.verifyAttempts) await this.sleep(this.o.verifyRetryMs)
      }
      const cur = this.members.get(url)
      this.pendingVerify.delete(url)
      if (cur?.kind === 'unverified') {
        this.members.delete(url)
        this.counts.registrationsDropped++
        this.count('registrations_dropped_total', 'Registered URLs dropped because they did not answer.')
        this.log.info(`dropped ${url}: it did not answer ${this.o.verifyAttempts} checks`)
        this.changed()
      }
    } finally {
      this.pendingVerify.delete(url)
      this.claims.delete(url)
    }
  }

  /**
   * Asks a registered URL who it is. A distlab peer's registration says where its frames go: one
   * frame ping there, acked, confirms it (a datagram each way, where an HTTP check took seconds
   * of a busy event loop's turns during a mass join); without a claim or an ack, GET
   * /membership/self, and for a seed-002 peer GET /.
   */
  protected async check(url: string): Promise<['frames' | 'http' | 'none', SelfInfo?]> {
    const claim = this.claims.get(url)
    if (claim && (await this.pingClaim(url, claim)))
      return [
        'frames',
        {
          name: claim.n,
          id: claim.i,
          url,
          host: claim.h,
          framePort: claim.p,
          gen: claim.g,
          inc: claim.c,
          registry: false,
        },
      ]
    const signal = AbortSignal.timeout(this.o.httpTimeoutMs)
    try {
      await this.c.trust?.checkPeerUrl(url) // no request forgery: only the cluster's address ranges
      // Own fetch, not NodeClient: a URL another peer handed over, checked by url-guard, logged not thrown.
      const res = await fetch(`${url}/membership/self`, { signal, redirect: 'manual' })
      if (res.ok) {
        const info = SelfInfoSchema.safeParse(await res.json())
        if (info.success) return ['frames', info.data]
      } else await res.body?.cancel()
      // Own fetch, not NodeClient: a URL another peer handed over, checked by url-guard, logged not thrown.
      const root = await fetch(`${url}/`, { signal, redirect: 'manual' })
      await root.body?.cancel()
      return [root.ok ? 'http' : 'none']
    } catch {
      return ['none']
    }
  }

  /**
   * Pings the frame address a registrant claims; true when it acks within the probe timeout. The
   * address passes the URL guard first (no datagrams wherever a stranger points), as gossip's do.
   */
  private async pingClaim(url: string, claim: WireMember): Promise<boolean> {
    try {
      await this.c.trust?.checkPeerUrl(url)
      await this.c.trust?.checkPeerUrl(
        `http://${claim.h.includes(':') ? `[${claim.h}]` : claim.h}:${claim.p}`,
        'self',
      )
    } catch {
      return false
    }
    if (!this.running) return false
    const seq = ++this.seq
    const acked = this.waitAck(seq, this.o.probeTimeoutMs)
    this.send({ name: claim.n, host: claim.h, port: claim.p }, 'ping', { seq })
    return acked
  }
}
