// contrib/distlab.lua shows a packed body (flags bit 3) as the JSON text JSON.stringify writes for
// its value, the same as for the JSON body of the same value, and a malformed packed body as
// malformed while the rest of the frame is still shown; its shape table is packed.ts's. Needs tshark.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32 } from 'node:zlib'
import { FrameGuard } from '../../src/core/auth.js'
import { createEnvelope } from '../../src/core/envelope.js'
import { FrameDecodeError } from '../../src/core/errors.js'
import { decodeFrame, encodeFrame } from '../../src/core/frame.js'
import { SHAPES } from '../../src/core/packed.js'
import { PcapWriter } from '../../src/monitor/pcap.js'
import { scratchDir } from '../helpers.js'

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..', '..')
const luaScript = join(repoRoot, 'contrib', 'distlab.lua')
const common = { srcIp: '127.0.2.1', dstIp: '127.0.2.2', srcPort: 40000, dstPort: 7000 }

const envelope = (body: unknown) =>
  createEnvelope({
    proto: 'membership',
    type: 'ping',
    src: 'node-a',
    dst: 'node-b',
    ts: 1764900000123,
    body,
  })

/** The frames in a pcap, dissected by tshark with the script: `-T fields` rows, or the `-V` text. */
function tshark(name: string, frames: Buffer[], fields?: string[]): string {
  const w = new PcapWriter()
  for (const payload of frames) w.add({ ts: Date.now(), protocol: 'udp', ...common, payload })
  const file = join(scratchDir(), name)
  writeFileSync(file, w.toBuffer())
  const out = fields ? ['-T', 'fields', ...fields.flatMap((f) => ['-e', f])] : ['-V']
  const t = spawnSync('tshark', ['-X', `lua_script:${luaScript}`, '-r', file, '-Y', 'distlab', ...out], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  assert.equal(t.status, 0, t.stderr)
  return t.stdout
}

function rowsOf(stdout: string, fields: string[]): Array<Record<string, string>> {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const cells = line.split('\t')
      return Object.fromEntries(fields.map((f, i) => [f.replace(/^distlab\./, ''), cells[i] ?? '']))
    })
}

const isSet = (v: string | undefined) => v === 'True' || v === '1'

function bodyRange(frame: Buffer): { start: number; end: number } {
  const start = 6 + frame.readUInt16BE(4) + 4
  return { start, end: start + frame.readUInt32BE(start - 4) }
}

/** `frame` with its body replaced by `body`, the body length and the CRC-32 fixed up: only the body is wrong. */
function withBody(frame: Buffer, body: Uint8Array): Buffer {
  const { start, end } = bodyRange(frame)
  const out = Buffer.concat([
    frame.subarray(0, start),
    body,
    frame.subarray(end, frame.length - 4),
    Buffer.alloc(4),
  ])
  out.writeUInt32BE(body.length, start - 4)
  out.writeUInt32BE(crc32(out.subarray(0, out.length - 4)), out.length - 4)
  return out
}

const bodyOf = (frame: Buffer) => Buffer.from(frame.subarray(bodyRange(frame).start, bodyRange(frame).end))
const double = (v: number) => {
  const b = Buffer.alloc(8)
  b.writeDoubleBE(v)
  return [...b]
}
const ascii = (s: string) => [...Buffer.from(s, 'latin1')]
/** Arrays nested `n` deep, the innermost empty, as packed bytes. */
const nested = (n: number) =>
  Buffer.from([
    ...Array<number[]>(n - 1)
      .fill([0x09, 1])
      .flat(),
    0x09,
    0,
  ])

const ping = {
  seq: 7,
  u: [
    {
      s: 'a',
      n: 'node3',
      u: 'http://127.0.2.3:5000',
      i: 'a-uuid',
      h: '127.0.2.3',
      p: 7000,
      g: 1764900000123,
      c: 2,
    },
  ],
}
const generic = {
  hello: 'wörld "q"\n',
  list: [1, 300, 70000, 5000000000, -3, 0.5, true, false, null],
  nested: { a: { b: [] } },
  empty: {},
  many: Array.from({ length: 300 }, (_, i) => i % 7),
}

test('the Wireshark dissector shows a packed body as the JSON text of its value', () => {
  const bodies: unknown[] = [
    ping,
    generic,
    // numbers as JavaScript writes them: the shortest digits, exponent form from 1e21 and below 1e-6
    [2.75, -2.75, 0.1, 0.1 + 0.2, 1764900000123.25, 1e21, 1.5e-7, 1e-6, 123.456, 2 ** 53 + 2, 5e-324],
    { 'ké y': 'tab\there \u0001 \\ "quoted" \u007f \u2028', emoji: '😀', '': '' },
    'a string alone',
    null,
  ]
  const frames: Buffer[] = []
  for (const body of bodies) {
    const packed = encodeFrame(envelope(body))
    const json = encodeFrame(envelope(body), { body: 'json' })
    assert.equal(packed[3]! & 0x08, 0x08, 'frames carry packed bodies by default')
    assert.equal(json[3]! & 0x08, 0, "body: 'json' sends JSON text")
    frames.push(packed, json)
  }
  // the generic and ping bodies between them use every tag of the format
  const packedBytes = Buffer.concat([bodyOf(frames[0]!), bodyOf(frames[2]!)])
  const uses = {
    'u8 1': [0x03, 1],
    'u16 300': [0x04, 0x01, 0x2c],
    'u32 70000': [0x05, 0x00, 0x01, 0x11, 0x70],
    'f64 5000000000': [0x06, ...double(5000000000)],
    'f64 -3': [0x06, ...double(-3)],
    'f64 0.5': [0x06, ...double(0.5)],
    'true, false, null': [0x02, 0x01, 0x00],
    'ASCII string': [0x07, 5, ...ascii('hello')],
    'UTF-8 string': [0x08, 0, 0, 0, Buffer.byteLength(generic.hello), ...Buffer.from(generic.hello)],
    array8: [0x09, 9],
    array32: [0x0a, 0, 0, 0x01, 0x2c],
    'object of 5': [0x0b, 0, 5],
    'empty object': [0x0b, 0, 0],
    'shape 0 (ping)': [0x0c, 0, 0x03, 7],
    'shape 1 (member)': [0x0c, 1, 0x07, 1, ...ascii('a')],
  }
  for (const [what, bytes] of Object.entries(uses))
    assert.ok(packedBytes.includes(Buffer.from(bytes)), `the packed bodies use ${what}`)

  const fields = ['distlab.flags.packed_body', 'distlab.type', 'distlab.body_json', 'distlab.body_error']
  const rows = rowsOf(tshark('packed.pcap', frames, fields), fields)
  assert.equal(rows.length, frames.length)
  rows.forEach((row, i) => {
    const body = bodies[i >> 1]
    const packed = i % 2 === 0
    const what = `${packed ? 'packed' : 'JSON'} body #${i >> 1}`
    assert.equal(isSet(row['flags.packed_body']), packed, `${what}: packed flag`)
    assert.equal(row.type, 'ping', what)
    assert.equal(row.body_error, '', what)
    assert.deepStrictEqual(JSON.parse(row.body_json!), body, what)
    assert.equal(row.body_json, JSON.stringify(body), `${what}: the text JSON.stringify writes`)
  })
})

test('the Wireshark dissector shows a malformed packed body as such, and the rest of the frame', () => {
  const frame = encodeFrame(envelope(ping))
  const body = bodyOf(frame)
  const edit = (fn: (b: Buffer) => void) => {
    const b = Buffer.from(body)
    fn(b)
    return withBody(frame, b)
  }
  const guard = new FrameGuard({ keyring: 'k7:dissector test key' })
  const sealed = guard.sealFrame(envelope(ping))
  const hostile: Array<[Buffer, RegExp]> = [
    [edit((b) => (b[0] = 0x7f)), /^unknown tag 0x7f at body byte 0$/],
    [
      edit((b) => (b[b.indexOf(Buffer.from([0x07, 5, ...ascii('node3')])) + 1] = 0xff)),
      /^a string runs past the body/,
    ],
    [edit((b) => (b[1] = 200)), /^unknown shape 200 at body byte 1$/],
    [withBody(frame, nested(65)), /^the body nests deeper than 64 at body byte 128$/],
    [withBody(frame, Buffer.concat([body, Buffer.from([0])])), /^1 bytes after the value/],
    [withBody(frame, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0])), /^an array of 4294967295 items/],
    [withBody(frame, Buffer.alloc(0)), /^a value runs past the body/],
    [withBody(sealed, Buffer.from([0x7f])), /^unknown tag 0x7f/],
  ]
  for (const [f] of hostile)
    assert.throws(
      () => decodeFrame(f),
      (err: unknown) => err instanceof FrameDecodeError && !/CRC/.test(err.message),
      'only the body is wrong',
    )
  // arrays nested exactly as deep as the decoder allows are fine
  const deepest = withBody(frame, nested(64))
  const frames = [...hostile.map(([f]) => f), deepest]

  const fields = [
    'distlab.proto',
    'distlab.type',
    'distlab.flags.packed_body',
    'distlab.body_json',
    'distlab.body_error',
    'distlab.auth.key_id',
    'distlab.crc',
  ]
  const rows = rowsOf(tshark('hostile.pcap', frames, fields), fields)
  assert.equal(rows.length, frames.length)
  hostile.forEach(([f, why], i) => {
    const row = rows[i]!
    assert.equal(row.proto, 'membership', `#${i}`)
    assert.equal(row.type, 'ping', `#${i}`)
    assert.ok(isSet(row['flags.packed_body']), `#${i}`)
    assert.equal(row.body_json, '', `#${i}`)
    assert.match(row.body_error!, why, `#${i}`)
    assert.equal(Number(row.crc), f.readUInt32BE(f.length - 4), `#${i}: the CRC is still shown`)
    assert.equal(
      row['auth.key_id'],
      f === hostile.at(-1)![0] ? 'k7' : '',
      `#${i}: the auth trailer is still shown`,
    )
  })
  assert.equal(rows.at(-1)!.body_json, JSON.stringify(decodeFrame(deepest).body))
  assert.equal(rows.at(-1)!.body_error, '')

  // what a user sees in the packet details
  const details = tshark('hostile.pcap', frames)
  assert.match(details, /Packed body: True/)
  assert.match(details, /Body \(packed, malformed\): unknown tag 0x7f at body byte 0\n/)
  const experts = details.match(/\[Expert Info \(Error\/Malformed\): Malformed packed body: /g) ?? []
  assert.equal(experts.length, hostile.length, details)
  assert.match(details, /HMAC-SHA256: [0-9a-f]{64}/)
})

test("the dissector's shape table is SHAPES of src/core/packed.ts", () => {
  const lua = readFileSync(luaScript, 'utf8')
  const table = /^local PACKED_SHAPES = \{\n([\s\S]*?)\n\}$/m.exec(lua)?.[1]
  assert.ok(table, 'contrib/distlab.lua has a PACKED_SHAPES table')
  const lines = table.split('\n').filter((l) => l.trim())
  const shapes = lines.map((line) => {
    const m = /^ {2}\[(\d+)\] = \{ ((?:"[^"]*", )*"[^"]*") \},$/.exec(line)
    assert.ok(m, `a shape line: ${line}`)
    return [Number(m[1]), [...m[2]!.matchAll(/"([^"]*)"/g)].map((k) => k[1])]
  })
  assert.deepEqual(
    shapes,
    SHAPES.map((s, id) => [id, [...s.keys]]),
  )
})
