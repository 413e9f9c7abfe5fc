// The attacks of issue 14 against a live cluster of processes (a master and two nodes, started by
// LocalCluster in process mode on 127.73.x.y), each measured on its own: every process alive and
// still working (node1 pings master and node2), RSS of every process before and after, member-list
// requests the attack caused at the master (over its idle rate), and what the hostile inputs got
// through. bench/hostile.ts runs it at full size; test/hostile/bench-hostile runs it reduced and
// asserts the targets. The attacker is 127.73.9.9 and never holds the cluster's token.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type Socket } from 'node:net'
import { createSocket } from 'node:dgram'
import { createServer, type Server } from 'node:http'
import { junkTrailer, rawFrame as buildRawFrame } from '../test/hostile/frames.js'
import { LocalCluster } from '../src/cluster/local.js'
import { logDir, readControlToken } from '../src/cluster/state.js'

interface NodeRecord {
  name: string
  host: string
  httpPort: number
  framePort: number
  pid: number
}
import { Keyring } from '../src/core/auth.js'
import { readDashboardRecord } from '../src/monitor/dashboard-record.js'
import { IP_BROADCAST_PORT } from '../src/protocols/broadcast/constants.js'
import { metricSum, scrapeMetrics } from '../src/scenario/fuzz.js'
import { cpuMs, rssBytes } from './lib.js'

export const ATTACKER = '127.73.9.9'
const BLOCK = 73

/** Attack sizes: `full` for the bench, `reduced` for the test. */
export interface HostileScale {
  ihaveFrames: number
  idsPerIhave: number
  unicastFrames: number
  protoFrames: number
  spreadIds: number
  slowConnections: number
  repeats: number
  /** Quiet before each attack (see settle), ms. */
  settleQuietMs: number
  /**
   * The servers' headers bound for this run ($DISTLAB_HTTP_HEADERS_TIMEOUT_MS), ms; unset: the
   * default, 10 s. #8 (slowloris) waits for the servers to close its connections.
   */
  headersTimeoutMs?: number
}
export const FULL: HostileScale = {
  ihaveFrames: 400,
  idsPerIhave: 1000,
  unicastFrames: 60,
  protoFrames: 3000,
  spreadIds: 125_000,
  slowConnections: 60,
  repeats: 20,
  settleQuietMs: 3000,
}
export const REDUCED: HostileScale = {
  ihaveFrames: 100,
  idsPerIhave: 1000,
  unicastFrames: 12,
  protoFrames: 500,
  spreadIds: 10_000,
  slowConnections: 10,
  repeats: 3,
  // What the test asserts does not depend on these two: a shorter quiet can only count more of
  // one attack's aftermath against the next, and #8 proves the servers close slow headers at 2 s
  // as at 10 (the open run alone: 89 s to 55 s).
  settleQuietMs: 1500,
  headersTimeoutMs: 2000,
}

export interface HostileRow {
  cluster: 'keyed' | 'open'
  item: number
  attack: string
  target: string
  /** Hostile frames, datagrams, requests or connections sent. */
  inputs: number
  alive: boolean
  works: boolean
  rssBeforeMb: number
  rssAfterMb: number
  /** Largest RSS growth of any process of the cluster (the supervisor included). */
  maxGrowthMb: number
  /** Member-list requests at the master over its idle rate during the attack. */
  masterRequests: number
  /** Hostile inputs that took effect (frames taken in, 2xx answers, forged lines, hits...). */
  accepted: number
  /** True where accepting is the open cluster's design (well-formed frames, open GETs). */
  acceptedByDesign: boolean
  /** The attack threw before its end: the row measures nothing, and counts as a miss. */
  attackFailed: boolean
  /** How long the attack took, in ms. */
  ms: number
  note: string
}

/** The targets of issue 14, per row: the reasons it misses them (none: it meets them). */
export function misses(r: HostileRow): string[] {
  const out: string[] = []
  if (r.attackFailed) out.push('the attack did not run to its end')
  if (!r.alive) out.push('a process died')
  if (!r.works) out.push('the cluster stopped working')
  if (r.maxGrowthMb >= 50) out.push(`RSS grew ${r.maxGrowthMb} MB`)
  if (r.masterRequests > Math.ceil(r.inputs / 100))
    out.push(`${r.masterRequests} master requests for ${r.inputs} inputs`)
  if (!r.acceptedByDesign && r.accepted > 0) out.push(`${r.accepted} accepted`)
  return out
}

// ---- raw inputs ----

/** test/hostile's byte-by-byte frame builder, in this file's positional form. */
const rawFrame = (header: Record<string, unknown>, body: Buffer, flags = 0, trailer?: Buffer): Buffer =>
  buildRawFrame({ header, body, flags, trailer })

const nested = (depth: number) => Buffer.from('['.repeat(depth) + '0' + ']'.repeat(depth), 'latin1')
const json = (x: unknown) => Buffer.from(JSON.stringify(x))
const hdr = (proto: string, type: string, src: string, dst: string, id: string) => ({
  v: 1,
  id,
  proto,
  type,
  src,
  dst,
  ts: Date.now(),
})

/** Writes length-prefixed frames over one TCP connection from the attacker's address. */
async function tcpFrames(host: string, port: number, frames: Iterable<Buffer>): Promise<number> {
  const sock = connect({ host, port, localAddress: ATTACKER })
  sock.on('error', () => {})
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
  let n = 0
  for (const f of frames) {
    const p = Buffer.alloc(4)
    p.writeUInt32BE(f.length, 0)
    await new Promise<void>((r) => sock.write(Buffer.concat([p, f]), () => r()))
    n++
  }
  await new Promise<void>((r) => sock.end(() => r()))
  sock.destroy()
  return n
}

/** Sends a raw HTTP request and returns the status (0 without one). */
function rawStatus(host: string, port: number, request: string, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const s = connect({ host, port, localAddress: ATTACKER }, () => s.write(request))
    const done = () => {
      clearTimeout(timer)
      s.destroy()
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))
      resolve(m ? Number(m[1]) : 0)
    }
    const timer = setTimeout(done, timeoutMs)
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', done)
    s.on('close', done)
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return true
    if (Date.now() > deadline) return false
    await sleep(100)
  }
}

/** A process's resident set in whole MiB; 0 once it is gone. */
const rssMiB = (pid: number): number => Math.round(rssBytes(pid) / 2 ** 20)

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

// ---- one cluster ----

interface Ctx {
  keyed: boolean
  keyId: string
  stateDir: string
  nodes: Map<string, NodeRecord>
  auth: Record<string, string>
  controlUrl: URL
  controlToken: string
  dashboard: URL
  scale: HostileScale
}

interface Outcome {
  inputs: number
  accepted: number
  byDesign?: boolean
  note?: string
  /** Member-list requests the attack made at the master itself (direct GETs, the bench's own check). */
  ownRequests?: number
}

interface Attack {
  item: number
  name: string
  target: string
  run(c: Ctx): Promise<Outcome>
}

const url = (n: NodeRecord) => `http://${n.host}:${n.httpPort}`
const node = (c: Ctx, name: string) => c.nodes.get(name)!

async function api(c: Ctx, name: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(url(node(c, name)) + path, {
    method,
    headers: { ...c.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  })
}

async function metrics(c: Ctx, name: string): Promise<string> {
  const n = node(c, name)
  return scrapeMetrics(n.host, n.httpPort).catch(() => '')
}

const dropsIn = (text: string) => metricSum(text, 'distlab_frames_dropped_total', { direction: 'in' })

/**
 * Frames sent to a node over TCP: accepted = sent minus the drops the node counted (exact over
 * TCP: every frame is read). Well-formed frames on an open cluster are taken in by design. The
 * wait for every frame to be counted looks at TCP frames only and leaves the membership protocol's
 * out: its probes (UDP) and push-pulls (TCP) arrive all the while, and one counted as taken let the
 * wait end before the last attack frame's drop was counted (a keyed run reported an invented
 * sender's frame as accepted).
 */
async function frameAttack(
  c: Ctx,
  target: string,
  frames: () => Iterable<Buffer>,
  wellFormed: boolean,
): Promise<Outcome> {
  const n = node(c, target)
  const read = async () => {
    const text = await metrics(c, target)
    const tcp = metricSum(text, 'distlab_frames_received_total', { transport: 'tcp' })
    const membership = metricSum(text, 'distlab_frames_received_total', {
      proto: 'membership',
      transport: 'tcp',
    })
    return { dropped: dropsIn(text), taken: tcp - membership }
  }
  const before = await read()
  const sent = await tcpFrames(n.host, n.framePort, frames())
  let dropped = 0
  // Every frame read: counted as dropped or as received (exact over TCP).
  await until(
    async () => {
      const now = await read()
      dropped = now.dropped - before.dropped
      return dropped + now.taken - before.taken >= sent
    },
    10_000 + sent * 20,
  )
  return {
    inputs: sent,
    accepted: Math.max(0, sent - dropped),
    byDesign: wellFormed && !c.keyed,
    note: `${dropped} dropped`,
  }
}

const ATTACKS: Attack[] = [
  {
    item: 1,
    name: 'frame nested 20k deep, junk MAC and the key id (UDP and TCP)',
    target: 'node2',
    async run(c) {
      const n = node(c, 'node2')
      const make = () => [
        rawFrame(hdr('ping', 'req', 'node1', 'node2', 'deep-1'), nested(20_000), 0x02, junkTrailer(c.keyId)),
        rawFrame(
          {
            ...hdr('ping', 'req', 'node1', 'node2', 'deep-2'),
            auth: { k: c.keyId, t: Date.now(), n: 'x', m: 'A' },
          },
          nested(20_000),
        ),
      ]
      const udp = createSocket('udp4')
      await new Promise<void>((r) => udp.bind(0, ATTACKER, () => r()))
      const before = dropsIn(await metrics(c, 'node2'))
      let sent = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const f of make()) {
          await new Promise<void>((r) => udp.send(f, n.framePort, n.host, () => r()))
          sent++
        }
      udp.close()
      const tcp = await frameAttack(
        c,
        'node2',
        () => Array.from({ length: c.scale.repeats }, make).flat() as Buffer[],
        false,
      )
      // UDP may lose datagrams under load: what the node did not count as dropped, it may have lost.
      const udpDropped = dropsIn(await metrics(c, 'node2')) - before - (tcp.inputs - tcp.accepted)
      return {
        inputs: sent + tcp.inputs,
        accepted: tcp.accepted,
        note: `UDP ${udpDropped}/${sent} counted dropped, TCP ${tcp.note}`,
      }
    },
  },
  {
    item: 2,
    name: 'garbage and deep datagrams to the IP-broadcast socket',
    target: 'node2',
    async run(c) {
      // The ip strategy opens the socket (on the broadcast address only).
      const stats = async () =>
        (await (await api(c, 'node2', 'GET', '/broadcast/stats')).json()) as {
          dropped: number
          delivered: number
        }
      const delivered0 = (await stats()).delivered
      await api(c, 'node1', 'POST', '/broadcast', { msg: 'open the ip socket', strategy: 'ip' })
      await until(async () => (await stats()).delivered > delivered0, 10_000)
      const before = await stats()
      const udp = createSocket('udp4')
      await new Promise<void>((r) => udp.bind(0, ATTACKER, () => r()))
      udp.setBroadcast(true)
      let sent = 0
      for (let i = 0; i < c.scale.repeats * 5; i++)
        for (const d of [
          Buffer.from('not a frame'),
          rawFrame({ v: 1 }, Buffer.from('[[[[')),
          rawFrame(hdr('broadcast', 'msg', 'ghost', '*', `ipd-${i}`), nested(20_000)),
        ]) {
          await new Promise<void>((r) => udp.send(d, IP_BROADCAST_PORT, '127.255.255.255', () => r()))
          sent++
        }
      udp.close()
      let dropped = 0
      await until(async () => (dropped = (await stats()).dropped - before.dropped) >= sent, 3000)
      // What node2 delivered from them (none can be a message).
      const accepted = (await stats()).delivered - before.delivered
      return { inputs: sent, accepted, note: `${dropped}/${sent} counted dropped by node2` }
    },
  },
  {
    item: 3,
    name: 'malformed URLs and no token at the supervisor control API',
    target: 'supervisor',
    async run(c) {
      const host = c.controlUrl.hostname
      const port = Number(c.controlUrl.port)
      const requests = [
        'GET // HTTP/1.1\r\nHost: x\r\n\r\n',
        'POST /nodes/%zz/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
        'POST /nodes/%/restart HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
        'GET //evil.example/nodes HTTP/1.1\r\nHost: x\r\n\r\n',
        'POST /nodes/node1/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
        'GET /nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n',
        '\u0000\u0001 not http\r\n\r\n',
      ]
      let inputs = 0
      let accepted = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const r of requests) {
          const status = await rawStatus(host, port, r)
          inputs++
          if (status >= 200 && status < 300) accepted++
        }
      // The supervisor still serves its owner.
      const ok = await fetch(new URL('/nodes', c.controlUrl), {
        headers: { authorization: `Bearer ${c.controlToken}` },
        signal: AbortSignal.timeout(5000),
      })
      return { inputs, accepted, note: `control API with its token: ${ok.status}` }
    },
  },
  {
    item: 4,
    name: 'POST /telemetry naming __proto__ at the master',
    target: 'master',
    async run(c) {
      const names = ['__proto__', 'constructor', 'prototype']
      const events = names.map((n) => ({
        ts: Date.now(),
        node: n,
        proto: n,
        kind: 'send',
        msgId: n,
        src: n,
        dst: n,
        bytes: 1,
        transport: 'udp',
        type: n,
      }))
      let inputs = 0
      let answered2xx = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const n of names) {
          const r = await fetch(`${url(node(c, 'master'))}/telemetry`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ node: n, seq: i + 1, lost: 0, events }),
            signal: AbortSignal.timeout(10_000),
          })
          inputs++
          if (r.ok) answered2xx++
        }
      // The effect the issue saw (every later frame dropped) shows as `works` failing.
      return { inputs, accepted: c.keyed ? answered2xx : 0, note: `${answered2xx} answered 2xx` }
    },
  },
  {
    item: 5,
    name: 'IHAVE flood: invented names and a member name',
    target: 'node2',
    run: (c) =>
      frameAttack(
        c,
        'node2',
        function* () {
          for (let f = 0; f < c.scale.ihaveFrames; f++) {
            const src = f % 2 === 0 ? `invented${f}` : 'node1'
            const k = c.scale.idsPerIhave
            yield rawFrame(
              hdr('broadcast', 'ihave', src, 'node2', `ih-${f}`),
              json({
                i: Array.from({ length: k }, (_, j) => [`ghost~${src}`, f * k + j]),
                h: Array.from({ length: k }, () => 1),
              }),
            )
          }
        },
        true,
      ),
  },
  {
    item: 6,
    name: 'unicast: out-of-order ~1 MB frames from invented senders',
    target: 'node1',
    run: (c) =>
      frameAttack(
        c,
        'node1',
        function* () {
          const session = `${Date.now().toString(36)}-abcd`
          const big = 'x'.repeat(900_000)
          for (let i = 0; i < c.scale.unicastFrames; i++)
            yield rawFrame(
              hdr('unicast', 'data', `ghost${i}`, 'node1', `uo-${i}`),
              json({ s: session, q: 5 + i, b: 0, m: i % 2 ? big : big.slice(0, 60_000) }),
            )
        },
        true,
      ),
  },
  {
    item: 7,
    name: 'frames naming invented protocols (/metrics growth)',
    target: 'node1',
    async run(c) {
      const before = (await metrics(c, 'node1')).length
      const o = await frameAttack(
        c,
        'node1',
        function* () {
          for (let i = 0; i < c.scale.protoFrames; i++)
            yield rawFrame(hdr(`invented-proto-${i}`, 'x', 'ghost', 'node1', `ip-${i}`), json({}))
        },
        true,
      )
      const grown = (await metrics(c, 'node1')).length - before
      return { ...o, byDesign: !c.keyed, note: `${o.note}; /metrics +${grown} bytes` }
    },
  },
  {
    item: 8,
    name: 'slow headers (slowloris) on the master API and the dashboard',
    target: 'master',
    async run(c) {
      const m = node(c, 'master')
      const targets = [
        { host: m.host, port: m.httpPort },
        { host: c.dashboard.hostname, port: Number(c.dashboard.port) },
      ]
      const sockets: Socket[] = []
      for (const t of targets)
        for (let i = 0; i < c.scale.slowConnections; i++) {
          const s = connect({ host: t.host, port: t.port, localAddress: ATTACKER })
          s.on('error', () => {})
          await new Promise<void>((r) => s.once('connect', () => r()).once('error', () => r()))
          s.write(`GET / HTTP/1.1\r\nHost: ${t.host}\r\n`)
          sockets.push(s)
        }
      const drip = setInterval(() => {
        for (const s of sockets) if (!s.destroyed) s.write('X')
      }, 1000)
      try {
        const health = await api(c, 'master', 'GET', '/health')
        // The headers bound is 10 s (or the scale's): every slow connection closed within 25 s.
        const closed = await until(() => sockets.every((s) => s.destroyed || s.readableEnded), 25_000)
        const open = sockets.filter((s) => !s.destroyed && !s.readableEnded).length
        return {
          inputs: sockets.length,
          accepted: open,
          note: `/health during the attack: ${health.status}; ${closed ? 'all closed by the servers' : `${open} still open after 25 s`}`,
        }
      } finally {
        clearInterval(drip)
        for (const s of sockets) s.destroy()
      }
    },
  },
  {
    item: 9,
    name: 'broadcast ids from one origin past the spread limit',
    target: 'node2',
    run: (c) =>
      frameAttack(
        c,
        'node2',
        function* () {
          const PER = 1000
          for (let at = 1; at <= c.scale.spreadIds; at += PER)
            yield rawFrame(
              hdr('broadcast', 'msg', 'far', 'node2', `bk-${at}`),
              json({
                m: Array.from({ length: PER }, (_, k) => ({
                  o: 'far~1',
                  q: at + k,
                  v: 0,
                  s: 'flood',
                  t: 1,
                  h: 1,
                })),
                a: 1,
              }),
            )
        },
        true,
      ),
  },
  {
    item: 10,
    name: 'dashboard action without a token, from a foreign Host and Origin',
    target: 'master',
    async run(c) {
      const host = c.dashboard.hostname
      const port = Number(c.dashboard.port)
      const body = JSON.stringify({ action: 'link', a: 'master', b: 'node1', cut: true })
      const post = (hostHeader: string, extra: string) =>
        rawStatus(
          host,
          port,
          `POST /api/action HTTP/1.1\r\nHost: ${hostHeader}\r\n${extra}Content-Type: application/json\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        )
      let inputs = 0
      let accepted = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const [h, extra] of [
          [`${host}:${port}`, ''],
          [`${host}:${port}`, 'x-distlab-token: guess\r\n'],
          [`rebind.attacker.example:${port}`, `Origin: http://rebind.attacker.example:${port}\r\n`],
          [`${host}:${port}`, 'Origin: http://attacker.example\r\n'],
        ] as const) {
          const s = await post(h, extra)
          inputs++
          if (s >= 200 && s < 300) accepted++
        }
      return { inputs, accepted }
    },
  },
  {
    item: 11,
    name: 'SSRF by redirect: a registered peer URL answering 302',
    target: 'node1',
    async run(c) {
      const hits = { redirector: 0, target: 0 }
      const target = createServer((_req, res) => {
        hits.target++
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"message":"Node 00000000-0000-0000-0000-000000000000 is running!"}')
      })
      let targetPort = 0
      const redirector = createServer((req, res) => {
        hits.redirector++
        res.writeHead(302, { location: `http://127.73.9.3:${targetPort}${req.url ?? '/'}` })
        res.end()
      })
      const listen = (s: Server, host: string) =>
        new Promise<number>((resolve) =>
          s.listen(0, host, () => resolve((s.address() as { port: number }).port)),
        )
      targetPort = await listen(target, '127.73.9.3')
      const rPort = await listen(redirector, '127.73.9.2')
      try {
        let inputs = 0
        const statuses = new Set<number>()
        for (let i = 0; i < c.scale.repeats; i++) {
          const r = await fetch(`${url(node(c, 'node1'))}/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            // A peer URL is an origin (a path is refused with 400): the same one each time.
            body: JSON.stringify({ url: `http://127.73.9.2:${rPort}` }),
            signal: AbortSignal.timeout(10_000),
          }).catch(() => undefined)
          statuses.add(r?.status ?? 0)
          inputs++
        }
        // An open node checks the URL (and must not follow it); a keyed one refuses the request.
        if (!c.keyed && !(await until(() => hits.redirector >= 1, 15_000)))
          throw new Error(
            `the open node never checked the registered URL (register answered ${[...statuses].join('/')})`,
          )
        await sleep(1000)
        return {
          inputs,
          accepted: hits.target,
          note: `register answered ${[...statuses].join('/')}; redirector asked ${hits.redirector} times`,
        }
      } finally {
        for (const s of [target, redirector]) {
          s.closeAllConnections()
          await new Promise<void>((r) => s.close(() => r()))
        }
      }
    },
  },
  {
    item: 12,
    name: 'POST /cluster/join as node1 from another address',
    target: 'master',
    async run(c) {
      const real = node(c, 'node1').host
      let inputs = 0
      let accepted = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const name of ['node1', 'master', '__proto__']) {
          const r = await fetch(`${url(node(c, 'master'))}/cluster/join`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              name,
              id: 'attacker',
              role: 'node',
              host: ATTACKER,
              httpPort: 5000,
              framePort: 7000,
            }),
            signal: AbortSignal.timeout(10_000),
          })
          inputs++
          if (r.ok) accepted++
        }
      const members = (await (await api(c, 'master', 'GET', '/cluster/members')).json()) as {
        members?: Array<{ name: string; host: string }>
      }
      const now = members.members?.find((m) => m.name === 'node1')?.host
      if (now !== real) accepted++
      return { inputs, accepted, note: `node1 held by ${now ?? '?'}`, ownRequests: 1 }
    },
  },
  {
    item: 13,
    name: 'spoofed src=master frame with a future session',
    target: 'node1',
    async run(c) {
      const future = `${(Date.now() + 86_400_000).toString(36)}-ffff`
      const o = await frameAttack(
        c,
        'node1',
        function* () {
          for (let i = 0; i < c.scale.repeats; i++)
            yield rawFrame(
              hdr('unicast', 'data', 'master', 'node1', `sp-${i}`),
              json({ s: future, q: i, b: 0, m: 'x' }),
            )
        },
        true,
      )
      // The effect the issue saw: master -> node1 unicast dropped as replay from then on.
      const r = await api(c, 'master', 'POST', '/unicast', { to: 'node1', msg: 'after', transport: 'udp' })
      const delivered = r.ok && ((await r.json()) as { delivered?: boolean }).delivered === true
      return {
        ...o,
        accepted: c.keyed ? o.accepted : delivered ? 0 : 1,
        byDesign: false,
        note: `master->node1 unicast after: ${delivered ? 'delivered' : 'FAILED'}`,
      }
    },
  },
  {
    item: 14,
    name: 'GETs that reveal cluster state, without the token',
    target: 'node1',
    async run(c) {
      const paths: Array<[string, string]> = [
        ['node1', '/unicast/delivered'],
        ['master', '/telemetry/recent'],
        ['node1', '/membership'],
        ['master', '/cluster/members'],
      ]
      let inputs = 0
      let accepted = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const [n, p] of paths) {
          const r = await fetch(url(node(c, n)) + p, { signal: AbortSignal.timeout(10_000) })
          await r.arrayBuffer()
          inputs++
          if (r.ok) accepted++
        }
      return { inputs, accepted, byDesign: !c.keyed, ownRequests: c.scale.repeats }
    },
  },
  {
    item: 15,
    name: 'log forging: line breaks in POST /message',
    target: 'node1',
    async run(c) {
      // A timestamp no genuine line has: a line that starts with it was forged.
      const fake = '2001-01-01T00:00:00.000Z INFO  distlab:http Received message from Node1: forged-key'
      let inputs = 0
      for (let i = 0; i < c.scale.repeats; i++)
        for (const body of [
          { sender: 'attacker', msg: `x\n${fake}` },
          { sender: `evil\n${fake}\n`, msg: 'y' },
          { sender: 'attacker', msg: `x\r\n${fake}\u2028${fake}` },
        ]) {
          await fetch(`${url(node(c, 'node1'))}/message`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
          })
          inputs++
        }
      const marker = `genuine-${Date.now()}`
      await api(c, 'node1', 'POST', '/message', { sender: 'Node1', msg: marker })
      const file = join(logDir(c.stateDir), 'node1.log')
      const read = () => {
        try {
          return readFileSync(file, 'utf8')
        } catch {
          return ''
        }
      }
      await until(() => read().includes(marker), 15_000)
      const forged = read()
        .split('\n')
        .filter((l) => l.startsWith('2001-01-01'))
      return { inputs, accepted: forged.length }
    },
  },
]

/** CPU a process may use and still count as quiet, in ms a second (1000 = one core). */
const QUIET_CPU_MS_PER_S = 200
/** Longest wait for quiet before measuring anyway, in ms. */
const SETTLE_MAX_MS = 90_000

/**
 * Waits until the cluster is quiet: every process using little CPU and no member-list request at
 * the master for the scale's settleQuietMs, so that what one attack set off (a flood still being worked
 * through, suspicions and rejoins after it) is not counted against the next. Returns how long it
 * took, in ms.
 */
async function settle(c: Ctx, pids: number[]): Promise<number> {
  const t0 = Date.now()
  const requests = async () => metricSum(await metrics(c, 'master'), 'distlab_member_list_requests_total')
  let quietSince = Date.now()
  let lastReq = await requests()
  let lastCpu = pids.map(cpuMs)
  let lastAt = Date.now()
  while (Date.now() - t0 < SETTLE_MAX_MS) {
    await sleep(500)
    const req = await requests()
    const cpu = pids.map(cpuMs)
    const secs = Math.max(0.001, (Date.now() - lastAt) / 1000)
    const busy = cpu.some((t, i) => (t - lastCpu[i]!) / secs > QUIET_CPU_MS_PER_S)
    if (busy || req !== lastReq) quietSince = Date.now()
    lastReq = req
    lastCpu = cpu
    lastAt = Date.now()
    if (Date.now() - quietSince >= c.scale.settleQuietMs) break
  }
  return Date.now() - t0
}

async function measure(
  c: Ctx,
  attack: Attack,
  idlePerMs: number,
  supervisorPid: number,
): Promise<HostileRow> {
  const pids = [...c.nodes.values()].map((n) => n.pid)
  const targetPid = attack.target === 'supervisor' ? supervisorPid : node(c, attack.target).pid
  const settledMs = await settle(c, pids)
  ;(globalThis as { gc?: () => void }).gc?.()
  const rssBefore = new Map([...pids, supervisorPid].map((p) => [p, rssMiB(p)]))
  const reqBefore = metricSum(await metrics(c, 'master'), 'distlab_member_list_requests_total')
  const t0 = Date.now()
  let outcome: Outcome
  let attackFailed = false
  try {
    outcome = await attack.run(c)
  } catch (err) {
    attackFailed = true
    outcome = { inputs: 0, accepted: 0, note: `the attack itself failed: ${(err as Error).message}` }
  }
  const ms = Date.now() - t0
  // A moment for what the attack set off (graft timers, refreshes, buffers).
  await sleep(1000)
  ;(globalThis as { gc?: () => void }).gc?.()
  const alive = pids.every(isAlive)
  const ping = async (to: string, transport: string) => {
    const r = await api(c, 'node1', 'POST', '/ping', { to, transport, timeoutMs: 5000 }).catch(
      () => undefined,
    )
    return r?.ok === true
  }
  const works =
    alive && (await until(async () => (await ping('master', 'udp')) && (await ping('node2', 'tcp')), 20_000))
  const reqAfter = metricSum(await metrics(c, 'master'), 'distlab_member_list_requests_total')
  const idle = idlePerMs * (Date.now() - t0)
  // The supervisor is also the attacker here (it builds the frames): counted only when attacked.
  const watched = [...rssBefore].filter(([p]) => p !== supervisorPid || attack.target === 'supervisor')
  const growths = watched.map(([p, mb]) => ({ p, mb: isAlive(p) ? rssMiB(p) - mb : 0 }))
  const growth = Math.max(...growths.map((g) => g.mb))
  const names = new Map([...c.nodes.values()].map((n) => [n.pid, n.name]))
  const grew = growths
    .filter((g) => g.mb >= 10)
    .map((g) => `${names.get(g.p) ?? 'supervisor'} +${g.mb} MB`)
    .join(', ')
  return {
    cluster: c.keyed ? 'keyed' : 'open',
    item: attack.item,
    attack: attack.name,
    target: attack.target,
    inputs: outcome.inputs,
    alive,
    works,
    rssBeforeMb: rssBefore.get(targetPid) ?? 0,
    rssAfterMb: rssMiB(targetPid),
    maxGrowthMb: growth,
    masterRequests: Math.max(0, Math.round(reqAfter - reqBefore - idle - (outcome.ownRequests ?? 0))),
    accepted: outcome.accepted,
    acceptedByDesign: outcome.byDesign ?? false,
    attackFailed,
    ms,
    note: `${outcome.note ?? ''}${outcome.note ? '; ' : ''}${grew ? `${grew}; ` : ''}${ms} ms${settledMs > c.scale.settleQuietMs + 2000 ? `; ${Math.round(settledMs / 1000)} s to settle before` : ''}`,
  }
}

/** Starts a cluster of processes (keyed or open), runs every attack on it, stops it. */
export async function runHostile(
  keyed: boolean,
  scale: HostileScale,
  onRow?: (r: HostileRow) => void,
  only?: number[],
): Promise<HostileRow[]> {
  const stateDir = mkdtempSync(join(tmpdir(), 'distlab-bench-hostile-'))
  const key = keyed ? 'bench hostile cluster key' : undefined
  const cluster = new LocalCluster({
    nodes: 2,
    mode: 'process',
    stateDir,
    block: BLOCK,
    dashboardPort: 0,
    runsDir: join(stateDir, 'runs'),
    key,
  })
  // No periodic member refresh in the node processes: every member-list request the master counts
  // during an attack is one the attack (or the check after it) caused.
  const env: Record<string, string | undefined> = { DISTLAB_MEMBERS_REFRESH_MS: '3600000' }
  if (scale.headersTimeoutMs !== undefined)
    env.DISTLAB_HTTP_HEADERS_TIMEOUT_MS = String(scale.headersTimeoutMs)
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const)
  Object.assign(process.env, env)
  try {
    await cluster.start()
  } finally {
    for (const [k, v] of saved)
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
  }
  const rows: HostileRow[] = []
  try {
    const nodes = new Map(cluster.list().map((n) => [n.name, { ...n, pid: n.pid ?? 0 }]))
    const controlUrl = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as {
      controlUrl: string
    }
    let dash: string | undefined
    await until(() => (dash = readDashboardRecord(stateDir)?.url) !== undefined, 30_000)
    const c: Ctx = {
      keyed,
      keyId: key ? new Keyring(key).current.id : 'k1',
      stateDir,
      nodes,
      auth: key ? { authorization: new Keyring(key).bearer() } : {},
      controlUrl: new URL(controlUrl.controlUrl),
      controlToken: readControlToken(stateDir) ?? '',
      dashboard: new URL(dash ?? 'http://127.0.0.1:1'),
      scale,
    }
    // Every node knows the others (a ping to a name not yet known refreshes the list once), then
    // the master's idle rate of member-list requests.
    const members = async (n: string) => {
      const r = await api(c, n, 'GET', '/health').catch(() => undefined)
      return (r?.ok && ((await r.json()) as { members?: number }).members) || 0
    }
    await until(async () => {
      for (const [from, to] of [
        ['node1', 'node2'],
        ['node2', 'node1'],
      ])
        await api(c, from!, 'POST', '/ping', { to, transport: 'udp', timeoutMs: 2000 }).catch(() => undefined)
      return (await members('node1')) >= 3 && (await members('node2')) >= 3
    }, 60_000)
    const IDLE_MS = 4000
    const r0 = metricSum(await metrics(c, 'master'), 'distlab_member_list_requests_total')
    await sleep(IDLE_MS)
    const idlePerMs =
      (metricSum(await metrics(c, 'master'), 'distlab_member_list_requests_total') - r0) / IDLE_MS
    for (const a of ATTACKS) {
      if (only && !only.includes(a.item)) continue
      const row = await measure(c, a, idlePerMs, process.pid)
      rows.push(row)
      onRow?.(row)
    }
  } finally {
    await cluster.stop()
    rmSync(stateDir, { recursive: true, force: true })
  }
  return rows
}
