// Seed 001, "A Bite of Distributed Communication": the student's anycast TCP server scaled to three
// replicas on port 5000 (each on its own loopback address), answered `Hello from ...` to distlab's
// client and theirs, surviving a replica's death for a retrying client; and their IP multicast
// sender and receiver on 224.1.1.1:5007, checked against distlab's receiver and sender inside a
// network namespace of the check's own.
import { connect } from 'node:net'
import { isDeepStrictEqual } from 'node:util'
import { BIN_PATH } from '../cluster/role-process.js'
import { InvalidArgumentError } from '../core/errors.js'
import { GREETING } from '../protocols/anycast/wire.js'
import { SEED_JSON_PAYLOAD } from '../protocols/multicast/wire.js'
import { ProcessLauncher, type Instance } from './instances.js'
import { MulticastNamespace } from './netns.js'
import { fail, pass, type ItemOutcome, type RubricItem, type SeedRubric } from './rubric.js'

export const ANYCAST_PORT = 5000
export const REPLICAS = 3
const MAX_ANSWER_BYTES = 64 * 1024

export interface Seed001Options {
  /** The anycast server's command (placeholders {host}, {port}). */
  server?: string
  /** The anycast client's command ({peers}: the replicas as host:port,...; {host}/{port}: one). */
  client?: string
  /** The multicast sender's command. */
  sender?: string
  /** The multicast receiver's command. */
  receiver?: string
  block?: number
  cwd?: string
  port?: number
  /** Requests the retrying client sends after a replica is killed. @default 30 */
  requests?: number
}

export interface Seed001Context {
  o: Seed001Options
  launchers: ProcessLauncher[]
  servers: Instance[]
}

/** How long a request waits for a greeting before it says hello itself, in milliseconds. */
const GREETING_WAIT_MS = 200

/** One anycast request: connect, say hello unless greeted first, read until the server closes (bounded). */
export function anycastRequest(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    const chunks: Buffer[] = []
    let size = 0
    let askTimer: ReturnType<typeof setTimeout> | undefined
    const finish = (err?: Error) => {
      clearTimeout(timer)
      clearTimeout(askTimer)
      socket.destroy()
      if (err) reject(err)
      else resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const timer = setTimeout(() => {
      if (size > 0) finish()
      else finish(new Error(`${host}:${port} sent nothing within ${timeoutMs} ms`))
    }, timeoutMs)
    // A server that greets on connect and closes without reading would answer a request sent at
    // once with a reset (unread data at close), which can beat its greeting to us; so ask only
    // when nothing came within GREETING_WAIT_MS (a server that waits for a request).
    socket.on('connect', () => {
      askTimer = setTimeout(() => {
        if (size === 0) socket.write('hello\n')
      }, GREETING_WAIT_MS)
    })
    socket.on('data', (c) => {
      size += c.length
      if (size > MAX_ANSWER_BYTES) return finish(new Error('answer too large'))
      chunks.push(c)
      // a server that keeps the connection open after its greeting has answered all the same
      if (/Hello from/.test(Buffer.concat(chunks).toString('utf8'))) setTimeout(() => finish(), 100)
    })
    socket.on('error', (err) => finish(err))
    socket.on('close', () => finish())
  })
}

function needServers(ctx: Seed001Context): Instance[] {
  if (!ctx.servers.length)
    throw new InvalidArgumentError('this item needs your server: give --server', '--server')
  return ctx.servers
}

async function checkHello(ctx: Seed001Context): Promise<ItemOutcome> {
  const evidence: string[] = []
  let ok = true
  for (const s of needServers(ctx)) {
    try {
      const text = await anycastRequest(s.host, s.port)
      const line = text.split('\n').find((l) => /Hello from/.test(l))
      evidence.push(`connect ${s.host}:${s.port} → ${JSON.stringify(text.slice(0, 80))}`)
      if (!line || !line.trim().startsWith('Hello from')) {
        ok = false
        evidence.push(`expected "${GREETING}" (or "Hello from <name>")`)
      }
    } catch (err) {
      ok = false
      evidence.push(`connect ${s.host}:${s.port} → ${(err as Error).message}`, ...s.process.tail(3))
    }
  }
  return {
    passed: ok,
    evidence: [`${ctx.servers.length} replicas on port ${ctx.servers[0]!.port}`, ...evidence],
  }
}

async function checkTheirClient(ctx: Seed001Context): Promise<ItemOutcome> {
  if (!ctx.o.client) throw new InvalidArgumentError('this item needs your client: give --client', '--client')
  const servers = needServers(ctx)
  const launcher = new ProcessLauncher({ block: ctx.o.block, cwd: ctx.o.cwd })
  ctx.launchers.push(launcher)
  const target = servers[Math.floor(Math.random() * servers.length)]!
  const client = launcher.start({
    name: 'client',
    index: 10,
    host: target.host,
    port: target.port,
    command: ctx.o.client,
    peers: servers.map((s) => `${s.host}:${s.port}`).join(','),
  })
  try {
    const line = await client.process.waitForLine(/Received: Hello from/, 15_000)
    return pass(`ran \`${client.process.command}\``, `client| ${line}`)
  } catch (err) {
    return fail(`ran \`${client.process.command}\``, (err as Error).message, ...client.process.tail(5))
  } finally {
    await launcher.stopAll()
  }
}

async function checkFailover(ctx: Seed001Context): Promise<ItemOutcome> {
  const servers = needServers(ctx)
  const victim = servers[0]!
  victim.process.signal('SIGKILL')
  await victim.process.exited
  const requests = ctx.o.requests ?? 30
  let answered = 0
  let retried = 0
  const lost: string[] = []
  for (let i = 0; i < requests; i++) {
    // a retrying client: a random replica first, then the others in turn
    const start = Math.floor(Math.random() * servers.length)
    let done = false
    for (let k = 0; k < servers.length && !done; k++) {
      const s = servers[(start + k) % servers.length]!
      try {
        const text = await anycastRequest(s.host, s.port, 3000)
        if (/Hello from/.test(text)) done = true
      } catch {
        // try the next replica
      }
      if (!done) retried++
    }
    if (done) answered++
    else if (lost.length < 3) lost.push(`request ${i + 1}: no replica answered`)
  }
  const evidence = [
    `killed ${victim.name} (${victim.host}:${victim.port}, SIGKILL)`,
    `${answered}/${requests} requests answered "Hello from ..." by the ${servers.length - 1} others; ${retried} retries`,
  ]
  return answered === requests ? pass(...evidence) : fail(...evidence, ...lost)
}

interface Received {
  kind: 'json' | 'binary'
  json?: unknown
  from: string
  bytes: number
}

async function withNamespace<T>(
  ctx: Seed001Context,
  body: (ns: MulticastNamespace, l: ProcessLauncher) => Promise<T>,
): Promise<T> {
  const ns = new MulticastNamespace()
  await ns.create()
  const launcher = new ProcessLauncher({ cwd: ctx.o.cwd })
  ctx.launchers.push(launcher)
  try {
    return await body(ns, launcher)
  } finally {
    await launcher.stopAll()
    await ns.remove()
  }
}

const distlabCli = (args: string) => `"${process.execPath}" "${BIN_PATH}" ${args}`

async function checkSender(ctx: Seed001Context): Promise<ItemOutcome> {
  if (!ctx.o.sender) throw new InvalidArgumentError('this item needs your sender: give --sender', '--sender')
  return withNamespace(ctx, async (ns, launcher) => {
    const receiver = launcher.start({
      name: 'distlab-receiver',
      index: 1,
      host: '127.0.0.1',
      port: 5007,
      command: distlabCli('multicast recv --json'),
      wrap: ns.wrap,
    })
    await receiver.process.waitForLine(/^Joined multicast group/, 15_000)
    const sender = launcher.start({
      name: 'sender',
      index: 2,
      host: '127.0.0.1',
      port: 5007,
      command: ctx.o.sender!,
      wrap: ns.wrap,
    })
    // the sender may send once and exit, or keep sending: give it a moment either way
    await sender.process
      .waitUntil(
        () => (sender.process.running ? undefined : true),
        4000,
        () => '',
      )
      .catch(() => undefined)
    await sender.process.stop()
    receiver.process.signal('SIGINT')
    await receiver.process.waitForLine(/^Leaving multicast group/, 5000).catch(() => undefined)
    await receiver.process.exited
    const text = receiver.process.lines
      .filter((l) => l.stream === 'stdout')
      .map((l) => l.text)
      .join('\n')
    let received: Received[]
    try {
      received = (JSON.parse(text) as { received: Received[] }).received ?? []
    } catch {
      return fail("distlab's receiver did not report", ...receiver.process.tail(4))
    }
    const want = JSON.parse(SEED_JSON_PAYLOAD) as unknown
    const json = received.filter((r) => r.kind === 'json')
    const binary = received.filter((r) => r.kind === 'binary')
    const evidence = [
      `ran \`${ctx.o.sender}\` in network namespace ${ns.name} beside distlab's receiver on 224.1.1.1:5007`,
      `distlab's receiver got ${json.length} JSON and ${binary.length} binary datagrams`,
      ...json.slice(0, 2).map((r) => `JSON from ${r.from}: ${JSON.stringify(r.json)}`),
      ...binary.slice(0, 1).map((r) => `binary from ${r.from}: ${r.bytes} bytes`),
      ...sender.process.tail(3),
    ]
    const problems: string[] = []
    if (!json.some((r) => isDeepStrictEqual(r.json, want)))
      problems.push(`no JSON datagram equal to ${SEED_JSON_PAYLOAD}`)
    if (binary.length === 0) problems.push('no binary datagram')
    if (!sender.process.text().some((l) => l.startsWith('Sent JSON: ')))
      problems.push('the sender never printed "Sent JSON: ..."')
    if (!sender.process.text().some((l) => /^Sent binary blob/.test(l)))
      problems.push('the sender never printed "Sent binary blob"')
    return problems.length ? fail(...problems, ...evidence) : pass(...evidence)
  })
}

async function checkReceiver(ctx: Seed001Context): Promise<ItemOutcome> {
  if (!ctx.o.receiver)
    throw new InvalidArgumentError('this item needs your receiver: give --receiver', '--receiver')
  return withNamespace(ctx, async (ns, launcher) => {
    const receivers = [1, 2].map((i) =>
      launcher.start({
        name: `receiver${i}`,
        index: i,
        host: '127.0.0.1',
        port: 5007,
        command: ctx.o.receiver!,
        wrap: ns.wrap,
      }),
    )
    const evidence = [`ran two \`${ctx.o.receiver}\` in network namespace ${ns.name}`]
    const problems: string[] = []
    for (const r of receivers) {
      try {
        evidence.push(
          `${r.name}| ${await r.process.waitForLine(/Joined multicast group 224\.1\.1\.1:5007/, 15_000)}`,
        )
      } catch {
        problems.push(`${r.name} never printed "Joined multicast group 224.1.1.1:5007"`)
      }
    }
    // joined sockets are ready by the time the line is printed, but give the kernel a moment
    await new Promise((r) => setTimeout(r, 300))
    const sender = launcher.start({
      name: 'distlab-sender',
      index: 3,
      host: '127.0.0.1',
      port: 5007,
      command: distlabCli('multicast send --count 3 --interval 300'),
      wrap: ns.wrap,
    })
    await sender.process.exited
    for (const r of receivers) {
      try {
        const line = await r.process.waitForLine(/Received from .*"sensor"/, 5000)
        evidence.push(`${r.name}| ${line}`)
      } catch {
        problems.push(`${r.name} never printed "Received from (...): ${SEED_JSON_PAYLOAD}"`)
      }
      const from = r.process.lines.length
      r.process.signal('SIGINT')
      try {
        evidence.push(`${r.name}| ${await r.process.waitForLine(/Leaving multicast group/, 5000, from)}`)
      } catch {
        problems.push(
          `${r.name} did not print "Leaving multicast group" when interrupted (Ctrl-C)`,
          ...r.process.tail(2),
        )
      }
    }
    return problems.length ? fail(...problems, ...evidence) : pass(...evidence)
  })
}

export const SEED001_ITEMS: ReadonlyArray<RubricItem<Seed001Context>> = [
  {
    id: 'anycast-hello',
    title: 'three replicas of the server on port 5000 each answer distlab\'s client "Hello from ..."',
    required: true,
    check: checkHello,
  },
  {
    id: 'anycast-client',
    title: 'your client reaches a replica and prints "Received: Hello from ..."',
    required: true,
    check: checkTheirClient,
  },
  {
    id: 'anycast-failover',
    title: 'with a replica killed, a retrying client loses no request',
    required: true,
    check: checkFailover,
  },
  {
    id: 'multicast-sender',
    title: `your sender's JSON ${SEED_JSON_PAYLOAD} and binary datagrams reach distlab's receiver on 224.1.1.1:5007`,
    required: true,
    check: checkSender,
  },
  {
    id: 'multicast-receiver',
    title:
      'your receivers print "Joined multicast group", "Received from (...)" for distlab\'s sender, and "Leaving multicast group"',
    required: true,
    check: checkReceiver,
  },
]

/** Which items run for the programs given. */
export function seed001ItemsFor(o: Seed001Options): string[] {
  const ids: string[] = []
  if (o.server) ids.push('anycast-hello', ...(o.client ? ['anycast-client'] : []), 'anycast-failover')
  if (o.sender) ids.push('multicast-sender')
  if (o.receiver) ids.push('multicast-receiver')
  return ids
}

export const SEED001: SeedRubric<Seed001Options, Seed001Context> = {
  seed: 'seed001',
  title: 'A Bite of Distributed Communication: anycast over TCP, multicast over UDP',
  items: SEED001_ITEMS,
  async setup(o) {
    const launcher = new ProcessLauncher({ block: o.block, cwd: o.cwd })
    const servers: Instance[] = []
    if (o.server) {
      try {
        for (let i = 1; i <= REPLICAS; i++)
          servers.push(
            launcher.start({ name: `server${i}`, index: i, port: o.port ?? ANYCAST_PORT, command: o.server }),
          )
        for (const s of servers) await waitTcp(s)
      } catch (err) {
        await launcher.stopAll()
        throw err
      }
    }
    return { o, launchers: [launcher], servers }
  },
  async teardown(ctx) {
    await Promise.all(ctx.launchers.map((l) => l.stopAll()))
  },
}

/** Waits until the replica answers a request (a connect alone would leave it a broken pipe). */
async function waitTcp(s: Instance, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await anycastRequest(s.host, s.port, 3000).then(
      () => true,
      () => false,
    )
    if (ok) return
    if (!s.process.running || Date.now() > deadline)
      throw new Error(`${s.name} does not answer on ${s.host}:${s.port}: ${s.process.tail(3).join(' | ')}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}
