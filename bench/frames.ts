// Frames encoded, decoded and authenticated per CPU second on one core, for the three frames the
// cluster sends most (a membership ping with piggybacked updates, a unicast data message, a
// broadcast msg), keyed and unkeyed. Today's codec (binary header, packed body, one-shot HMAC) runs
// beside the codec as it was before (bench/baseline/frame-v1.ts: JSON header checked by zod, JSON
// body, createHmac per frame) in the same process, alternating rounds, so the speed-up is a ratio
// measured side by side. A second table runs the gossip frame with today's codec and a JSON-text
// body (what nodes sent before the packed body), and with its body's JSON text carried as raw
// bytes: the codec without the body's encoding, the most any body encoding could give.
import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { FrameGuard } from '../src/core/auth.js'
import { createEnvelope, type Envelope } from '../src/core/envelope.js'
import { decodeFrame, encodeFrame, type CodecLimits } from '../src/core/frame.js'
import * as v1 from './baseline/frame-v1.js'
import { writeResult } from './lib.js'

/** Rounds per cell; each side runs once per round and the median round counts. */
const ROUNDS = Number(process.env.BENCH_FRAMES_ROUNDS ?? 11)
/** Each round of one side stops after this many frames or this much wall time, whichever comes first. */
const MAX_FRAMES_PER_ROUND = 200_000
const MAX_MS_PER_ROUND = 300
/** Frames each side runs before the rounds, so both are optimised by the JIT (zod's checks take long to warm). */
const WARMUP_FRAMES = 60_000

const started = Date.now()
const member = (i: number) => ({
  s: 'a',
  n: `node${i}`,
  u: `http://127.0.2.${i}:5000`,
  i: randomUUID(),
  h: `127.0.2.${i}`,
  p: 7000,
  g: started - 60_000 + i,
  c: i % 3,
})

/** What each kind of frame carries, shaped as the protocols send it (membership/wire.ts, unicast.ts, broadcast.ts). */
const KINDS: Array<{ kind: string; what: string; env: () => Envelope }> = [
  {
    kind: 'gossip',
    what: 'membership ping, seq and 3 piggybacked member updates',
    env: () =>
      createEnvelope({
        proto: 'membership',
        type: 'ping',
        src: 'node12',
        dst: 'node40',
        body: { seq: 48_211, u: [member(3), member(17), member(88)] },
      }),
  },
  {
    kind: 'unicast',
    what: 'unicast data: session, sequence, base, a 40-character message',
    env: () =>
      createEnvelope({
        proto: 'unicast',
        type: 'data',
        src: 'node1',
        dst: 'node2',
        body: { s: randomUUID().slice(0, 8), q: 1742, b: 1738, m: 'message 1742 from node1 to node2, hello' },
      }),
  },
  {
    kind: 'broadcast',
    what: 'broadcast msg to *: one item (origin, seq, value, strategy, time, hops)',
    env: () =>
      createEnvelope({
        proto: 'broadcast',
        type: 'msg',
        src: 'node7',
        dst: '*',
        ttl: 8,
        body: { m: [{ o: 'node3', q: 911, v: 42_017, s: 'tree', t: started, h: 2 }] },
      }),
  },
]

type Codec = {
  encode: (env: Envelope, limits: CodecLimits) => Buffer
  decode: (buf: Uint8Array, limits: CodecLimits) => Envelope
}
const TODAY: Codec = { encode: encodeFrame, decode: decodeFrame }
const BEFORE: Codec = { encode: v1.encodeFrame, decode: v1.decodeFrame }

interface Side {
  codec: Codec
  sender: CodecLimits
  receiver: CodecLimits
}

function sides(keyed: boolean): { today: Side; before: Side } {
  if (!keyed)
    return {
      today: { codec: TODAY, sender: {}, receiver: {} },
      before: { codec: BEFORE, sender: {}, receiver: {} },
    }
  const key = 'bench:frames bench cluster key'
  const mk = () => ({ tx: new FrameGuard({ keyring: key }), rx: new FrameGuard({ keyring: key }) })
  const a = mk()
  const b = mk()
  return {
    today: { codec: TODAY, sender: { auth: a.tx }, receiver: { auth: a.rx } },
    before: {
      codec: BEFORE,
      sender: { auth: v1.baselineAuth(b.tx) },
      receiver: { auth: v1.baselineAuth(b.rx) },
    },
  }
}

/** Encodes and decodes `env` until the bounds; frames per CPU second (user + system) of this process. */
function round(
  side: Side,
  env: Envelope,
  maxFrames: number,
  maxMs = MAX_MS_PER_ROUND,
): { frames: number; cpuMs: number; wallMs: number } {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  let frames = 0
  while (frames < maxFrames) {
    for (let i = 0; i < 200; i++) side.codec.decode(side.codec.encode(env, side.sender), side.receiver)
    frames += 200
    if (performance.now() - t0 > maxMs) break
  }
  const c = process.cpuUsage(c0)
  return { frames, cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const perCpuSecond = (x: { frames: number; cpuMs: number }) => (x.frames / Math.max(x.cpuMs, 1)) * 1000

const rows: Array<Array<string | number>> = []
const data: Array<Record<string, unknown>> = []
for (const { kind, what, env: makeEnv } of KINDS) {
  for (const keyed of [false, true]) {
    const env = makeEnv()
    const s = sides(keyed)
    // Both codecs must give the same envelope for the same frame before their speeds mean anything.
    const a = s.today.codec.decode(s.today.codec.encode(env, s.today.sender), s.today.receiver)
    const b = s.before.codec.decode(s.before.codec.encode(env, s.before.sender), s.before.receiver)
    if (!isDeepStrictEqual(a, env) || !isDeepStrictEqual(b, env))
      throw new Error(`${kind}: a codec did not return the envelope it was given`)
    const bytesToday = s.today.codec.encode(env, s.today.sender).length
    const bytesBefore = s.before.codec.encode(env, s.before.sender).length
    round(s.today, env, WARMUP_FRAMES, 3000)
    round(s.before, env, WARMUP_FRAMES, 3000)
    global.gc?.()
    const today: number[] = []
    const before: number[] = []
    const ratios: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, so a burst of load elsewhere falls on both.
      const order = r % 2 === 0 ? (['today', 'before'] as const) : (['before', 'today'] as const)
      const got: Record<string, number> = {}
      for (const which of order) {
        const x = round(s[which], env, MAX_FRAMES_PER_ROUND)
        got[which] = (x.frames / Math.max(x.cpuMs, 1)) * 1000
      }
      today.push(got.today!)
      before.push(got.before!)
      ratios.push(got.today! / got.before!)
      if (process.env.BENCH_FRAMES_VERBOSE)
        process.stderr.write(
          `  round ${r}: before ${Math.round(got.before!)} today ${Math.round(got.today!)}\n`,
        )
    }
    const row = {
      kind,
      keyed,
      what,
      bytesBefore,
      bytesToday,
      beforePerCpuSecond: Math.round(median(before)),
      todayPerCpuSecond: Math.round(median(today)),
      ratio: +median(ratios).toFixed(2),
    }
    process.stderr.write(
      `${kind}${keyed ? ' keyed' : ''}: before ${row.beforePerCpuSecond}/s, today ${row.todayPerCpuSecond}/s, ×${row.ratio} (${bytesBefore} → ${bytesToday} bytes)\n`,
    )
    data.push(row)
    rows.push([
      kind,
      keyed ? 'yes' : 'no',
      bytesBefore,
      bytesToday,
      row.beforePerCpuSecond,
      row.todayPerCpuSecond,
      row.ratio,
    ])
  }
}

// Where a gossip frame's time goes: the same frame with its body's JSON text carried as raw bytes
// (flags bit 0: copied, never stringified or parsed) costs the codec everything but the body's
// encoding, so it bounds what any body encoding could gain. Measured side by side with the packed
// body, the JSON-text body and the old codec, in alternating rounds.
const gossip = KINDS[0]!
const bodyRows: Array<Array<string | number>> = []
const bodyData: Array<Record<string, unknown>> = []
for (const keyed of [false, true]) {
  const env = gossip.env()
  const rawEnv: Envelope = { ...env, body: Buffer.from(JSON.stringify(env.body), 'utf8') }
  const s = sides(keyed)
  const raw = sides(keyed).today
  const t = sides(keyed).today
  const json: Side = { ...t, sender: { ...t.sender, body: 'json' } }
  const runs: Record<string, () => number> = {
    before: () => perCpuSecond(round(s.before, env, MAX_FRAMES_PER_ROUND)),
    packed: () => perCpuSecond(round(s.today, env, MAX_FRAMES_PER_ROUND)),
    json: () => perCpuSecond(round(json, env, MAX_FRAMES_PER_ROUND)),
    raw: () => perCpuSecond(round(raw, rawEnv, MAX_FRAMES_PER_ROUND)),
  }
  round(s.before, env, WARMUP_FRAMES, 3000)
  round(s.today, env, WARMUP_FRAMES, 3000)
  round(json, env, WARMUP_FRAMES, 3000)
  round(raw, rawEnv, WARMUP_FRAMES, 3000)
  const got: Record<string, number[]> = { before: [], packed: [], json: [], raw: [] }
  for (let r = 0; r < ROUNDS; r++) {
    const order = Object.keys(runs)
    if (r % 2) order.reverse()
    for (const which of order) got[which]!.push(runs[which]!())
  }
  const m = {
    before: median(got.before!),
    packed: median(got.packed!),
    json: median(got.json!),
    raw: median(got.raw!),
  }
  const row = {
    keyed,
    bodyBytes: (rawEnv.body as Buffer).length,
    beforePerCpuSecond: Math.round(m.before),
    todayPerCpuSecond: Math.round(m.packed),
    jsonBodyPerCpuSecond: Math.round(m.json),
    rawBodyPerCpuSecond: Math.round(m.raw),
    ratio: +(m.packed / m.before).toFixed(2),
    jsonRatio: +(m.json / m.before).toFixed(2),
    ceiling: +(m.raw / m.before).toFixed(2),
    bodyShare: +Math.max(0, 1 - m.packed / m.raw).toFixed(2),
  }
  process.stderr.write(
    `gossip body${keyed ? ' keyed' : ''}: before ${row.beforePerCpuSecond}/s, today ${row.todayPerCpuSecond}/s (JSON-text body ${row.jsonBodyPerCpuSecond}/s), body as raw bytes ${row.rawBodyPerCpuSecond}/s (×${row.ceiling}; the packed body is ${Math.round(100 * row.bodyShare)}% of today's time)\n`,
  )
  bodyData.push(row)
  bodyRows.push([
    keyed ? 'yes' : 'no',
    row.beforePerCpuSecond,
    row.jsonBodyPerCpuSecond,
    row.todayPerCpuSecond,
    row.rawBodyPerCpuSecond,
    row.jsonRatio,
    row.ratio,
    row.ceiling,
    `${Math.round(100 * row.bodyShare)}%`,
  ])
}

writeResult('frames', {
  title: 'Frame codec: frames encoded, decoded and authenticated per CPU second',
  description:
    'One core, one process: each frame is encoded (and sealed, when keyed) by a sender and decoded (MAC checked over the bytes, replay window, header parsed and checked, body decoded; no protocol body check on either side) by a receiver. ' +
    '"before" is the codec as it was before the binary header (bench/baseline/frame-v1.ts: JSON header checked by zod, JSON body, one createHmac per frame); "today" is src/core/frame.ts (binary header, packed body: src/core/packed.ts). ' +
    `Both run in the same process in ${ROUNDS} alternating rounds (each up to ${MAX_FRAMES_PER_ROUND} frames or ${MAX_MS_PER_ROUND} ms); figures are medians over rounds, per CPU second of this process (user + system), so load from other processes counts less than in wall time.`,
  sections: [
    {
      columns: [
        'frame',
        'keyed',
        'bytes before',
        'bytes today',
        'before: frames/CPU s',
        'today: frames/CPU s',
        'today/before',
      ],
      rows,
      notes: KINDS.map((k) => `${k.kind}: ${k.what}.`).concat([
        'Issue 17 target: ≥ 3× for gossip frames; a binary header is adopted only if ≥ 2× end to end.',
      ]),
    },
    {
      heading: 'What the gossip body costs',
      text:
        "The gossip frame again: today's codec with the body packed (what nodes send), with the body as JSON text (`body: 'json'`, what nodes sent before the packed body), and with the body's JSON text carried as raw bytes (copied, never stringified or parsed): what the codec costs without the body's encoding, so the most any body encoding could give. " +
        'Four sides in alternating rounds, frames per CPU second.',
      columns: [
        'keyed',
        'before: frames/CPU s',
        'today, JSON-text body: frames/CPU s',
        'today, packed body: frames/CPU s',
        'today, body as raw bytes: frames/CPU s',
        'JSON-text body/before',
        'packed body/before',
        'raw body/before (the ceiling)',
        "packed body's share of today's time",
      ],
      rows: bodyRows,
      notes: [
        'Keyed, the ceiling is what sealing and checking leave: two MACs (two one-shot SHA-256 calls each), the stamp and the replay window.',
      ],
    },
  ],
  data: { frames: data, gossipBody: bodyData },
})
