// Discovery and failure detection on real sockets (127.40.x.y, OS-chosen ports), with protocol
// intervals shortened so that the tests run in seconds: views converge, then keep converging
// without the bootstrap; a new peer joins through --seed; a killed peer is found and forgotten and
// readmitted when it comes back; with 20% killed every view converges to the survivors.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { membership, type Membership, type MembershipInit } from '../../../src/protocols/membership/index.js'
import { getJson, postJson, waitFor } from '../../helpers.js'
import { createRootLogger } from '../../../src/core/logger.js'

const FAST: MembershipInit = {
  profile: 'local',
  suspicionMult: 3,
  deadRetentionMs: 3000,
  // Not shortened: an HTTP timeout only decides when a slow answer counts as none. A hundred peers
  // in one process beside two other test files answer a registration, a check or a message seconds
  // late; with 3 s the registry dropped peers whose checks came back late and /p2p/send gave up.
  httpTimeoutMs: 10_000,
}

const mem = (n: Node) => n.protocol<Membership>('membership')!

/**
 * Each peer's last log records (debug, raw JSON: cheap to keep; not the "joined" lines, which would
 * push out what it tried), shown for the peers short of a view.
 */
const LOG_RECORDS = 40
const logs = new Map<string, string[]>()
function ringLogger(name: string) {
  const records: string[] = []
  logs.set(name, records)
  return createRootLogger({
    level: 'debug',
    format: 'json',
    write: (r) => {
      if (r.includes(' joined (')) return
      records.push(r)
      if (records.length > LOG_RECORDS) records.shift()
    },
  })
}

function peer(i: number, init: MembershipInit): Node {
  return createNode({
    name: `node${i}`,
    host: `127.40.${10 + Math.floor(i / 250)}.${1 + (i % 250)}`,
    httpPort: 0,
    framePort: 0,
    logger: ringLogger(`node${i}`),
    protocols: [membership({ ...FAST, ...init })],
  })
}

/** The registries' last log records (at least 5000), for what they did with the peers short of a view. */
const REGISTRY_LOG_RECORDS = 5000
const regLog: string[] = []

/** A bootstrap registry at `host`. */
function registry(host: string): Node {
  return createNode({
    name: 'master',
    host,
    httpPort: 0,
    framePort: 0,
    logger: createRootLogger({
      level: 'debug',
      format: 'json',
      write: (r) => {
        regLog.push(r)
        if (regLog.length > 2 * REGISTRY_LOG_RECORDS) regLog.splice(0, REGISTRY_LOG_RECORDS)
      },
    }),
    protocols: [membership({ ...FAST, registry: true })],
  })
}

/** True when every node in `live` sees exactly the others in `live`. */
function converged(live: Node[]): boolean {
  const urls = new Set(live.map((n) => n.httpUrl))
  return live.every((n) => {
    const view = mem(n).peers()
    return view.length === urls.size - 1 && view.every((u) => urls.has(u) && u !== n.httpUrl)
  })
}

function describeViews(live: Node[]): string {
  const views = live.map((n) => `${n.name}:${mem(n).peers().length}`).join(' ')
  // What the peers short of a full view did, and whether the others know them.
  // The emptiest views first, with each one's last log records (what it last tried and heard).
  const short = live
    .filter((n) => mem(n).peers().length < live.length - 1)
    .sort((a, b) => mem(a).peers().length - mem(b).peers().length)
    .slice(0, 8)
    .map((n) => {
      const s = mem(n).stats()
      const knownBy = live.filter((o) => o !== n && mem(o).knows(n.httpUrl)).length
      const said = (logs.get(n.name) ?? []).slice(-12).map((r) => {
        const { time, msg } = JSON.parse(r) as { time: number; msg: string }
        return `\n    ${new Date(time).toISOString().slice(11, 23)} ${msg}`
      })
      const reg = regLog
        .filter((r) => r.includes(n.httpUrl))
        .slice(-10)
        .map((r) => {
          const { time, msg } = JSON.parse(r) as { time: number; msg: string }
          return `\n    registry ${new Date(time).toISOString().slice(11, 23)} ${msg}`
        })
      said.push(...reg)
      return (
        `${n.name}: known by ${knownBy}, health ${s.health}, probes ${s.probes}, suspected ${s.suspected}, ` +
        `declaredDead ${s.declaredDead}, refuted ${s.refuted}, pushPulls ${s.pushPulls}, gossipSent ${s.gossipSent}` +
        said.join('')
      )
    })
  return short.length ? `${views}\n${short.join('\n')}` : views
}

describe('discovery without the bootstrap', () => {
  const bootstrap = registry('127.40.9.1')
  const nodes: Node[] = []
  let late: Node | undefined

  before(async () => {
    await bootstrap.start()
    for (let i = 1; i <= 12; i++) nodes.push(peer(i, { bootstrapUrl: bootstrap.httpUrl }))
    await Promise.all(nodes.map((n) => n.start()))
  })
  after(async () => {
    for (const n of [...nodes, ...(late ? [late] : [])]) await n.stop()
    await bootstrap.stop()
  })

  test('twelve peers registered with the bootstrap converge: each knows the other eleven', async () => {
    await waitFor('views to converge', () => converged(nodes), 60_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}: ${describeViews(nodes)}`)
    })
    assert.equal(mem(bootstrap).peers().length, 12)
    // The registry lists peers but is never listed by them.
    for (const n of nodes) assert.ok(!mem(n).peers().includes(bootstrap.httpUrl))
  })

  test('with the bootstrap killed, peers keep their views and keep messaging', async () => {
    await bootstrap.stop()
    await new Promise((r) => setTimeout(r, 2000))
    assert.ok(converged(nodes), describeViews(nodes))
    for (const [a, b] of [
      [0, 5],
      [7, 2],
      [11, 0],
    ] as const) {
      const r = await postJson<{ reply: unknown }>(`${nodes[a]!.httpUrl}/p2p/send`, {
        to: nodes[b]!.name,
        msg: 'still here',
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.deepEqual(r.body.reply, { status: 'received' })
    }
  })

  test('with the bootstrap killed, p2p broadcast goes through the broadcast module to every live peer once', async () => {
    const from = nodes[3]!
    const r = await postJson<{ status: string; id: string; strategy: string; peers: number }>(
      `${from.httpUrl}/p2p/broadcast`,
      { msg: 'to all, no bootstrap' },
    )
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.status, 'broadcast')
    assert.equal(r.body.strategy, 'tree')
    assert.equal(r.body.peers, nodes.length - 1)
    const copies = (n: Node) =>
      mem(n)
        .broadcastsDelivered()
        .filter((d) => d.id === r.body.id)
    await waitFor('every peer to deliver it', () => nodes.every((n) => copies(n).length >= 1), 30_000, 100)
    // Anti-entropy rounds later, still once each, from the sender, with the text sent.
    await new Promise((res) => setTimeout(res, 2500))
    for (const n of nodes) {
      const got = copies(n)
      assert.equal(got.length, 1, `${n.name} delivers it once`)
      assert.equal(got[0]!.from, from.name)
      assert.equal(got[0]!.value, 'to all, no bootstrap')
    }
    // Every other peer counted exactly one delivery (the sender does not count its own).
    assert.ok(
      nodes.every(
        (n) => n.metrics.total('distlab_membership_broadcasts_delivered_total') === (n === from ? 0 : 1),
      ),
    )
  })

  test('a new peer joins through any live peer (--seed) and every view takes it in', async () => {
    late = peer(13, { seedUrl: nodes[4]!.httpUrl, bootstrapUrl: bootstrap.httpUrl })
    await late.start()
    const all = [...nodes, late]
    await waitFor('views to take in the late peer', () => converged(all), 60_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}: ${describeViews(all)}`)
    })
    const r = await postJson<{ reply: unknown }>(`${nodes[9]!.httpUrl}/p2p/send`, {
      to: 'node13',
      msg: 'welcome',
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(r.body.reply, { status: 'received' })
  })
})

describe('failure detection', () => {
  const bootstrap = registry('127.40.9.2')
  const nodes: Node[] = []
  const extra: Node[] = []

  before(async () => {
    await bootstrap.start()
    for (let i = 21; i <= 35; i++) nodes.push(peer(i, { bootstrapUrl: bootstrap.httpUrl }))
    await Promise.all(nodes.map((n) => n.start()))
    await waitFor('views to converge', () => converged(nodes), 60_000, 100)
  })
  after(async () => {
    for (const n of [...nodes, ...extra]) await n.stop()
    await bootstrap.stop()
  })

  test('a killed peer is suspected, removed from every view, and readmitted when it comes back', async () => {
    const victim = nodes[3]!
    const url = victim.httpUrl
    const port = Number(new URL(url).port)
    await victim.stop()
    const rest = nodes.filter((n) => n !== victim)
    await waitFor('every view to drop the killed peer', () => converged(rest), 60_000, 100).catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${describeViews(rest)}`)
      },
    )
    assert.ok(mem(rest[0]!).stats().suspected + mem(rest[1]!).stats().suspected >= 1)
    await waitFor('the bootstrap to drop it too', () => !mem(bootstrap).peers().includes(url), 60_000, 100)
    // Each view says, in GET /membership, that it removed the peer (and no one else), when and why.
    for (const n of [...rest, bootstrap]) {
      const { body } = await getJson<{
        removals: Array<{ name: string; url: string; at: number; why: string }>
      }>(`${n.httpUrl}/membership`)
      const stopped = Date.now() - 60_000
      assert.ok(body.removals.length >= 1, `${n.name} lists no removal`)
      for (const r of body.removals) {
        assert.equal(r.url, url, `${n.name} removed ${r.name} (${r.why})`)
        assert.equal(r.name, victim.name)
        assert.ok(r.at > stopped && r.at <= Date.now(), `${n.name}: removed at ${r.at}`)
        assert.match(r.why, /suspicion timed out|dead|did not answer|stopped answering|gossip/)
      }
    }

    // The same address comes back as a new run (a new id), registering with the bootstrap.
    const back = createNode({
      name: victim.name,
      host: new URL(url).hostname,
      httpPort: port,
      framePort: 0,
      protocols: [membership({ ...FAST, bootstrapUrl: bootstrap.httpUrl })],
    })
    extra.push(back)
    await back.start()
    assert.notEqual(back.id, victim.id)
    const all = [...rest, back]
    await waitFor('every view to readmit it', () => converged(all), 60_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}: ${describeViews(all)}`)
    })
    nodes.splice(nodes.indexOf(victim), 1, back)
  })

  test('with 20% of the peers killed, every view converges to the survivors and no survivor is removed', async () => {
    const killed = [nodes[0]!, nodes[6]!, nodes[12]!]
    await Promise.all(killed.map((n) => n.stop()))
    const survivors = nodes.filter((n) => !killed.includes(n))
    await waitFor('views to converge to the survivors', () => converged(survivors), 90_000, 100).catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${describeViews(survivors)}`)
      },
    )
    // Stable: a second look a few probe rounds later finds the same views.
    await new Promise((r) => setTimeout(r, 1500))
    assert.ok(converged(survivors), describeViews(survivors))
  })
})

describe('a mass join', () => {
  // A hundred peers registering at once queue more updates than one frame holds: the backlog
  // regime (updates from whole views relayed only up to a frame's worth, feedback cutting rumors
  // short, a drained backlog swapping views, answers to whole views carrying only what they lack).
  const bootstrap = registry('127.40.9.3')
  const nodes: Node[] = []

  before(async () => {
    await bootstrap.start()
    for (let i = 300; i < 400; i++) nodes.push(peer(i, { bootstrapUrl: bootstrap.httpUrl }))
    await Promise.all(nodes.map((n) => n.start()))
  })
  after(async () => {
    for (const n of nodes) await n.stop()
    await bootstrap.stop()
  })

  test('a hundred peers registering at once converge to exact views, and stay there', async () => {
    await waitFor('views to converge', () => converged(nodes), 90_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}: ${describeViews(nodes)}`)
    })
    assert.equal(mem(bootstrap).peers().length, nodes.length)
    await new Promise((r) => setTimeout(r, 1500))
    assert.ok(converged(nodes), describeViews(nodes))
    // Nobody was suspected for the load of the join.
    assert.equal(
      nodes.reduce((s, n) => s + mem(n).stats().declaredDead, 0),
      0,
    )
  })
})
