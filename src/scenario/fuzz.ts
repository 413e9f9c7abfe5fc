// A bounded fuzzer for live sockets: random bytes and mutations of valid inputs (bit flips, byte
// overwrites, boundary values in length fields, truncation, splicing: the mutations AFL applies)
// thrown at a node's UDP and TCP frame ports, its HTTP API, and the course programs' own sockets.
// Every run is bounded in inputs and time and seeded, so a failure can be replayed.
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { encodeFrame, lengthPrefixed } from '../core/frame.js'
import { createEnvelope } from '../core/envelope.js'
import { checkInteger } from '../core/options.js'
import { seededRandom } from '../core/random.js'

const int = (rand: () => number, n: number) => Math.floor(rand() * n)

export function randomBytes(rand: () => number, maxLength: number): Buffer {
  const b = Buffer.allocUnsafe(int(rand, maxLength + 1))
  for (let i = 0; i < b.length; i++) b[i] = int(rand, 256)
  return b
}

const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff]

/** One to four mutations of `input`: the result may be empty, longer or shorter. */
export function mutate(input: Uint8Array, rand: () => number): Buffer {
  let b = Buffer.from(input)
  const rounds = 1 + int(rand, 4)
  for (let r = 0; r < rounds; r++) {
    const at = b.length ? int(rand, b.length) : 0
    switch (int(rand, 8)) {
      case 0: // flip a bit
        if (b.length) b[at] = b[at]! ^ (1 << int(rand, 8))
        break
      case 1: // a random byte
        if (b.length) b[at] = int(rand, 256)
        break
      case 2: // a boundary value where a length or counter may sit
        if (b.length >= 4) {
          const v = INTERESTING_32[int(rand, INTERESTING_32.length)]!
          b.writeUInt32BE(v >>> 0, Math.min(at, b.length - 4))
        }
        break
      case 3: // truncate
        b = b.subarray(0, at)
        break
      case 4: // append random bytes
        b = Buffer.concat([b, randomBytes(rand, 64)])
        break
      case 5: // duplicate a slice
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + int(rand, 32)), b.subarray(at)])
        break
      case 6: // delete a slice
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(rand, 16))])
        break
      default: // a 16-bit boundary value
        if (b.length >= 2) b.writeUInt16BE([0, 1, 0x7fff, 0xffff][int(rand, 4)]!, Math.min(at, b.length - 2))
    }
  }
  return b
}

/** Random JSON, sometimes deep, sometimes with huge or odd values. */
export function randomJson(rand: () => number, depth = 3): unknown {
  switch (int(rand, depth > 0 ? 9 : 6)) {
    case 0:
      return null
    case 1:
      return rand() < 0.5
    case 2:
      return [0, -1, 1e308, -0, 2 ** 53, 0.5, 65_536, 4_294_967_296][int(rand, 8)]
    case 3:
      return randomBytes(rand, 24).toString('latin1')
    case 4:
      return ['', 'node1', 'master', '*', '__proto__', 'constructor', 'x'.repeat(5000)][int(rand, 7)]
    case 5:
      return int(rand, 100)
    case 6:
      return Array.from({ length: int(rand, 5) }, () => randomJson(rand, depth - 1))
    default: {
      const o: Record<string, unknown> = {}
      const keys = [
        'sender',
        'msg',
        'to',
        'url',
        'peer',
        'groups',
        'loss',
        'delayMs',
        'peer',
        'body',
        'id',
        'x',
      ]
      for (let i = int(rand, 5); i > 0; i--) o[keys[int(rand, keys.length)]!] = randomJson(rand, depth - 1)
      return o
    }
  }
}

export interface FuzzSample {
  bytes: Buffer
}

/** Valid distlab frames to mutate: one per protocol and message type, addressed to `dst`. */
export function frameSamples(dst: string, protos: string[], rand: () => number): Buffer[] {
  const types = ['data', 'ack', 'ping', 'pong', 'gossip', 'msg', 'ihave', 'graft', 'prune', 'beat', 'pp']
  const out: Buffer[] = []
  for (const proto of protos)
    for (const type of types)
      out.push(
        encodeFrame(
          createEnvelope({ proto, type, src: `node${1 + int(rand, 9)}`, dst, body: randomJson(rand, 2) }),
        ),
      )
  return out
}

export type FuzzTarget =
  | { kind: 'udp'; name: string; host: string; port: number; samples?: Buffer[] }
  | { kind: 'tcp-frames'; name: string; host: string; port: number; samples?: Buffer[] }
  | { kind: 'tcp-lines'; name: string; host: string; port: number }
  | {
      kind: 'http'
      name: string
      host: string
      port: number
      /** Routes whose bodies are fuzzed; each with valid bodies to mutate. */
      routes: Array<{ method: 'POST' | 'PUT'; path: string; samples: unknown[] }>
      headers?: Record<string, string>
    }

export interface FuzzResult {
  target: string
  kind: FuzzTarget['kind']
  /** Inputs thrown at the socket. */
  inputs: number
  /** HTTP answers by status class (http targets). */
  statuses?: Record<string, number>
  /** Connections the target closed or reset on us (a refusal, not a failure). */
  resets: number
  /** The first few requests that hit an internal error (500; 502-504 are honest answers), to replay them. */
  internalErrors?: number
  serverErrors?: Array<{ method: string; path: string; body: string; status: number; answer: string }>
}

export interface FuzzInit {
  /** Inputs per target. @default 200 */
  inputs?: number
  /** @default 1 */
  seed?: number
  /** Address fuzz traffic comes from (a loopback address of the caller's block). @default OS's choice */
  fromHost?: string
  /** Time allowed for one target, in ms. @default 30 s */
  timeoutMs?: number
}

export async function fuzzTarget(target: FuzzTarget, init: FuzzInit = {}): Promise<FuzzResult> {
  const run = new FuzzRun(target, init)
  if (target.kind === 'udp') await fuzzUdp(run, target)
  else if (target.kind === 'tcp-frames' || target.kind === 'tcp-lines') await fuzzTcp(run, target)
  else await fuzzHttp(run, target)
  return run.result
}

/** One target's run: its seeded generator, its bounds in inputs and time, and what came back. */
class FuzzRun {
  readonly inputs: number
  readonly rand: () => number
  readonly deadline: number
  readonly fromHost: string | undefined
  readonly result: FuzzResult

  constructor(target: FuzzTarget, init: FuzzInit) {
    this.inputs = checkInteger('inputs', init.inputs ?? 200, 1, 1_000_000)
    this.rand = seededRandom(init.seed ?? 1)
    this.deadline = Date.now() + (init.timeoutMs ?? 30_000)
    this.fromHost = init.fromHost
    this.result = { target: target.name, kind: target.kind, inputs: 0, resets: 0 }
  }

  /** Whether the run may send another input. */
  more(): boolean {
    return this.result.inputs < this.inputs && Date.now() < this.deadline
  }
  pick<T>(xs: T[]): T {
    return xs[int(this.rand, xs.length)]!
  }
  /** Mostly a mutated sample (when there are samples), else random bytes. */
  sampleOrRandom(samples: Buffer[] | undefined, max: number): Buffer {
    return samples?.length && this.rand() < 0.7
      ? mutate(this.pick(samples), this.rand)
      : randomBytes(this.rand, max)
  }
}

type TargetOf<K extends FuzzTarget['kind']> = Extract<FuzzTarget, { kind: K }>

async function fuzzUdp(run: FuzzRun, target: TargetOf<'udp'>): Promise<void> {
  const socket = createSocket(target.host.includes(':') ? 'udp6' : 'udp4')
  socket.on('error', () => {})
  await new Promise<void>((r) => socket.bind(0, run.fromHost, () => r()))
  for (let i = 0; run.more(); i++) {
    const b = run.sampleOrRandom(target.samples, 1400)
    await new Promise<void>((r) => socket.send(b, target.port, target.host, () => r()))
    run.result.inputs++
    // Pace the burst so that the kernel's receive buffer does not drop what we mean to count.
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5))
  }
  await new Promise<void>((r) => socket.close(() => r()))
}

/** Connections of one to ten inputs each; a connection the target resets is counted. */
async function fuzzTcp(run: FuzzRun, target: TargetOf<'tcp-frames'> | TargetOf<'tcp-lines'>): Promise<void> {
  const { result, rand } = run
  while (run.more()) {
    const perConnection = 1 + int(rand, 10)
    const chunks: Buffer[] = []
    for (let j = 0; j < perConnection && result.inputs < run.inputs; j++, result.inputs++) {
      chunks.push(
        target.kind === 'tcp-frames'
          ? frameInput(run, target.samples)
          : Buffer.from(lineInput(rand), 'latin1'),
      )
    }
    if (await sendConnection(target.host, target.port, run.fromHost, chunks)) result.resets++
  }
}

/** A length-prefixed frame (mutated or random), raw random bytes, or a frame mutated around its prefix. */
function frameInput(run: FuzzRun, samples: Buffer[] | undefined): Buffer {
  const { rand } = run
  const r = rand()
  if (r < 0.5) return lengthPrefixed(run.sampleOrRandom(samples, 512))
  if (r < 0.8) return randomBytes(rand, 512)
  return mutate(lengthPrefixed(samples?.length ? run.pick(samples) : randomBytes(rand, 64)), rand)
}

/** Writes `chunks` on one connection and closes it; true if the target reset it. */
function sendConnection(
  host: string,
  port: number,
  fromHost: string | undefined,
  chunks: Buffer[],
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect({ host, port, localAddress: fromHost })
    let wasReset = false
    const timer = setTimeout(() => s.destroy(), 2000)
    s.on('error', () => (wasReset = true))
    s.on('data', () => {})
    s.on('close', () => {
      clearTimeout(timer)
      resolve(wasReset)
    })
    s.on('connect', () => {
      for (const c of chunks) s.write(c)
      s.end()
    })
  })
}

type HttpRoute = TargetOf<'http'>['routes'][number]

/** A body for `route`: a valid one with one field replaced, random JSON, a mutated one, or bytes. */
function httpBody(run: FuzzRun, route: HttpRoute): string {
  const { rand } = run
  const r = rand()
  if (r < 0.35 && route.samples.length) {
    const base = structuredClone(run.pick(route.samples)) as Record<string, unknown>
    const keys = Object.keys(base)
    if (keys.length) base[run.pick(keys)] = randomJson(rand, 2)
    return JSON.stringify(base)
  }
  if (r < 0.6) return JSON.stringify(randomJson(rand, 3))
  if (r < 0.85 && route.samples.length)
    return mutate(Buffer.from(JSON.stringify(run.pick(route.samples))), rand).toString('latin1')
  return randomBytes(rand, 256).toString('latin1')
}

async function fuzzHttp(run: FuzzRun, target: TargetOf<'http'>): Promise<void> {
  const { result, rand } = run
  const statuses: Record<string, number> = (result.statuses = {})
  while (run.more()) {
    const route = run.pick(target.routes)
    const body = httpBody(run, route)
    const contentType =
      rand() < 0.9 ? 'application/json' : run.pick(['text/plain', 'application/x-www-form-urlencoded', ''])
    let cls = 'error'
    try {
      // Own fetch, not NodeClient: the fuzzer sends hostile requests on purpose and reads the raw answer.
      const res = await fetch(`http://${target.host}:${target.port}${route.path}`, {
        method: route.method,
        headers: { ...(contentType ? { 'content-type': contentType } : {}), ...target.headers },
        body,
        signal: AbortSignal.timeout(5000),
      })
      const answer = await res.text()
      if (res.status === 500 || res.status > 504) result.internalErrors = (result.internalErrors ?? 0) + 1
      cls = `${Math.floor(res.status / 100)}xx`
      if ((res.status === 500 || res.status > 504) && (result.serverErrors ??= []).length < 5)
        result.serverErrors.push({ method: route.method, path: route.path, body, status: res.status, answer })
    } catch {
      result.resets++
    }
    statuses[cls] = (statuses[cls] ?? 0) + 1
    result.inputs++
  }
}

/** One input for the course's line protocol: commands, broken commands, binary, long lines. */
function lineInput(rand: () => number): string {
  switch (int(rand, 8)) {
    case 0:
      return 'SENDLINE\n'
    case 1:
      return `SUBMIT\n${randomBytes(rand, 8).toString('hex')}\n${[0, 1, -1, 99999, 'x'][int(rand, 5)]}\n`
    case 2:
      return `${int(rand, 2000) - 500}\n${randomBytes(rand, 40).toString('latin1')}\n`
    case 3:
      return 'SESSION RESET\n'
    case 4:
      return 'x'.repeat(int(rand, 100_000))
    case 5:
      return randomBytes(rand, 300).toString('latin1')
    case 6:
      return ['SENDLINE', 'SUBMIT', 'SESSION', '\r\n', '\n\n\n', '\0'][int(rand, 6)]!
    default:
      return mutate(Buffer.from('SUBMIT\nabc\n1\n0\nline\n'), rand).toString('latin1')
  }
}

/** The HTTP routes of a node whose bodies are fuzzed, each with a valid body to start from. */
export function nodeRoutes(
  peer: string,
): Array<{ method: 'POST' | 'PUT'; path: string; samples: unknown[] }> {
  return [
    { method: 'POST', path: '/message', samples: [{ sender: 'Node1', msg: 'Hello Node2!' }] },
    {
      method: 'PUT',
      path: '/link',
      samples: [
        { peer, loss: 0.1 },
        { delayMs: 5, jitterMs: 1 },
      ],
    },
    { method: 'POST', path: '/partition', samples: [{ groups: [['node1'], ['node2']] }] },
    { method: 'POST', path: '/heal', samples: [{}] },
    { method: 'POST', path: '/ping', samples: [{ to: peer, timeoutMs: 200 }] },
    { method: 'POST', path: '/unicast', samples: [{ to: peer, msg: 'hi', timeoutMs: 500 }] },
    { method: 'POST', path: '/broadcast', samples: [{ msg: 'hi' }, { msg: { a: 1 }, strategy: 'flood' }] },
    { method: 'POST', path: '/p2p/broadcast', samples: [{ msg: 'hi' }] },
    // Literal addresses only: a host name would make the guard ask DNS, and tests stay on loopback.
    {
      method: 'POST',
      path: '/register',
      samples: [
        { url: 'http://169.254.169.254:80' },
        { peer: 'http://10.0.0.1:5000' },
        { url: 'gopher://127.0.0.1:25' },
        { url: 'http://user:pw@127.0.0.1:5000' },
      ],
    },
    { method: 'POST', path: '/groups/join', samples: [{ group: 'g1' }] },
    { method: 'POST', path: '/multicast', samples: [{ group: 'g1', msg: 'x', timeoutMs: 300 }] },
  ]
}

export interface FuzzNode {
  name: string
  host: string
  httpPort: number
  framePort: number
}

/** Every listening socket of a distlab node: UDP frames, TCP frames and the HTTP API. */
export function nodeTargets(
  n: FuzzNode,
  o: { peer: string; protos?: string[]; seed?: number; headers?: Record<string, string> },
): FuzzTarget[] {
  const rand = seededRandom(o.seed ?? 7)
  const protos = o.protos ?? ['ping', 'heartbeat', 'unicast', 'broadcast', 'membership', 'multicast']
  const samples = frameSamples(n.name, protos, rand)
  return [
    { kind: 'udp', name: `${n.name} udp frames`, host: n.host, port: n.framePort, samples },
    { kind: 'tcp-frames', name: `${n.name} tcp frames`, host: n.host, port: n.framePort, samples },
    {
      kind: 'http',
      name: `${n.name} http api`,
      host: n.host,
      port: n.httpPort,
      routes: nodeRoutes(o.peer),
      headers: o.headers,
    },
  ]
}

/** Sum of a Prometheus counter over the label sets that match. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').at(-1))
  }
  return sum
}

export async function scrapeMetrics(host: string, port: number): Promise<string> {
  // Own fetch, not NodeClient: the fuzzer sends hostile requests on purpose and reads the raw answer.
  const get = () => fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(5000) })
  // Once more on a socket error: a pooled keep-alive connection may belong to a node since stopped.
  const res = await get().catch(() => get())
  return res.text()
}
