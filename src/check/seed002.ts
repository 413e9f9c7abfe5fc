// Seed 002, "A Try of Peer-to-Peer": Flask nodes with a UUID, a bootstrap registry, /register,
// /peers and /message, and discovery that goes on without the bootstrap. Each row below is one
// promise of the handout, checked against the student's running node.py and bootstrap.py (the
// probes of one node, in seed002-probes.ts).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster, type ForeignInstance } from '../foreign/index.js'
import { boundedWait } from '../foreign/bounded.js'
import { InvalidArgumentError } from '../core/errors.js'
import { httpCall, waitListening } from './http.js'
import { ProcessLauncher } from './instances.js'
import { ClusterProgram, LateContainer } from './docker-members.js'
import { poll } from './process.js'
import { tcpTaken } from './ports.js'
import { fail, pass, type ItemOutcome, type RubricItem, type SeedRubric } from './rubric.js'
import { UUID, listsAll, peersOf, sameNode, sendAndSeeLogged, type Instance } from './seed002-probes.js'

export const SEED002_PORT = 5000

export interface Seed002Options {
  /** The node's command, e.g. `python3 node.py --host {host} --port {port} --bootstrap {bootstrap}`. */
  node: string
  /** The bootstrap's command. */
  bootstrap: string
  /** @default 4 */
  nodes?: number
  env?: Record<string, string>
  bootstrapEnv?: Record<string, string>
  /** Loopback block of the addresses. @default 0 */
  block?: number
  cwd?: string
  /** The port every program listens on. @default 5000 */
  port?: number
  /** How long a program gets to answer HTTP after it starts. @default 20 s */
  startTimeoutMs?: number
  /** How long discovery (registration, peer lists) gets to settle. @default 30 s */
  discoveryTimeoutMs?: number
  /** 'docker': the images below as containers on `network` (distlab run's docker mode). @default 'process' */
  mode?: 'process' | 'docker'
  /** Docker mode: the node's image (the node command, if given, overrides its own). */
  nodeImage?: string
  /** Docker mode: the bootstrap's image. */
  bootstrapImage?: string
  /** Docker mode: the network. @default 'Proj1-distributed-network' */
  network?: string
  /** Called with a line about each slow step (the lossy item's cluster start and stop). */
  onProgress?: (line: string) => void
}

export type { Instance } from './seed002-probes.js'

export interface Seed002Context {
  o: Required<
    Omit<
      Seed002Options,
      'env' | 'bootstrapEnv' | 'cwd' | 'mode' | 'nodeImage' | 'bootstrapImage' | 'network' | 'onProgress'
    >
  > &
    Seed002Options
  /** Process mode. */
  launcher?: ProcessLauncher
  /** Docker mode: the containers, through distlab run's docker mode (relays on, for the lossy item). */
  cluster?: ForeignCluster
  /** Docker mode: the node started after the bootstrap was killed. */
  late?: LateContainer
  stateDir?: string
  bootstrap: Instance
  nodes: Instance[]
  /** A token that makes this run's messages unique in the logs. */
  token: string
}

async function checkRoot(ctx: Seed002Context): Promise<ItemOutcome> {
  const evidence: string[] = []
  const ids = new Map<string, string>()
  let ok = true
  for (const n of ctx.nodes) {
    const a = await httpCall('GET', `${n.url}/`)
    const message = (a.json as { message?: unknown } | undefined)?.message
    const m = typeof message === 'string' ? /^Node (.+) is running!$/.exec(message) : null
    if (a.status !== 200 || !m) {
      ok = false
      evidence.push(a.evidence, `expected 200 {"message": "Node <UUID> is running!"}`)
    } else if (!UUID.test(m[1]!)) {
      ok = false
      evidence.push(a.evidence, `"${m[1]}" is not a UUID`)
    } else if (ids.has(m[1]!.toLowerCase())) {
      ok = false
      evidence.push(a.evidence, `${n.name} has the same UUID as ${ids.get(m[1]!.toLowerCase())}`)
    } else {
      ids.set(m[1]!.toLowerCase(), n.name)
      if (evidence.length < 2) evidence.push(a.evidence)
    }
  }
  if (ok) evidence.push(`${ctx.nodes.length} nodes, ${ids.size} distinct UUIDs`)
  return { passed: ok, evidence }
}

async function checkMessage(ctx: Seed002Context): Promise<ItemOutcome> {
  const to = ctx.nodes[1] ?? ctx.nodes[0]!
  const r = await sendAndSeeLogged('Node1', to, 'Hello Node2!')
  return { passed: r.ok, evidence: r.evidence }
}

async function checkRegistered(ctx: Seed002Context): Promise<ItemOutcome> {
  let last = await httpCall('GET', `${ctx.bootstrap.url}/peers`)
  const done = await poll(
    async () => {
      last = await httpCall('GET', `${ctx.bootstrap.url}/peers`)
      return peersOf(last.json) && listsAll(last.json, ctx.nodes).length === 0 ? true : undefined
    },
    ctx.o.discoveryTimeoutMs,
    500,
  )
  if (done) return pass(last.evidence, `every node (${ctx.nodes.length}) is listed`)
  if (!peersOf(last.json)) return fail(last.evidence, 'expected {"peers": ["http://node1:5000", ...]}')
  const missing = listsAll(last.json, ctx.nodes)
  return fail(
    last.evidence,
    `missing after ${ctx.o.discoveryTimeoutMs} ms: ${missing.map((m) => m.url).join(', ')}`,
  )
}

/** Every node in `who` lists every other node of `all` within the discovery time. */
async function everyoneKnows(ctx: Seed002Context, who: Instance[], all: Instance[]): Promise<ItemOutcome> {
  const lastAnswer = new Map<string, string>()
  const gaps = new Map<string, Instance[]>()
  const done = await poll(
    async () => {
      for (const n of who) {
        const a = await httpCall('GET', `${n.url}/peers`)
        lastAnswer.set(n.name, a.evidence)
        const missing = listsAll(
          a.json,
          all.filter((x) => x !== n),
        )
        if (!peersOf(a.json) || missing.length > 0) gaps.set(n.name, missing)
        else gaps.delete(n.name)
      }
      return gaps.size === 0 ? true : undefined
    },
    ctx.o.discoveryTimeoutMs,
    500,
  )
  if (done) return pass(lastAnswer.get(who[0]!.name)!, `all ${who.length} nodes list the others`)
  const evidence: string[] = []
  for (const [name, missing] of gaps) {
    evidence.push(lastAnswer.get(name)!)
    evidence.push(`${name} does not list ${missing.map((m) => m.url).join(', ') || '(no "peers" array)'}`)
    if (evidence.length >= 6) break
  }
  return fail(...evidence)
}

async function checkMany(ctx: Seed002Context): Promise<ItemOutcome> {
  const n = ctx.nodes.length
  const evidence: string[] = []
  let delivered = 0
  const failures: string[] = []
  // Every node sends one to the next, and one to the node half the ring away.
  const pairs: Array<[number, number]> = []
  for (let i = 0; i < n; i++) {
    pairs.push([i, (i + 1) % n])
    if (n > 3) pairs.push([i, (i + Math.floor(n / 2)) % n])
  }
  for (const [i, j] of pairs) {
    const from = `Node${i + 1}`
    const r = await sendAndSeeLogged(from, ctx.nodes[j]!, `check ${ctx.token} ${i + 1}->${j + 1}`)
    if (r.ok) {
      delivered++
      if (evidence.length === 0) evidence.push(...r.evidence)
    } else if (failures.length < 6) failures.push(...r.evidence)
  }
  evidence.unshift(
    `${delivered}/${pairs.length} messages among ${n} nodes answered "received" and were logged`,
  )
  if (n < 20) evidence.push(`(the handout asks for dozens of nodes: run with --nodes 20 or more)`)
  return { passed: delivered === pairs.length, evidence: [...evidence, ...failures] }
}

async function checkBadJson(ctx: Seed002Context): Promise<ItemOutcome> {
  const n = ctx.nodes[0]!
  const evidence: string[] = []
  for (const body of ['{"sender": "Node1", "msg": ', 'not json at all', '[1, 2', '{"sender": 5}'])
    evidence.push((await httpCall('POST', `${n.url}/message`, body)).evidence)
  const after = await httpCall('GET', `${n.url}/`)
  evidence.push(after.evidence)
  if (after.status === 200 && n.process.running) return pass(...evidence, `${n.name} still answers`)
  return fail(...evidence, `${n.name} stopped answering after bad JSON`, ...n.process.tail(4))
}

async function checkWithoutBootstrap(ctx: Seed002Context): Promise<ItemOutcome> {
  await ctx.bootstrap.process.stop()
  const evidence = [`stopped the bootstrap (${ctx.bootstrap.url})`]
  const index = ctx.nodes.length + 1
  const via = ctx.nodes[0]!
  if (ctx.cluster) return withoutBootstrapDocker(ctx, evidence, index)
  const late = ctx.launcher!.start({
    name: `node${index}`,
    index,
    command: ctx.o.node,
    env: ctx.o.env,
    port: ctx.o.port,
    bootstrap: via.url,
    peers: ctx.nodes.map((x) => x.url).join(','),
  })
  evidence.push(`started node${index} at ${late.url} with {bootstrap} = ${via.url} (a peer)`)
  if (!(await waitListening(`${late.url}/`, ctx.o.startTimeoutMs)))
    return fail(...evidence, `node${index} did not answer HTTP`, ...late.process.tail(6))
  const r = await everyoneKnows(ctx, ctx.nodes, [...ctx.nodes, late])
  return { passed: r.passed, evidence: [...evidence, ...r.evidence] }
}

/** Docker mode: one more node container, told the first node's URL as its bootstrap. */
async function withoutBootstrapDocker(
  ctx: Seed002Context,
  evidence: string[],
  index: number,
): Promise<ItemOutcome> {
  const c = ctx.cluster!
  const name = `node${index}`
  const via = `http://node1:${ctx.o.port}`
  ctx.late = await LateContainer.start({
    name,
    index,
    image: c.spec.nodeImage!,
    command: c.spec.node,
    network: c.spec.network,
    port: ctx.o.port,
    values: {
      bootstrap: via,
      master: '',
      peers: ctx.nodes.map((n) => `http://${n.name}:${ctx.o.port}`).join(','),
    },
    env: c.spec.env,
  })
  const late: Instance = {
    name,
    host: ctx.late.ip,
    port: ctx.o.port,
    url: `http://${ctx.late.ip}:${ctx.o.port}`,
    process: {
      name,
      running: true,
      waitForLine: () => Promise.resolve(''),
      tail: () => [],
      stop: () => ctx.late!.remove(),
    },
  }
  evidence.push(`started container ${name} at ${late.url} with {bootstrap} = ${via} (a peer)`)
  if (!(await waitListening(`${late.url}/`, ctx.o.startTimeoutMs)))
    return fail(...evidence, `${name} did not answer HTTP`, ...(await ctx.late.tail(6)))
  const r = await everyoneKnows(ctx, ctx.nodes, [...ctx.nodes, late])
  return { passed: r.passed, evidence: [...evidence, ...r.evidence] }
}

/** Docker mode: the same cluster's links (relays on the docker network) get 10% loss and 50 ms delay. */
async function checkLossyDocker(ctx: Seed002Context): Promise<ItemOutcome> {
  const c = ctx.cluster!
  const evidence = [
    `every link between the containers 10% loss and 50 ms delay (distlab's relays; run ${c.runId ?? '?'})`,
  ]
  c.setLink('*', '*', { loss: 0.1, delayMs: 50 })
  try {
    // a node that starts over under the faults must register and learn its peers again through them
    const again = ctx.nodes.at(-1)!
    await c.restart(again.name)
    evidence.push(`restarted ${again.name} under the faults`)
    const lossyCtx = { ...ctx, o: { ...ctx.o } }
    const registered = await checkRegistered(lossyCtx)
    evidence.push(...registered.evidence)
    if (!registered.passed) return fail(...evidence)
    const known = await everyoneKnows(lossyCtx, ctx.nodes, ctx.nodes)
    evidence.push(...known.evidence)
    if (!known.passed) return fail(...evidence)
    const r = await sendAndSeeLogged('Node1', ctx.nodes[1]!, `lossy ${ctx.token}`)
    evidence.push(...r.evidence)
    return { passed: r.ok, evidence }
  } catch (err) {
    return fail(...evidence, `could not put faults on the links: ${(err as Error).message}`)
  } finally {
    c.setLink('*', '*', { loss: 0, delayMs: 0 })
  }
}

/**
 * A second, small cluster started through `distlab run` (one network namespace per program, every
 * program-to-program path through distlab's relay): 10% loss and 50 ms delay on every link, then
 * registration, discovery and a message must still work.
 */
async function checkLossy(ctx: Seed002Context): Promise<ItemOutcome> {
  if (ctx.cluster) return checkLossyDocker(ctx)
  const stateDir = mkdtempSync(join(tmpdir(), 'distlab-check-'))
  const evidence: string[] = []
  const say = ctx.o.onProgress ?? (() => {})
  let cluster: ForeignCluster | undefined
  try {
    say('lossy: starting bootstrap + 3 nodes through distlab run (a namespace each, relays)')
    cluster = await startForeignCluster({
      node: ctx.o.node,
      bootstrap: ctx.o.bootstrap,
      nodes: 3,
      env: ctx.o.env,
      bootstrapEnv: ctx.o.bootstrapEnv,
      port: ctx.o.port,
      stateDir,
      cwd: ctx.o.cwd,
      isolate: true,
      faults: true,
      block: ctx.o.block,
      readyTimeoutMs: ctx.o.startTimeoutMs,
    })
    cluster.setLink('*', '*', { loss: 0.1, delayMs: 50 })
    evidence.push(
      `distlab run: bootstrap + 3 nodes, each in its own network namespace, every link 10% loss and 50 ms delay (run ${cluster.runId})`,
    )
    return await lossyProbes(ctx, cluster, evidence)
  } catch (err) {
    return fail(...evidence, `could not run the programs under faults: ${(err as Error).message}`)
  } finally {
    if (cluster) {
      say('lossy: stopping the distlab run cluster')
      if (!(await boundedWait(cluster.stop(), LOSSY_STOP_MS)))
        say(`lossy: the cluster did not stop within ${LOSSY_STOP_MS} ms; going on`)
    }
    rmSync(stateDir, { recursive: true, force: true })
  }
}

/** Under loss and delay: registration, discovery, then one message logged by its receiver. */
async function lossyProbes(ctx: Seed002Context, c: ForeignCluster, evidence: string[]): Promise<ItemOutcome> {
  const say = ctx.o.onProgress ?? (() => {})
  const boot = c.instances.find((i) => i.role === 'bootstrap')!
  const nodes = c.instances.filter((i) => i.role === 'node')
  const wanted = nodes.map((n) => ({
    name: n.name,
    host: n.hostname,
    port: n.port,
    url: `http://${n.hostname}:${n.port}`,
  }))
  const lists = (json: unknown, who: typeof wanted) =>
    who.filter((w) => !(peersOf(json) ?? []).some((p) => sameNode(p, w as unknown as Instance)))
  let last = ''
  say('lossy: waiting for the bootstrap to list every node under loss and delay')
  const registered = await poll(
    async () => {
      const a = await httpCall('GET', `${boot.url}/peers`)
      last = a.evidence
      return lists(a.json, wanted).length === 0 ? true : undefined
    },
    ctx.o.discoveryTimeoutMs,
    500,
  )
  evidence.push(last)
  if (!registered) return fail(...evidence, 'the bootstrap does not list every node under loss and delay')
  say('lossy: waiting for every node to list the others')
  const known = await poll(
    async () => {
      for (const [i, n] of nodes.entries()) {
        const a = await httpCall('GET', `${n.url}/peers`)
        last = a.evidence
        if (
          lists(
            a.json,
            wanted.filter((_, j) => j !== i),
          ).length > 0
        )
          return undefined
      }
      return true
    },
    ctx.o.discoveryTimeoutMs,
    500,
  )
  evidence.push(last)
  if (!known) return fail(...evidence, 'a node does not list the others under loss and delay')
  return lossyMessage(ctx, c, nodes[1]!, evidence)
}

/** One message to a node under loss: it must answer "received" and log it. */
async function lossyMessage(
  ctx: Seed002Context,
  c: ForeignCluster,
  to: ForeignInstance,
  evidence: string[],
): Promise<ItemOutcome> {
  const msg = `lossy ${ctx.token}`
  const a = await httpCall('POST', `${to.url}/message`, { sender: 'Node1', msg })
  evidence.push(a.evidence)
  const logged = await poll(
    () => (c.logs(to.name).some((l) => l.includes(`Received message from Node1: ${msg}`)) ? true : undefined),
    5000,
  )
  if ((a.json as { status?: unknown } | undefined)?.status !== 'received' || !logged)
    return fail(...evidence, `${to.name} did not answer "received" and log the message`)
  return pass(...evidence, `${to.name} logged: Received message from Node1: ${msg}`)
}

/** How long the lossy item waits for its cluster to stop (each part of the stop is bounded too). */
const LOSSY_STOP_MS = 60_000

export const SEED002_ITEMS: ReadonlyArray<RubricItem<Seed002Context>> = [
  {
    id: 'root',
    title: 'GET / answers {"message": "Node <UUID> is running!"} with a real, distinct UUID per node',
    required: true,
    check: checkRoot,
  },
  {
    id: 'message',
    title:
      'POST /message answers {"status": "received"} and logs "Received message from Node1: Hello Node2!"',
    required: true,
    check: checkMessage,
  },
  {
    id: 'register',
    title: 'nodes register with the bootstrap: its GET /peers lists every node',
    required: true,
    check: checkRegistered,
  },
  {
    id: 'peers',
    title: "every node's GET /peers lists the other nodes",
    required: true,
    check: (ctx) => everyoneKnows(ctx, ctx.nodes, ctx.nodes),
  },
  {
    id: 'many',
    title: 'messages among all the nodes arrive (answered and logged)',
    required: true,
    check: checkMany,
  },
  {
    id: 'bad-json',
    title: 'bad JSON to /message does not kill a node',
    required: true,
    check: checkBadJson,
  },
  {
    id: 'lossy',
    title:
      'under 10% loss and 50 ms delay on every link (distlab run, relays; needs root) nodes still register, discover each other and take messages',
    required: false,
    check: checkLossy,
  },
  {
    id: 'no-bootstrap',
    title: 'after the bootstrap is killed, a node joining through a peer becomes known to the others',
    required: true,
    check: checkWithoutBootstrap,
  },
]

/** The options with their defaults, checked (both modes). */
function resolveSeed002Options(options: Seed002Options) {
  const o = {
    nodes: 4,
    block: 0,
    port: SEED002_PORT,
    startTimeoutMs: 20_000,
    discoveryTimeoutMs: 30_000,
    ...options,
  }
  if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > 200)
    throw new InvalidArgumentError('nodes must be 2..200', 'nodes')
  return o
}

/** Docker mode: the bootstrap and node images on the network, through distlab run's docker mode. */
async function setupDocker(options: Seed002Options): Promise<Seed002Context> {
  if (!options.nodeImage) throw new InvalidArgumentError('docker mode needs --node-image', 'nodeImage')
  if (!options.bootstrapImage)
    throw new InvalidArgumentError('docker mode needs --bootstrap-image', 'bootstrapImage')
  const o = resolveSeed002Options(options)
  const stateDir = mkdtempSync(join(tmpdir(), 'distlab-check-'))
  let cluster: ForeignCluster | undefined
  try {
    cluster = await startForeignCluster({
      mode: 'docker',
      node: options.node?.trim() ? options.node : undefined,
      bootstrap: options.bootstrap?.trim() ? options.bootstrap : undefined,
      nodeImage: options.nodeImage,
      bootstrapImage: options.bootstrapImage,
      network: options.network,
      nodes: o.nodes,
      env: options.env,
      bootstrapEnv: options.bootstrapEnv,
      port: o.port,
      stateDir,
      faults: true,
      block: o.block,
      readyTimeoutMs: o.startTimeoutMs,
    })
    const c = cluster
    const member = (name: string): Instance => {
      const i = c.instances.find((x) => x.name === name)!
      return { name, host: i.host, port: i.port, url: i.url, process: new ClusterProgram(c, name) }
    }
    const nodes = c.instances.filter((i) => i.role === 'node').map((i) => member(i.name))
    return {
      o,
      cluster: c,
      stateDir,
      bootstrap: member('bootstrap'),
      nodes,
      token: randomBytes(4).toString('hex'),
    }
  } catch (err) {
    await cluster?.stop().catch(() => undefined)
    rmSync(stateDir, { recursive: true, force: true })
    throw err
  }
}

export const SEED002: SeedRubric<Seed002Options, Seed002Context> = {
  seed: 'seed002',
  title: 'A Try of Peer-to-Peer: Flask nodes, a bootstrap, discovery without it',
  items: SEED002_ITEMS,
  async setup(options) {
    if (!options.node?.trim()) throw new InvalidArgumentError('give the node command (--node)', 'node')
    if (options.mode === 'docker') return setupDocker(options)
    if (!options.bootstrap?.trim())
      throw new InvalidArgumentError('give the bootstrap command (--bootstrap)', 'bootstrap')
    const o = resolveSeed002Options(options)
    const launcher = new ProcessLauncher({ block: o.block, cwd: o.cwd })
    for (let i = 0; i <= o.nodes; i++)
      if (await tcpTaken(launcher.hostOf(i), o.port))
        throw new Error(
          `${launcher.hostOf(i)}:${o.port} already answers before the check started its program there (one left from an earlier run? stop it, or use another --block)`,
        )
    try {
      const bootstrap = launcher.start({
        name: 'bootstrap',
        index: 0,
        command: o.bootstrap,
        env: o.bootstrapEnv,
        port: o.port,
      })
      if (!(await waitListening(`${bootstrap.url}/peers`, o.startTimeoutMs)))
        throw new Error(
          `the bootstrap did not answer HTTP at ${bootstrap.url} within ${o.startTimeoutMs} ms: ${bootstrap.process.tail(3).join(' | ')}`,
        )
      const nodes: Instance[] = []
      const urls = Array.from({ length: o.nodes }, (_, i) => `http://${launcher.hostOf(i + 1)}:${o.port}`)
      for (let i = 1; i <= o.nodes; i++)
        nodes.push(
          launcher.start({
            name: `node${i}`,
            index: i,
            command: o.node,
            env: o.env,
            port: o.port,
            bootstrap: bootstrap.url,
            peers: urls.filter((_, j) => j !== i - 1).join(','),
          }),
        )
      for (const n of nodes)
        if (!(await waitListening(`${n.url}/`, o.startTimeoutMs)))
          throw new Error(
            `${n.name} did not answer HTTP at ${n.url} within ${o.startTimeoutMs} ms: ${n.process.tail(3).join(' | ')}`,
          )
      return { o, launcher, bootstrap, nodes, token: randomBytes(4).toString('hex') }
    } catch (err) {
      await launcher.stopAll()
      throw err
    }
  },
  async teardown(ctx) {
    await ctx.launcher?.stopAll()
    await ctx.late?.remove()
    await ctx.cluster?.stop()
    if (ctx.stateDir) rmSync(ctx.stateDir, { recursive: true, force: true })
  },
}
