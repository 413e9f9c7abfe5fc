// The course's command lines and output lines (DESIGN.md row 004), run as a user runs them:
// `node bin/distlab.js gbnnode|dvnode|cnnode|topology run ...` as separate processes on 127.0.0.1
// with OS-chosen ports. Every printed line must match the contract's shapes. Three tests at a time.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { binPath, runCli } from '../helpers.js'
import { floydWarshall } from '../protocols/dv/graphs.js'
import { parseTopology } from '../../src/protocols/cn/topology.js'

const TS = String.raw`\[\d+\.\d{3}\]`
const SENDER_LINES = [
  new RegExp(`^${TS} packet\\d+ .+ sent$`),
  new RegExp(`^${TS} ACK-?\\d+ received, window moves to \\d+$`),
  new RegExp(`^${TS} ACK-?\\d+ discarded$`),
  new RegExp(`^${TS} packet\\d+ timeout$`),
]
const RECEIVER_LINES = [
  new RegExp(`^${TS} packet\\d+ .+ received$`),
  new RegExp(`^${TS} packet\\d+ .+ discarded$`),
  new RegExp(`^${TS} ACK\\d+ sent, expecting packet\\d+$`),
]
const SUMMARY = /^\[Summary\] (\d+)\/(\d+) packets discarded, loss rate = (\d+(?:\.\d+)?)$/
const TABLE_HEAD = new RegExp(`^${TS} Node (\\d+) Routing Table$`)
const ROUTE = /^- \((\d+(?:\.\d+)?)\) -> Node (\d+)(?: ; Next hop -> Node (\d+))?$/
const MSG_SENT = new RegExp(`^${TS} Message sent from Node \\d+ to Node \\d+$`)
const MSG_RECEIVED = new RegExp(`^${TS} Message received at Node \\d+ from Node \\d+$`)
const LINK = new RegExp(
  `^${TS} Link to (\\d+): (\\d+) packets sent, (\\d+) packets lost, loss rate (\\d+(?:\\.\\d+)?)$`,
)

interface Proc {
  child: ChildProcessWithoutNullStreams
  lines: string[]
  stderr: string
  exited: Promise<number | null>
}

const procs: Proc[] = []

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [binPath(), ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: 'pipe',
  })
  const p: Proc = {
    child,
    lines: [],
    stderr: '',
    exited: new Promise((r) => child.on('close', (code) => r(code))),
  }
  let buf = ''
  child.stdout.on('data', (d) => {
    buf += d
    const parts = buf.split('\n')
    buf = parts.pop()!
    p.lines.push(...parts)
  })
  child.stderr.on('data', (d) => (p.stderr += d))
  procs.push(p)
  return p
}

/** The exit code, bounded in time; on timeout the error shows what the process printed. */
async function exitOf(p: Proc, timeoutMs = 60_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`process did not exit:\n${p.lines.join('\n')}\n${p.stderr}`)),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([p.exited, limit])
  } finally {
    clearTimeout(timer)
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function freePorts(n: number): Promise<number[]> {
  const sockets = []
  for (let i = 0; i < n; i++) {
    const s = createSocket('udp4')
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
    sockets.push(s)
  }
  const ports = sockets.map((s) => s.address().port)
  for (const s of sockets) await new Promise<void>((r) => s.close(() => r()))
  return ports
}

after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
})

/** The receiver's message: the next expected packet, answered by an ACK of its own number, was accepted. */
function reassemble(lines: string[]): string {
  let text = ''
  let accepted = 0
  for (let i = 0; i + 1 < lines.length; i++) {
    const m = /^\S+ packet(\d+) (.+) received$/.exec(lines[i]!)
    const a = /^\S+ ACK(\d+) sent, expecting packet(\d+)$/.exec(lines[i + 1]!)
    if (m && a && m[1] === a[1] && Number(m[1]) === accepted) {
      text += m[2]
      accepted++
    }
  }
  return text
}

describe('the course programs', { concurrency: 3 }, () => {
  describe('distlab gbnnode', () => {
    for (const loss of [
      ['-p', '0.2'],
      ['-d', '3'],
    ]) {
      test(
        `two processes, \`send abcdefg\` from a pipe, ${loss.join(' ')}: the contract lines and the exact message`,
        { timeout: 120_000 },
        async () => {
          const [pa, pb] = await freePorts(2)
          const receiver = start(['gbnnode', String(pb), String(pa), '5', ...loss])
          await new Promise((r) => setTimeout(r, 300))
          const sender = start(['gbnnode', String(pa), String(pb), '5', ...loss])
          // Garbage at the receiver does not stop it.
          const g = createSocket('udp4')
          for (let i = 0; i < 10; i++) g.send(Buffer.alloc(i * 5, 0x41), pb!, '127.0.0.1')
          sender.child.stdin.end('send abcdefg\n')
          assert.equal(await exitOf(sender), 0, sender.stderr)
          await waitFor('the receiver summary', () => receiver.lines.some((l) => SUMMARY.test(l)))
          receiver.child.kill('SIGTERM')
          assert.equal(await exitOf(receiver), 0, receiver.stderr)
          g.close()

          for (const l of sender.lines)
            assert.ok(
              [...SENDER_LINES, SUMMARY].some((re) => re.test(l)),
              `sender line matches the contract: ${l}`,
            )
          for (const l of receiver.lines)
            assert.ok(
              [...RECEIVER_LINES, SUMMARY].some((re) => re.test(l)),
              `receiver line matches the contract: ${l}`,
            )
          assert.ok(sender.lines.includes(sender.lines.find((l) => / packet0 a sent$/.test(l))!))
          assert.match(sender.lines.find((l) => / packet6 /.test(l)) ?? '', / packet6 g sent$/)
          assert.match(
            sender.lines.filter((l) => / received, window moves to /.test(l)).at(-1)!,
            /ACK6 received, window moves to 7$/,
          )
          assert.match(sender.lines.at(-1)!, SUMMARY)
          assert.equal(reassemble(receiver.lines), 'abcdefg')
          // -d 3: exactly every third arriving packet is discarded.
          if (loss[0] === '-d') {
            const [, x, y] = SUMMARY.exec(receiver.lines.find((l) => SUMMARY.test(l))!)!
            assert.equal(Number(x), Math.floor(Number(y) / 3))
          }
        },
      )
    }

    test(
      'a receiver whose stdin ends at once (`gbnnode ... &`, a container) keeps receiving until SIGTERM; ACKs that move nothing print as discarded',
      { timeout: 120_000 },
      async () => {
        const [pa, pb] = await freePorts(2)
        const receiver = start(['gbnnode', String(pb), String(pa), '3', '-p', '0.3'])
        receiver.child.stdin.end()
        const sender = start(['gbnnode', String(pa), String(pb), '3'])
        // The receiver is still there after its input ended: the whole message reaches it.
        sender.child.stdin.end('send hello world\n')
        assert.equal(await exitOf(sender), 0, sender.stderr)
        await waitFor('the receiver summary', () => receiver.lines.some((l) => SUMMARY.test(l)))
        assert.equal(reassemble(receiver.lines), 'hello world')
        assert.equal(receiver.child.exitCode, null, 'the receiver is still running')
        // Each "window moves to" line moves the window: no ACK number is reported as received twice.
        const moved = sender.lines.flatMap(
          (l) => / ACK(-?\d+) received, window moves to (\d+)$/.exec(l) ?? [],
        )
        const acks = sender.lines
          .map((l) => / ACK(-?\d+) received, window moves to \d+$/.exec(l)?.[1])
          .filter((x): x is string => x !== undefined)
        assert.ok(moved.length > 0)
        assert.equal(
          new Set(acks).size,
          acks.length,
          `an ACK reported as received twice:\n${sender.lines.join('\n')}`,
        )
        receiver.child.kill('SIGTERM')
        assert.equal(await exitOf(receiver), 0, receiver.stderr)
      },
    )

    test('bad usage exits 2 with one line', { timeout: 120_000 }, async () => {
      const r = await runCli(['gbnnode', '1111', 'x', '5'])
      assert.equal(r.code, 2)
      assert.match(r.stderr, /peer-port/)
      const both = await runCli(['gbnnode', '1111', '2222', '5', '-d', '2', '-p', '0.1'])
      assert.equal(both.code, 2)
    })
  })

  /** The last routing table each node printed: node → dest → {distance, nextHop}. */
  function lastTables(p: Proc): Map<number, { distance: number; nextHop: number }> {
    let current: Map<number, { distance: number; nextHop: number }> | undefined
    let last = new Map<number, { distance: number; nextHop: number }>()
    for (const l of p.lines) {
      if (TABLE_HEAD.test(l)) {
        if (current) last = current
        current = new Map()
        continue
      }
      const r = ROUTE.exec(l)
      if (r && current) {
        current.set(Number(r[2]), { distance: Number(r[1]), nextHop: Number(r[3] ?? r[2]) })
        continue
      }
      if (current) {
        last = current
        current = undefined
      }
    }
    return current ?? last
  }

  describe('distlab dvnode', () => {
    test(
      'the course’s four dvnodes with `last` converge, print contract lines, and follow a `cost` command',
      { timeout: 120_000 },
      async () => {
        const ports = await freePorts(4)
        const P = (course: number) => String(ports[course / 1111 - 1])
        const argv = [
          ['1111', '2222', '.1', '3333', '.5'],
          ['2222', '1111', '.1', '3333', '.2', '4444', '.8'],
          ['3333', '1111', '.5', '2222', '.2', '4444', '.5'],
          ['4444', '2222', '.8', '3333', '.5', 'last'],
        ].map((a) => a.map((w) => (/^\d{4}$/.test(w) ? P(Number(w)) : w)))
        const nodes = argv.slice(0, 3).map((a) => start(['dvnode', ...a, '--duration', '60s']))
        await waitFor('three initial tables', () =>
          nodes.every((n) => n.lines.some((l) => TABLE_HEAD.test(l))),
        )
        nodes.push(start(['dvnode', ...argv[3]!, '--duration', '60s']))

        const check = (links: Array<{ a: number; b: number; cost: number }>) => {
          const fw = floydWarshall(ports, links)
          return () =>
            nodes.every((n, i) => {
              const t = lastTables(n)
              return ports.every(
                (dest) =>
                  dest === ports[i] ||
                  Math.abs((t.get(dest)?.distance ?? -1) - fw.get(ports[i]!)!.get(dest)!) < 1e-6,
              )
            })
        }
        const spec = parseTopology(readFileSync('topologies/course-dv-4.yaml', 'utf8'))
        const links = spec.links.map((l) => ({ a: Number(P(l.a)), b: Number(P(l.b)), cost: l.cost }))
        await waitFor('shortest paths in every last table', check(links))
        // 1111's table in the contract's words: 2222 direct, 3333 and 4444 via 2222.
        assert.deepEqual(
          [...lastTables(nodes[0]!)].sort((x, y) => x[0] - y[0]),
          [
            [ports[1], { distance: 0.1, nextHop: ports[1] }],
            [ports[2], { distance: 0.3, nextHop: ports[1] }],
            [ports[3], { distance: 0.8, nextHop: ports[1] }],
          ].sort((x, y) => (x[0] as number) - (y[0] as number)),
        )
        // Raise 2222-3333 from .2 to 1 at 2222's prompt; both ends change and the tables follow.
        nodes[1]!.child.stdin.write(`cost ${P(3333)} 1\n`)
        const raised = links.map((l) =>
          l.a === Number(P(2222)) && l.b === Number(P(3333)) ? { ...l, cost: 1 } : l,
        )
        await waitFor('shortest paths after the cost change', check(raised))

        for (const n of nodes) n.child.kill('SIGTERM')
        for (const n of nodes) assert.equal(await exitOf(n), 0, n.stderr)
        for (const n of nodes)
          for (const l of n.lines)
            assert.ok(
              [TABLE_HEAD, ROUTE, MSG_SENT, MSG_RECEIVED].some((re) => re.test(l)),
              `dvnode line matches the contract: ${l}`,
            )
      },
    )

    test('bad usage exits 2', { timeout: 120_000 }, async () => {
      assert.equal((await runCli(['dvnode', '1111', '2222'])).code, 2)
      assert.equal((await runCli(['dvnode', '1111', '2222', '-0.5'])).code, 2)
    })
  })

  describe('distlab cnnode', () => {
    test(
      'the course’s four cnnodes print link loss rates and 2-decimal tables',
      { timeout: 120_000 },
      async () => {
        const ports = await freePorts(4)
        const P = (course: number) => String(ports[course / 1111 - 1])
        const argv = [
          ['1111', 'receive', 'send', '2222', '3333'],
          ['2222', 'receive', '1111', '.1', 'send', '3333', '4444'],
          ['3333', 'receive', '1111', '.5', '2222', '.2', 'send', '4444'],
          ['4444', 'receive', '2222', '.8', '3333', '.5', 'send', 'last'],
        ].map((a) => a.map((w) => (/^\d{4}$/.test(w) ? P(Number(w)) : w)))
        const opts = ['--exchange-interval', '500ms', '--status-interval', '250ms', '--duration', '60s']
        const nodes = argv.map((a) => start(['cnnode', ...a, ...opts]))
        await waitFor('link status lines and tables with every destination', () =>
          nodes.every(
            (n, i) =>
              (i === 3 || n.lines.some((l) => LINK.test(l))) &&
              lastTables(n).size === 3 &&
              n.lines.filter((l) => TABLE_HEAD.test(l)).length >= 2,
          ),
        )
        for (const n of nodes) n.child.kill('SIGTERM')
        for (const n of nodes) assert.equal(await exitOf(n), 0, n.stderr)
        for (const n of nodes)
          for (const l of n.lines) {
            assert.ok(
              [TABLE_HEAD, ROUTE, MSG_SENT, MSG_RECEIVED, LINK].some((re) => re.test(l)),
              `cnnode line matches the contract: ${l}`,
            )
            const r = ROUTE.exec(l)
            if (r) assert.match(r[1]!, /^\d+(\.\d{1,2})?$/, 'distances have at most 2 decimals')
            const k = LINK.exec(l)
            if (k) {
              assert.equal(Number(k[3]) <= Number(k[2]), true)
              assert.ok(Number(k[4]) >= 0 && Number(k[4]) <= 1)
            }
          }
        // 1111 probes 2222 and 3333; 4444 probes nobody.
        const linkTargets = (n: Proc) => new Set(n.lines.map((l) => LINK.exec(l)?.[1]).filter(Boolean))
        assert.deepEqual(linkTargets(nodes[0]!), new Set([P(2222), P(3333)]))
        assert.deepEqual(linkTargets(nodes[3]!), new Set())
      },
    )
  })

  describe('distlab topology run', () => {
    test(
      '--json gives rounds, converged and tables equal to Floyd–Warshall',
      { timeout: 120_000 },
      async () => {
        const r = await runCli(
          ['topology', 'run', 'topologies/kurose-ross-6.yaml', '--json', '--any-ports'],
          {
            timeoutMs: 60_000,
          },
        )
        assert.equal(r.code, 0, r.stderr)
        const j = JSON.parse(r.stdout) as {
          rounds: number
          converged: boolean
          tables: Record<string, Record<string, { distance: number; nextHop: number }>>
        }
        assert.equal(j.converged, true)
        assert.ok(j.rounds >= 1)
        const spec = parseTopology(readFileSync('topologies/kurose-ross-6.yaml', 'utf8'))
        const fw = floydWarshall(spec.nodes, spec.links)
        for (const x of spec.nodes)
          for (const y of spec.nodes)
            if (x !== y) assert.equal(j.tables[x]![y]!.distance, fw.get(x)!.get(y), `${x} -> ${y}`)
      },
    )

    test('human output prints every table in the contract format', { timeout: 120_000 }, async () => {
      const r = await runCli(['topology', 'run', 'topologies/course-dv-4.yaml', '--any-ports'], {
        timeoutMs: 60_000,
      })
      assert.equal(r.code, 0, r.stderr)
      const lines = r.stdout.trim().split('\n')
      assert.equal(lines.filter((l) => TABLE_HEAD.test(l)).length, 4)
      assert.ok(lines.includes('- (0.3) -> Node 3333 ; Next hop -> Node 2222'))
      assert.match(lines.at(-1)!, /^converged: 4 nodes/)
    })

    test('a bad topology file exits 2', { timeout: 120_000 }, async () => {
      const r = await runCli(['topology', 'run', 'package.json'])
      assert.equal(r.code, 2)
      assert.equal((await runCli(['topology', 'run', 'no-such-file.yaml'])).code, 2)
    })
  })
})
