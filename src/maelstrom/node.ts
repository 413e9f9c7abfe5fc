// The distlab protocol `maelstrom` on a node that wraps one Maelstrom node program: distlab node
// `nodeK` runs the program as Maelstrom node `n{K-1}`, sends it Maelstrom's init, and carries what it
// prints as distlab frames (through the link emulator and telemetry) to the other wrapped programs or
// to the harness node, where the clients and services live. Frames for it become lines on its stdin.
import type { FastifyInstance } from 'fastify'
import type { Envelope } from '../core/envelope.js'
import type { InboundMessage, Protocol, ProtocolComponents } from '../core/interfaces.js'
import { InvalidArgumentError } from '../core/errors.js'
import { named, type Logger } from '../core/logger.js'
import { HARNESS_NODE, INIT_TIMEOUT_MS, MAELSTROM_PROTO } from './constants.js'
import { checkMessage, distlabName, maelstromId, type MaelstromMessage } from './message.js'
import { NodeProgram, type ProgramStats } from './program.js'
import { containerName, type ContainerSpec } from './container.js'

export interface MaelstromNodeInit {
  /** The node program: an executable or a command line (`python3 echo.py`). */
  bin: string
  /** Nodes in the test: the init message lists n0 .. n{count-1}. */
  nodeCount: number
  /** Transport for the program's messages. @default 'tcp' */
  transport?: 'udp' | 'tcp'
  /** The program's working directory. @default this process's */
  cwd?: string
  /** The distlab node hosting clients and services. @default 'maelstrom' */
  harness?: string
  /** Docker mode: the program runs in a container of this shape (container.ts). */
  container?: ContainerSpec
}

export interface MaelstromNodeStatus extends ProgramStats {
  node: string
  maelstromId: string
  /** True once the program answered init with init_ok. */
  ready: boolean
  /** Messages the program addressed to a node that does not exist. */
  unroutable: number
  /** Frames for the program that arrived while it was gone. */
  undeliverable: number
}

/** Keeps a string to the envelope header's 32-character type field. */
const frameType = (t: string) => (t.length <= 32 ? t : t.slice(0, 32))

export class MaelstromNode implements Protocol {
  readonly name = MAELSTROM_PROTO
  readonly id: string
  private readonly log: Logger
  private program?: NodeProgram
  private ready = false
  private unroutable = 0
  private undeliverable = 0
  private initTimer?: ReturnType<typeof setTimeout>
  private readonly transport: 'udp' | 'tcp'
  private readonly harness: string

  constructor(
    private readonly c: ProtocolComponents,
    private readonly init: MaelstromNodeInit,
  ) {
    const id = maelstromId(c.self.name)
    if (!id)
      throw new InvalidArgumentError(`a Maelstrom node must be named node<K>, got ${c.self.name}`, 'name')
    if (!Number.isInteger(init.nodeCount) || init.nodeCount < 1)
      throw new InvalidArgumentError(
        `nodeCount must be a positive integer, got ${init.nodeCount}`,
        'nodeCount',
      )
    this.id = id
    this.transport = init.transport ?? 'tcp'
    this.harness = init.harness ?? HARNESS_NODE
    this.log = named(c.logger, 'distlab:maelstrom')
  }

  async start(): Promise<void> {
    const program = new NodeProgram({
      bin: this.init.bin,
      cwd: this.init.cwd,
      container: this.init.container
        ? { spec: this.init.container, name: containerName(this.init.container, this.id) }
        : undefined,
      onMessage: (m) => this.fromProgram(m),
      onMalformed: (reason, line) =>
        this.log.warn(`${this.id} printed a malformed line (${reason}): ${line}`),
      onStderr: (line) => this.log.info(`${this.id} stderr: ${line}`),
      onExit: (code, signal) => {
        this.ready = false
        this.log.warn(`${this.id} program exited (${signal ?? `code ${code}`})`)
      },
    })
    this.program = program
    program.start()
    const nodeIds = Array.from({ length: this.init.nodeCount }, (_, i) => `n${i}`)
    program.write({
      src: 'c0',
      dest: this.id,
      body: { type: 'init', msg_id: 1, node_id: this.id, node_ids: nodeIds },
    })
    this.initTimer = setTimeout(() => {
      if (!this.ready) this.log.warn(`${this.id} did not answer init within ${INIT_TIMEOUT_MS} ms`)
    }, INIT_TIMEOUT_MS)
    this.initTimer.unref()
  }

  async stop(): Promise<void> {
    if (this.initTimer) clearTimeout(this.initTimer)
    await this.program?.stop()
  }

  private fromProgram(m: MaelstromMessage): void {
    // Until the program answers init, what it sends to c0 (init's sender) is about init.
    if (m.dest === 'c0' && !this.ready) {
      if (m.body.type === 'init_ok' && m.body.in_reply_to === 1) {
        this.ready = true
        this.log.info(`${this.id} answered init`)
      } else if (m.body.type === 'error')
        this.log.warn(`${this.id} refused init: ${JSON.stringify(m.body).slice(0, 200)}`)
      return
    }
    const dst = m.dest.startsWith('n') ? distlabName(m.dest) : this.harness
    if (!dst) {
      this.unroutable++
      return
    }
    this.c.send(dst, frameType(m.body.type), m, { transport: this.transport }).catch((err: unknown) => {
      this.unroutable++
      this.log.debug(`${this.id} could not send to ${m.dest}: ${(err as Error).message}`)
    })
  }

  handle(env: Envelope, _msg: InboundMessage): void {
    const r = checkMessage(env.body)
    if (!r.ok) return this.c.dropped(env, 'malformed')
    if (r.msg.dest !== this.id) return this.c.dropped(env, 'not_for_me')
    if (!this.program?.write(r.msg)) {
      this.undeliverable++
      return this.c.dropped(env, 'program_gone')
    }
    this.c.delivered(env)
  }

  status(): MaelstromNodeStatus {
    const s = this.program?.stats() ?? {
      running: false,
      paused: false,
      linesIn: 0,
      linesOut: 0,
      malformed: 0,
      malformedExamples: [],
    }
    return {
      ...s,
      node: this.c.self.name,
      maelstromId: this.id,
      ready: this.ready,
      unroutable: this.unroutable,
      undeliverable: this.undeliverable,
    }
  }

  routes(app: FastifyInstance): void {
    app.get('/maelstrom', async () => this.status())
    app.post('/maelstrom/pause', async () => ({ paused: (await this.program?.pause()) ?? false }))
    app.post('/maelstrom/resume', async () => ({ resumed: (await this.program?.resume()) ?? false }))
    app.post('/maelstrom/crash', async () => {
      await this.program?.crash()
      return { crashed: true }
    })
  }
}

export function maelstromNode(init: MaelstromNodeInit): (c: ProtocolComponents) => MaelstromNode {
  return (c) => new MaelstromNode(c, init)
}
