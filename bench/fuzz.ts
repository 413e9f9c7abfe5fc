// Hostile input, counted: random and mutated inputs per decoder and per listening socket of a live
// cluster (no crash, no internal error, every rejection counted), and forged, replayed, unsigned and
// foreign-key frames thrown at a keyed cluster (accepted: must be 0).
import { connect, type Socket } from 'node:net'
import { crc32 } from 'node:zlib'
import { LocalCluster } from '../src/cluster/local.js'
import { encodeFrame, decodeFrame, FrameReader, lengthPrefixed } from '../src/core/frame.js'
import { createEnvelope } from '../src/core/envelope.js'
import { FrameGuard } from '../src/core/auth.js'
import { decodePacket, encodePacket } from '../src/protocols/gbn/wire.js'
import { decodeVector, encodeVector, decodeCost } from '../src/protocols/dv/wire.js'
import { checkGossip, checkPushPull, checkProbe } from '../src/protocols/membership/wire.js'
import { lineServer } from '../src/protocols/download/lineserver.js'
import { goBackN, udpNetwork } from '../src/protocols/gbn/index.js'
import { dvNode } from '../src/protocols/dv/index.js'
import {
  frameSamples,
  fuzzTarget,
  metricSum,
  mutate,
  nodeTargets,
  randomBytes,
  randomJson,
  scrapeMetrics,
} from '../src/scenario/fuzz.js'
import { seededRandom } from '../src/core/random.js'
import { benchDir, writeResult } from './lib.js'

const PER_DECODER = Number(process.env.BENCH_FUZZ_DECODER_INPUTS ?? 20_000)
const PER_SOCKET = Number(process.env.BENCH_FUZZ_SOCKET_INPUTS ?? 400)
const PER_ATTACK = Number(process.env.BENCH_FUZZ_ATTACK_FRAMES ?? 300)
const stateDir = () => benchDir('distlab-bench-fuzz-')

/** The two-node in-process cluster the socket-level measurements run against (block 90). */
async function startCluster(extra: { key?: string } = {}): Promise<LocalCluster> {
  const cluster = new LocalCluster({
    nodes: 2,
    mode: 'inproc',
    stateDir: stateDir(),
    block: 90,
    dashboardPort: 0,
    ...extra,
  })
  await cluster.start()
  return cluster
}

// ---- decoders ----

interface DecoderRow {
  decoder: string
  inputs: number
  accepted: number
  rejected: number
  otherErrors: number
  perSecond: number
}

function fuzzDecoder(
  name: string,
  samples: Buffer[],
  decode: (b: Buffer) => unknown,
  code: string,
): DecoderRow {
  const rand = seededRandom(42)
  const row: DecoderRow = { decoder: name, inputs: 0, accepted: 0, rejected: 0, otherErrors: 0, perSecond: 0 }
  const t0 = performance.now()
  for (let i = 0; i < PER_DECODER; i++) {
    const input =
      i % 2 === 0 ? randomBytes(rand, 1500) : mutate(samples[Math.floor(rand() * samples.length)]!, rand)
    row.inputs++
    try {
      decode(input)
      row.accepted++
    } catch (err) {
      if ((err as { code?: string }).code === code) row.rejected++
      else row.otherErrors++
    }
  }
  row.perSecond = Math.round(row.inputs / ((performance.now() - t0) / 1000))
  return row
}

function decoders(): DecoderRow[] {
  const rand = seededRandom(1)
  const frames = frameSamples('node2', ['unicast', 'broadcast', 'ping', 'membership'], rand)
  const guard = new FrameGuard({ keyring: 'bench fuzz key' })
  const sealed = frames.map((f) => guard.sealFrame(decodeFrame(f)))
  const packets = Array.from({ length: 20 }, (_, i) =>
    encodePacket({
      type: (['data', 'ack', 'dv', 'cost'] as const)[i % 4],
      seq: i,
      payload: randomBytes(rand, 64),
    }),
  )
  const vectors = Array.from({ length: 20 }, (_, i) =>
    encodeVector({ linkCost: i / 10, entries: Array.from({ length: i }, (_, j) => [5000 + j, j * 0.5]) }),
  )
  const wireJson = Array.from({ length: 20 }, () => Buffer.from(JSON.stringify(randomJson(rand, 3))))
  const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown
  return [
    fuzzDecoder('distlab frame (decodeFrame)', frames, (b) => decodeFrame(b), 'ERR_FRAME_DECODE'),
    fuzzDecoder(
      'distlab TCP stream (FrameReader)',
      frames.map((f) => Buffer.concat([Buffer.from([0, 0, f.length >> 8, f.length & 0xff]), f])),
      (b) => new FrameReader(64 * 1024).push(b).forEach((f) => decodeFrame(f)),
      'ERR_FRAME_DECODE',
    ),
    fuzzDecoder(
      'authenticated frame (decode + MAC check)',
      sealed,
      (b) => {
        const r = new FrameGuard({ keyring: 'bench fuzz key' }).openFrame(b)
        if ('reason' in r) throw Object.assign(new Error(r.reason), { code: 'ERR_FRAME_DECODE' })
      },
      'ERR_FRAME_DECODE',
    ),
    fuzzDecoder(
      'Go-Back-N / course packet (decodePacket)',
      packets,
      (b) => decodePacket(b),
      'ERR_FRAME_DECODE',
    ),
    fuzzDecoder('distance vector (decodeVector)', vectors, (b) => decodeVector(b), 'ERR_FRAME_DECODE'),
    fuzzDecoder('link cost (decodeCost)', vectors, (b) => decodeCost(b.subarray(0, 8)), 'ERR_FRAME_DECODE'),
    fuzzDecoder(
      'membership wire bodies (JSON + checks)',
      wireJson,
      (b) => {
        let x: unknown
        try {
          x = json(b)
        } catch {
          throw Object.assign(new Error('not JSON'), { code: 'ERR_WIRE' })
        }
        try {
          checkProbe(x)
          checkGossip(x)
          checkPushPull(x)
        } catch (err) {
          // WireError has no code yet: tell it apart by name.
          if ((err as Error).name === 'WireError') throw Object.assign(err as Error, { code: 'ERR_WIRE' })
          throw err
        }
      },
      'ERR_WIRE',
    ),
  ]
}

// ---- sockets of a live cluster ----

async function sockets(): Promise<{
  rows: Array<Array<string | number>>
  healthy: boolean
  notes: string[]
}> {
  const cluster = await startCluster()
  const lines = lineServer({ host: '127.90.8.1', port: 0, lines: ['zero', 'one', 'two'] })
  await lines.start()
  const gbn = goBackN({ port: 0, peerPort: 9 })({ network: udpNetwork({ host: '127.90.8.2' }) })
  await gbn.start()
  const dv = dvNode({ port: 0, neighbors: [{ port: 9, cost: 1 }] })({
    network: udpNetwork({ host: '127.90.8.3' }),
  })
  await dv.start()
  const rows: Array<Array<string | number>> = []
  let healthy = true
  try {
    const before = new Map<string, string>()
    for (const n of cluster.list()) before.set(n.name, await scrapeMetrics(n.host, n.httpPort))
    let seed = 100
    for (const n of cluster.list())
      for (const t of nodeTargets(n, { peer: n.name === 'node1' ? 'node2' : 'node1', seed: seed++ })) {
        const r = await fuzzTarget(t, { inputs: PER_SOCKET, seed: seed++, fromHost: '127.90.9.9' })
        rows.push([
          r.target,
          r.inputs,
          r.statuses ? `${r.statuses['4xx'] ?? 0} / ${r.statuses['2xx'] ?? 0}` : '-',
          r.internalErrors ?? 0,
          r.resets,
        ])
      }
    const gbnBefore = gbn.stats().rejected
    const dvBefore = dv.stats().rejected
    const lsBefore = lines.stats().malformed
    for (const t of [
      { kind: 'tcp-lines', name: 'line server (seed 003)', host: '127.90.8.1', port: lines.address().port },
      { kind: 'udp', name: 'gbnnode (seed 004)', host: '127.90.8.2', port: gbn.port },
      { kind: 'udp', name: 'dvnode (seed 004)', host: '127.90.8.3', port: dv.port },
    ] as const) {
      const r = await fuzzTarget(t, { inputs: PER_SOCKET, seed: seed++, fromHost: '127.90.9.9' })
      rows.push([r.target, r.inputs, '-', 0, r.resets])
    }
    for (const n of cluster.list()) {
      const res = await fetch(`http://${n.host}:${n.httpPort}/health`, { signal: AbortSignal.timeout(5000) })
      healthy &&= res.ok
      const now = await scrapeMetrics(n.host, n.httpPort)
      const was = before.get(n.name)!
      const d = (name: string, l: Record<string, string>) => metricSum(now, name, l) - metricSum(was, name, l)
      rows.push([
        `${n.name} /metrics: frames dropped (in) / http rejected`,
        '',
        `${d('distlab_frames_dropped_total', { direction: 'in' })} / ${d('distlab_http_rejected_total', {})}`,
        '',
        '',
      ])
    }
    rows.push([
      'course programs: rejected (gbn / dv) / malformed (line server)',
      '',
      `${gbn.stats().rejected - gbnBefore} / ${dv.stats().rejected - dvBefore} / ${lines.stats().malformed - lsBefore}`,
      '',
      '',
    ])
  } finally {
    await dv.stop()
    await gbn.stop()
    await lines.stop()
    await cluster.stop()
  }
  return { rows, healthy, notes: [] }
}

// ---- a connection flood at the TCP frame port ----

/**
 * Opens FLOOD connections from one address to a node's TCP frame port (default cap, 256 per
 * address): how many stay open, how many the node closed at once, what /metrics counted, and
 * whether a peer's TCP ping still gets through while the flood holds its connections.
 */
async function connectionFlood(): Promise<Array<Array<string | number>>> {
  const FLOOD = Number(process.env.BENCH_FUZZ_FLOOD_CONNECTIONS ?? 400)
  const cluster = await startCluster()
  const held: Socket[] = []
  try {
    const target = cluster.list().find((n) => n.name === 'node1')!
    const peer = cluster.list().find((n) => n.name === 'node2')!
    const before = await scrapeMetrics(target.host, target.httpPort)
    const t0 = performance.now()
    await Promise.all(
      Array.from(
        { length: FLOOD },
        () =>
          new Promise<void>((resolve) => {
            const s = connect({ host: target.host, port: target.framePort, localAddress: '127.90.9.7' })
            held.push(s)
            s.on('error', () => resolve())
            s.once('connect', () => resolve())
            s.once('close', () => resolve())
          }),
      ),
    )
    // Every connection over the cap is closed by the node without waiting for a byte.
    for (let i = 0; i < 100 && held.filter((s) => s.destroyed).length < FLOOD - 256; i++)
      await new Promise((r) => setTimeout(r, 50))
    const floodMs = performance.now() - t0
    await new Promise((r) => setTimeout(r, 500))
    const closed = held.filter((s) => s.destroyed).length
    const ping = await fetch(`http://${peer.host}:${peer.httpPort}/ping`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'node1', transport: 'tcp', timeoutMs: 10_000 }),
      signal: AbortSignal.timeout(15_000),
    })
    const pong = (await ping.json()) as { rttMs?: number }
    const after = await scrapeMetrics(target.host, target.httpPort)
    const counted =
      metricSum(after, 'distlab_frames_dropped_total', { reason: 'too_many_connections' }) -
      metricSum(before, 'distlab_frames_dropped_total', { reason: 'too_many_connections' })
    return [
      [
        FLOOD,
        FLOOD - closed,
        closed,
        counted,
        ping.ok ? `yes (${pong.rttMs} ms)` : `no (${ping.status})`,
        Math.round(floodMs),
      ],
    ]
  } finally {
    for (const s of held) s.destroy()
    await cluster.stop()
  }
}

// ---- forged and replayed frames at a keyed cluster ----

async function attacks(): Promise<Array<Array<string | number>>> {
  const KEY = 'bench cluster key'
  const cluster = await startCluster({ key: KEY })
  const rows: Array<Array<string | number>> = []
  try {
    const target = cluster.list().find((n) => n.name === 'node2')!
    // Over TCP, so that the kernel loses nothing and every count is exact.
    const sock = connect({ host: target.host, port: target.framePort, localAddress: '127.90.9.8' })
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject))
    const send = (b: Buffer) => new Promise<void>((r) => sock.write(lengthPrefixed(b), () => r()))
    const rand = seededRandom(9)
    const env = (proto: string) =>
      createEnvelope({ proto, type: 'x', src: 'node1', dst: 'node2', body: randomJson(rand, 2) })
    const signer = new FrameGuard({ keyring: KEY })
    const stranger = new FrameGuard({ keyring: 'not the cluster key' })
    const before = await scrapeMetrics(target.host, target.httpPort)
    // Each class uses its own protocol name, so that what got past authentication is counted apart.
    for (let i = 0; i < PER_ATTACK; i++) {
      // The real key id and a MAC that is not the frame's (its body was changed after signing).
      const forged = signer.sealFrame(env('atk-forged'))
      forged.fill(i & 0xff, forged.length - 4 - 32, forged.length - 4)
      forged.writeUInt32BE(crc32(forged.subarray(0, forged.length - 4)), forged.length - 4)
      await send(forged)
      await send(encodeFrame(env('atk-unsigned')))
      await send(stranger.sealFrame(env('atk-foreign')))
      const original = signer.sealFrame(env('atk-replayed'))
      await send(original)
      await send(original)
      await send(original)
    }
    await new Promise((r) => setTimeout(r, 1000))
    sock.end()
    const after = await scrapeMetrics(target.host, target.httpPort)
    const d = (name: string, l: Record<string, string>) =>
      metricSum(after, name, l) - metricSum(before, name, l)
    const accepted = (proto: string) => d('distlab_frames_received_total', { proto })
    rows.push([
      'forged (valid key id, body changed after signing)',
      PER_ATTACK,
      accepted('atk-forged'),
      'bad_mac',
    ])
    rows.push(['unsigned (no MAC)', PER_ATTACK, accepted('atk-unsigned'), 'no_mac'])
    rows.push(['signed with a foreign key', PER_ATTACK, accepted('atk-foreign'), 'unknown_key'])
    rows.push([
      'replayed (each genuine frame sent 3 times)',
      2 * PER_ATTACK,
      accepted('atk-replayed') - PER_ATTACK,
      'replay',
    ])
    rows.push([
      'drops counted in /metrics (bad_mac / no_mac / unknown_key / replay)',
      '',
      ['bad_mac', 'no_mac', 'unknown_key', 'replay']
        .map((reason) => d('distlab_frames_dropped_total', { reason, direction: 'in' }))
        .join(' / '),
      '',
    ])
  } finally {
    await cluster.stop()
  }
  return rows
}

/** Frames per second through encode+decode, open and keyed, measured back to back. */
function authCost(): Array<Array<string | number>> {
  const N = 20_000
  const env = createEnvelope({
    proto: 'unicast',
    type: 'data',
    src: 'node1',
    dst: 'node2',
    body: { s: 'a1b2c3', q: 17, b: 3, m: { sensor: 'temp', value: 23.5 } },
  })
  const sender = new FrameGuard({ keyring: 'bench cost key' })
  const receiver = new FrameGuard({ keyring: 'bench cost key' })
  const rate = (fn: () => void) => {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) fn()
    return Math.round(N / ((performance.now() - t0) / 1000))
  }
  const rows: Array<Array<string | number>> = []
  for (let round = 0; round < 2; round++) {
    const open = rate(() => decodeFrame(encodeFrame(env)))
    const keyed = rate(() => {
      const r = receiver.openFrame(sender.sealFrame(env))
      if ('reason' in r) throw new Error(r.reason)
    })
    rows.push([round === 0 ? 'warm-up' : 'measured', open, keyed, (open / keyed).toFixed(2)])
  }
  return rows.slice(1)
}

const cost = authCost()
const dec = decoders()
const sock = await sockets()
const atk = await attacks()
const flood = await connectionFlood()
writeResult('fuzz', {
  title: 'Hostile input: fuzzed decoders and sockets, forged and replayed frames',
  description:
    'Seeded random and mutated inputs (bit flips, boundary values in length fields, truncation, splicing) per decoder and per listening socket of a live in-process cluster (127.90.x.y) and of the course programs; then forged, unsigned, foreign-key and replayed frames at a cluster started with a key.',
  sections: [
    {
      heading: 'Decoders',
      columns: [
        'decoder',
        'inputs',
        'accepted',
        'rejected with a reason',
        'other errors (must be 0)',
        'inputs/s',
      ],
      rows: dec.map((r) => [r.decoder, r.inputs, r.accepted, r.rejected, r.otherErrors, r.perSecond]),
      notes: [
        'Half the inputs are random bytes, half mutations of valid ones; "accepted" inputs decoded to a valid value.',
      ],
    },
    {
      heading: 'Sockets of a live cluster',
      columns: ['socket', 'inputs', 'HTTP 4xx / 2xx', 'internal errors (must be 0)', 'connections reset'],
      rows: sock.rows,
      notes: [
        `Every node answered /health afterwards: ${sock.healthy ? 'yes' : 'NO'} (crashes: ${sock.healthy ? 0 : 1}).`,
      ],
    },
    {
      heading: 'Forged and replayed frames at a keyed cluster',
      columns: ['frames', 'sent', 'accepted (must be 0)', 'drop reason'],
      rows: atk,
    },
    {
      heading: "A connection flood from one address at a node's TCP frame port",
      columns: [
        'connections opened',
        'held open (cap: 256)',
        'closed at once by the node',
        'counted in /metrics (too_many_connections)',
        "a peer's TCP ping answered meanwhile",
        'ms until the excess was closed',
      ],
      rows: flood,
      notes: [
        'The default cap of 256 connections per remote address: a peer keeps at most one pooled connection to a node and connects from its own address (local nodes bind their own 127.B.x.y), so a normal cluster holds 1-2 per address.',
      ],
    },
    {
      heading: 'Cost of the cluster key (one small unicast frame, one core)',
      columns: [
        '',
        'open: frames/s (encode + decode)',
        'keyed: frames/s (seal + encode + decode + open)',
        'ratio',
      ],
      rows: cost,
      notes: [
        'Measured back to back in one process; HMAC-SHA256 over the canonical envelope plus the replay check.',
      ],
    },
  ],
  data: { decoders: dec, sockets: sock.rows, attacks: atk, flood },
})
