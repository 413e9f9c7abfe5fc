// A peer cut off long enough that it removed every member and every member removed it (on a
// loaded machine: its own probes starved) must come back once its links work again, without
// waiting for the tombstones to expire (real sockets, OS-chosen ports on 127.0.61.1; frames cut by
// the link emulator, the registry's HTTP left open). A peer with an empty view registers again
// within a join backoff (before: only when its re-registration fell due, 30-90 s after its join
// here). Both sides' tombstones hold the same incarnation, so a refutation brings it back: the peer
// hears its own death (in a push-pull view), raises its incarnation, and the registry's check of
// its next registration spreads that.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { membership, type Membership, type MembershipInit } from '../../../src/protocols/membership/index.js'
import { waitFor } from '../../helpers.js'
import { createRootLogger } from '../../../src/core/logger.js'

// Each node's last log lines (debug), kept to explain a failure.
const LOG_LINES = 400
const logs = new Map<string, string[]>()
const loggerFor = (name: string) => {
  const lines: string[] = []
  logs.set(name, lines)
  return createRootLogger({
    level: 'debug',
    write: (l) => {
      lines.push(`${name} ${l.trimEnd()}`)
      if (lines.length > LOG_LINES) lines.shift()
    },
  })
}

// A loopback address of its own: a frame port the OS chose for UDP is then free for TCP too (on
// 127.0.0.1 an outgoing connection of another test could hold it).
const HOST = '127.0.61.1'

const TIMINGS: MembershipInit = {
  profile: 'local',
  joinRetryMs: 100,
  // Re-registration proper is a minute away: a peer left alone must not wait for it.
  reregisterIntervalMs: 60_000,
  // Tombstones outlive the test: only the rejoin itself can bring the peer back.
  deadRetentionMs: 600_000,
}

const mem = (n: Node) => n.protocol<Membership>('membership')!

describe('a peer that was cut off from everyone', () => {
  const started: Node[] = []
  after(async () => {
    for (const n of started.reverse()) await n.stop()
  })

  test('comes back when its links heal, though it removed every member and they removed it', async () => {
    const registry = createNode({
      name: 'master',
      host: HOST,
      httpPort: 0,
      framePort: 0,
      logger: loggerFor('master'),
      protocols: [membership({ ...TIMINGS, registry: true })],
    })
    started.push(registry)
    await registry.start()
    const peer = (name: string) =>
      createNode({
        name,
        host: HOST,
        httpPort: 0,
        framePort: 0,
        logger: loggerFor(name),
        protocols: [membership({ ...TIMINGS, bootstrapUrl: registry.httpUrl })],
      })
    const [a, b, x] = [peer('a'), peer('b'), peer('x')]
    for (const n of [a, b, x]) {
      started.push(n)
      await n.start()
    }
    const full = () => [a, b, x].every((n) => mem(n).viewSize() === 2)
    await waitFor('three peers that know each other', full, 30_000, 50)
    const joinedAt = Date.now()

    // Every frame to and from x is lost.
    const cut = (loss: number) => {
      for (const n of [registry, a, b]) n.links.setRule('x', { loss })
      for (const name of ['master', 'a', 'b']) x.links.setRule(name, { loss })
    }
    cut(1)
    await waitFor(
      'x to remove every member and every member to remove x',
      () => mem(x).viewSize() === 0 && !mem(a).knows(x.httpUrl) && !mem(b).knows(x.httpUrl),
      60_000,
      50,
    )

    cut(0)
    const healedAt = Date.now()
    await waitFor(
      'x back in every view, and every member back in its own',
      () => full() && mem(a).knows(x.httpUrl) && mem(b).knows(x.httpUrl),
      20_000,
      50,
    ).catch((err: Error) => {
      const st = (n: Node) => {
        const v = mem(n).stats()
        return `${n.name}: view ${mem(n).viewSize()} refuted ${v.refuted} declaredDead ${v.declaredDead} pushPulls ${v.pushPulls}`
      }
      const said = [...logs.values()]
        .flat()
        .filter((l) => /removed|refuting|alone|joined|suspect|answered/.test(l))
        .slice(-80)
      throw new Error(
        `${err.message}; ${[a, b, x].map(st).join('; ')}; registry knows x: ${mem(registry).knows(x.httpUrl)}, ` +
          `a knows x: ${mem(a).knows(x.httpUrl)}, b knows x: ${mem(b).knows(x.httpUrl)}\n${said.join('\n')}`,
      )
    })
    assert.equal(mem(x).viewSize(), 2)
    const kept = logs.get('master')!.filter((l) => l.includes('answered: not removed')).length
    console.log(
      `cut off ${Math.round((healedAt - joinedAt) / 100) / 10} s after the join, back ${Math.round((Date.now() - healedAt) / 100) / 10} s after the heal; ` +
        `the registry kept ${kept} member(s) reported dead that answered its pings`,
    )
  })
})
