// The relay path of `distlab run` as UDP programs live it (Python programs, each in a namespace of
// its own, as root): receivers see the sender's address and port, not the relay's. Blocks 62
// (10.213.62.x, aliases 10.214.62.x), 181, 178 and 179 belong to this file: the UDP echo, the UDP
// flow older than its relay, the gbn/dv and the TCP tests each run on a cluster and block of their
// own, the groups side by side (each mostly waits on its programs). Namespace and bridge names
// carry the block, so they do not meet.
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster, type ForeignSpec } from '../../src/foreign/index.js'
import { RunReader } from '../../src/monitor/store.js'
import { binPath, readStreamUntil, runCli, scratchDir, waitFor } from '../helpers.js'

const programs = join(binPath(), '..', '..', 'test', 'foreign', 'programs')

/** One foreign cluster at a time on `block`; the tests of a group use the one the first started. */
class Lab {
  cluster: ForeignCluster | undefined
  runsDir = ''
  constructor(readonly block: number) {}

  async start(init: Omit<ForeignSpec, 'stateDir'>): Promise<ForeignCluster> {
    await this.cluster?.stop()
    this.cluster = undefined
    const stateDir = scratchDir('distlab-relay-path-')
    this.runsDir = join(stateDir, 'runs')
    this.cluster = await startForeignCluster({
      stateDir,
      runsDir: this.runsDir,
      block: this.block,
      dashboardPort: 0,
      readyTimeoutMs: 60_000,
      ...init,
    })
    assert.equal(this.cluster.isolated, true, this.cluster.note)
    return this.cluster
  }
}
const udpLab = new Lab(62)
const gbnLab = new Lab(178)
const tcpLab = new Lab(179)
const lateLab = new Lab(181)

after(async () => {
  await Promise.all([udpLab, lateLab, gbnLab, tcpLab].map((l) => l.cluster?.stop()))
})

function events(file: string) {
  const r = new RunReader(file)
  try {
    return [...r.events()]
  } finally {
    r.close()
  }
}

const pongs = (c: ForeignCluster, name: string) => c.logs(name).filter((l) => /^pong \d+ as /.test(l))

/** The UDP echo's pings and pongs go through the relays (both ways counted), and survive 30% loss each way. */
async function relayedUnderLoss(c: ForeignCluster): Promise<void> {
  await waitFor(
    'relayed pings and pongs',
    () =>
      c
        .traffic()
        .some((t) => t.from === 'node1' && t.to === 'bootstrap' && t.proto === 'udp' && t.messages > 3) &&
      c
        .traffic()
        .some((t) => t.from === 'bootstrap' && t.to === 'node1' && t.proto === 'udp' && t.messages > 3),
    20_000,
  )
  c.setLink('node1', 'bootstrap', { loss: 0.3 })
  c.setLink('bootstrap', 'node1', { loss: 0.3 })
  const before = pongs(c, 'node1').length
  await waitFor(
    'losses on both directions',
    () =>
      c.traffic().some((t) => t.from === 'node1' && t.to === 'bootstrap' && t.dropped >= 3) &&
      c.traffic().some((t) => t.from === 'bootstrap' && t.to === 'node1' && t.dropped >= 3),
    30_000,
  )
  await waitFor('answers still arriving under loss', () => pongs(c, 'node1').length >= before + 10, 30_000)
}

describe('the relay path', { concurrency: true }, () => {
  describe('UDP echo', { concurrency: 1 }, () => {
    test('a UDP server sees its client at the client’s own address and port, across the relay and under loss', async () => {
      const c = await udpLab.start({
        bootstrap: `python3 ${programs}/udp_echo.py {port}`,
        node: `python3 ${programs}/udp_client.py {port} 6000`,
        nodes: 1,
      })
      const server = c.instances.find((i) => i.name === 'bootstrap')!
      const client = c.instances.find((i) => i.name === 'node1')!
      // The server knows its peer by the datagrams' source: the client's address and port, not the relay's.
      await waitFor(
        'the server to log its peer',
        () => c.logs('bootstrap').some((l) => l.startsWith('new peer ')),
        30_000,
      )
      assert.deepEqual(
        c.logs('bootstrap').filter((l) => l.startsWith('new peer ')),
        [`new peer ${client.host}:6000`],
      )
      await waitFor('answers at the client', () => pongs(c, 'node1').length >= 5, 30_000)
      for (const line of pongs(c, 'node1'))
        assert.match(
          line,
          new RegExp(
            `^pong \\d+ as ${client.host.replaceAll('.', '\\.')}:6000 from ${server.host.replaceAll('.', '\\.')}:5000$`,
          ),
        )
      // The pings and pongs go through the relays (both ways counted), and survive a lossy link.
      await relayedUnderLoss(c)
      assert.deepEqual(
        c.logs('bootstrap').filter((l) => l.startsWith('new peer ')),
        [`new peer ${client.host}:6000`],
      )
      for (const line of pongs(c, 'node1')) assert.ok(line.includes(` as ${client.host}:6000 from `), line)
    })
  })

  describe('UDP flow older than its relay', { concurrency: 1 }, () => {
    test('a UDP flow that started before its destination’s relay existed moves onto the relay, at the client’s own address and port', async () => {
      // The server binds UDP 3 s after its TCP port (its readiness), so the client, started at that
      // readiness, pings it before the relay for that port (and the client's DNAT rule) exists: its
      // pings make a direct conntrack flow that every ping keeps alive. Once the relay's rule is in,
      // distlab deletes that flow's conntrack entries, and the next ping takes the relay.
      const order: string[] = []
      const c = await lateLab.start({
        bootstrap: `python3 ${programs}/udp_echo.py {port} 3`,
        node: `python3 ${programs}/udp_client.py {port} 6000`,
        nodes: 1,
        onLine: (name, line) => {
          if (line === 'pinging' || line === 'udp bound') order.push(`${name} ${line}`)
        },
      })
      const server = c.instances.find((i) => i.name === 'bootstrap')!
      const client = c.instances.find((i) => i.name === 'node1')!
      await waitFor('the server to bind UDP', () => order.includes('bootstrap udp bound'), 30_000)
      assert.deepEqual(
        order,
        ['node1 pinging', 'bootstrap udp bound'],
        'the client pings before the server binds',
      )
      await waitFor('answers at the client', () => pongs(c, 'node1').length >= 5, 30_000)
      await relayedUnderLoss(c)
      // Before and after the move, the server sees the client at its own address and port.
      assert.deepEqual(
        c.logs('bootstrap').filter((l) => l.startsWith('new peer ')),
        [`new peer ${client.host}:6000`],
      )
      for (const line of pongs(c, 'node1'))
        assert.ok(line.endsWith(` as ${client.host}:6000 from ${server.host}:5000`), line)
    })
  })

  describe('gbn and dv', { concurrency: 1 }, () => {
    test('gbn and dv datagrams of seed-004-style programs are decoded in the run, analyze and the dashboard', async () => {
      // node1 speaks the students' JSON, node2 the binary course packet format (CRC-32 and all).
      const c = await gbnLab.start({
        bootstrap: `python3 ${programs}/gbn_pair.py {port} 6000 recv`,
        node: `python3 ${programs}/gbn_pair.py {port} 6000 send $([ {index} = 1 ] && echo json || echo binary)`,
        nodes: 2,
      })
      const [n1, n2] = ['node1', 'node2'].map((n) => c.instances.find((i) => i.name === n)!.host)
      await waitFor(
        'both messages delivered',
        () =>
          c.logs('bootstrap').some((l) => l === `received hello distlab from ${n1}:6000`) &&
          c.logs('bootstrap').some((l) => l === `received hello distlab from ${n2}:6000`),
        30_000,
      )
      const seen = (pred: (e: ReturnType<typeof events>[number]) => boolean) => () =>
        events(c.runFile!).some(pred)
      for (const src of ['node1', 'node2']) {
        await waitFor(
          `gbn data from ${src}`,
          seen(
            (e) =>
              e.kind === 'recv' &&
              e.src === src &&
              e.node === 'bootstrap' &&
              e.proto === 'gbn' &&
              /^data \d+$/.test(e.type ?? ''),
          ),
          20_000,
          250,
        )
        await waitFor(
          `gbn acks to ${src}`,
          seen(
            (e) =>
              e.kind === 'recv' &&
              e.src === 'bootstrap' &&
              e.dst === src &&
              e.proto === 'gbn' &&
              /^ack \d+$/.test(e.type ?? ''),
          ),
          20_000,
          250,
        )
      }
      await waitFor(
        'a JSON distance vector',
        seen((e) => e.src === 'node1' && e.proto === 'dv' && e.type === 'dv'),
        20_000,
        250,
      )
      await waitFor(
        'a binary distance vector',
        seen((e) => e.src === 'node2' && e.proto === 'dv' && e.type === 'dv 2 routes'),
        20_000,
        250,
      )
      // Loss on node1's data shows as gbn drops; GBN still delivers.
      c.setLink('node1', 'bootstrap', { loss: 0.3 })
      const delivered = () =>
        c.logs('bootstrap').filter((l) => l === `received hello distlab from ${n1}:6000`).length
      const before = delivered()
      await waitFor(
        'gbn drops in the run',
        seen((e) => e.kind === 'drop' && e.proto === 'gbn' && e.src === 'node1' && e.reason === 'loss'),
        30_000,
        250,
      )
      await waitFor('GBN delivering under loss', () => delivered() >= before + 2, 60_000)
      const a = await runCli(['analyze', c.runId!, '--json'], { env: { DISTLAB_RUNS_DIR: gbnLab.runsDir } })
      assert.equal(a.code, 0, a.stderr)
      const report = JSON.parse(a.stdout) as { protocols: Record<string, { sent: number; dropped: number }> }
      assert.ok((report.protocols.gbn?.sent ?? 0) > 0, a.stdout)
      assert.ok((report.protocols.gbn?.dropped ?? 0) > 0, a.stdout)
      assert.ok((report.protocols.dv?.sent ?? 0) > 0, a.stdout)
      // The dashboard's live stream carries them too.
      const text = await readStreamUntil(
        `${c.dashboardUrl}/api/stream`,
        (text) => text.includes('"gbn"') && text.includes('"dv"'),
      )
      assert.ok(text.includes('"gbn"') && text.includes('"dv"'), 'no gbn/dv traffic in the live stream')
    })

    test('--corrupt flips bits in what a UDP program receives: its CRC fails, the run counts it, GBN recovers', async () => {
      const c = gbnLab.cluster! // the gbn/dv cluster of the test before: node2 sends course packets with a CRC-32
      const n2 = c.instances.find((i) => i.name === 'node2')!.host
      c.heal()
      c.setLink('node2', 'bootstrap', { corrupt: 0.5 })
      const delivered = () =>
        c.logs('bootstrap').filter((l) => l === `received hello distlab from ${n2}:6000`).length
      const before = delivered()
      await waitFor(
        'the receiver to reject garbled datagrams',
        () => c.logs('bootstrap').filter((l) => l === `garbled datagram from ${n2}:6000`).length >= 3,
        30_000,
      )
      await waitFor(
        'corrupted datagrams in the run',
        () =>
          events(c.runFile!).filter(
            (e) => e.kind === 'recv' && e.src === 'node2' && (e.type ?? '').endsWith('(corrupted)'),
          ).length >= 3,
        20_000,
        250,
      )
      await waitFor('GBN delivering through corruption', () => delivered() >= before + 2, 60_000).catch(
        (err: Error) => {
          throw new Error(
            `${err.message}; node2: ${c.logs('node2').slice(-3).join(' | ')}; bootstrap: ${c.logs('bootstrap').slice(-3).join(' | ')}`,
          )
        },
      )
      c.heal()
    })
  })

  describe('TCP', { concurrency: 1 }, () => {
    test('--rate 1mbit limits a TCP transfer between two foreign instances to about 1 Mbit/s', async () => {
      const c = await tcpLab.start({
        bootstrap: `python3 ${programs}/tcp_blast.py {port} recv`,
        node: `python3 ${programs}/tcp_blast.py {port} send 192`,
        nodes: 1,
      })
      const transfers = () =>
        c
          .logs('bootstrap')
          .flatMap((l) => /^got (\d+) bytes in (\d+) ms$/.exec(l) ?? [])
          .reduce<Array<{ bytes: number; ms: number }>>((out, _, i, m) => {
            if (i % 3 === 0) out.push({ bytes: Number(m[i + 1]), ms: Number(m[i + 2]) })
            return out
          }, [])
      const mbits = (t: { bytes: number; ms: number }) => (t.bytes * 8) / (Math.max(t.ms, 1) * 1000)
      // The fastest of three: a loaded machine can starve the relay during any one of them.
      await waitFor('unshaped transfers', () => transfers().length >= 3, 30_000)
      const free = transfers().reduce((a, b) => (mbits(b) > mbits(a) ? b : a))
      assert.equal(free.bytes, 192 * 1024)
      c.setLink('node1', 'bootstrap', { rateBps: 1_000_000 })
      // The transfer under way when the rule came is mixed; the ones after are shaped from their start.
      const from = transfers().length + 1
      await waitFor('three shaped transfers', () => transfers().length >= from + 3, 60_000)
      const shaped = transfers().slice(from)
      // Every shaped transfer stays under the rate. A loaded machine can starve the relay and make
      // any one of them slower than the rate (0.55 Mbit/s once, with lint running beside the
      // tests), so the lower bound holds for the fastest: the shaper does not throttle below it.
      for (const t of shaped) {
        assert.equal(t.bytes, 192 * 1024)
        const rate = mbits(t)
        assert.ok(rate < 1.1, `a shaped transfer ran at ${rate.toFixed(2)} Mbit/s (${t.ms} ms)`)
      }
      const fastest = Math.max(...shaped.map(mbits))
      assert.ok(fastest > 0.6, `the fastest shaped transfer ran at ${fastest.toFixed(2)} Mbit/s`)
      assert.ok(mbits(free) > 3, `unshaped ran at ${mbits(free).toFixed(2)} Mbit/s: no contrast`)
    })

    test('--corrupt on TCP: the segment fails its checksum and is resent, so the bytes arrive intact and late', async () => {
      const c = tcpLab.cluster! // the tcp_blast pair of the test before: node1 sends 192 KiB per connection to bootstrap
      c.heal()
      const lines = () => c.logs('bootstrap')
      const transfers = () =>
        lines().flatMap((l) => {
          const m = /^got (\d+) bytes in (\d+) ms$/.exec(l)
          return m ? [{ bytes: Number(m[1]), ms: Number(m[2]) }] : []
        })
      const contents = () => lines().filter((l) => l.startsWith('content '))
      c.setLink('node1', 'bootstrap', { corrupt: 0.5 })
      // The transfer under way when the rule came is mixed; the ones after are shaped from their start.
      const from = transfers().length + 1
      await waitFor('three transfers under corruption', () => transfers().length >= from + 3, 90_000)
      const shaped = transfers().slice(from, from + 3)
      for (const t of shaped) assert.equal(t.bytes, 192 * 1024, 'every byte arrives')
      // Not one flipped bit reaches the program: TCP's checksum stops a corrupted segment.
      assert.deepEqual(
        contents().filter((l) => l !== 'content intact'),
        [],
        'a damaged transfer reached the program',
      )
      // A retransmission comes at least 200 ms after the segment reached the relay, so the transfers
      // are late. The receiver's clock starts at its accept(), which may come after the first segment
      // left the sender (a thread started on a loaded machine): 199 ms was seen. Allow 100 ms of that.
      const slowest = Math.max(...shaped.map((t) => t.ms))
      assert.ok(slowest >= 100, `the slowest transfer under corruption took ${slowest} ms`)
      const corrupted = () =>
        events(c.runFile!).filter(
          (e) =>
            e.kind === 'drop' &&
            e.reason === 'corrupt' &&
            e.src === 'node1' &&
            e.dst === 'bootstrap' &&
            e.type === 'segment (retransmitted)',
        )
      await waitFor(
        'the corrupted segments in the run as drops with reason corrupt',
        () => corrupted().length >= 1,
        20_000,
        250,
      )
      assert.ok(
        c
          .traffic()
          .some((t) => t.from === 'node1' && t.to === 'bootstrap' && t.proto === 'tcp' && t.dropped > 0),
        'link show counts the corrupted segments',
      )
      c.heal()
    })
  })
})
