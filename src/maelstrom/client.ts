// Maelstrom's clients: c1, c2, ... each a loop that invokes one operation at a time on its node and
// records the invocation and its completion in the history (history.ts). A reply `<type>_ok` is `ok`;
// an error with a definite code is `fail`; a timeout, an indefinite error or a reply of the wrong
// shape is `info`, after which the client continues under a new process number, as Jepsen's do.
import { DEFINITE_ERROR_CODES, type History, type Op, type OpType } from './history.js'
import type { MaelstromHarness } from './harness.js'
import type { Invocation, WorkloadGenerator } from './workloads.js'

/** What a client records besides the history: the frames of each operation, by invoke index. */
export interface OpFrames {
  request: string
  reply?: string
}

export class HistoryRecorder {
  readonly history: History = []
  /** Invoke index → the distlab frames that carried the request and its reply. */
  readonly frames = new Map<number, OpFrames>()
  private readonly t0 = process.hrtime.bigint()

  now(): number {
    return Number(process.hrtime.bigint() - this.t0)
  }

  record(op: Omit<Op, 'index' | 'time'>): Op {
    const full: Op = { ...op, index: this.history.length, time: this.now() }
    this.history.push(full)
    return full
  }
}

export interface ClientInit {
  id: string
  /** The Maelstrom node this client talks to. */
  node: string
  /** First process number; after an `info` the next is process + processStride. */
  process: number
  processStride: number
  timeoutMs: number
}

export class Client {
  process: number

  constructor(
    readonly init: ClientInit,
    private readonly harness: MaelstromHarness,
    private readonly workload: WorkloadGenerator,
    private readonly recorder: HistoryRecorder,
  ) {
    this.process = init.process
  }

  /** Invokes one operation and records both ends; resolves with the completion's type. */
  async invoke(inv: Invocation, node = this.init.node): Promise<OpType> {
    const { id } = this.init
    const invoke = this.recorder.record({
      process: this.process,
      client: id,
      type: 'invoke',
      f: inv.f,
      value: inv.value,
      node,
    })
    const r = await this.harness.request(id, node, inv.body, this.init.timeoutMs)
    this.recorder.frames.set(invoke.index, { request: r.requestFrame, reply: r.replyFrame })
    let type: OpType
    let value: unknown = inv.value
    let error: [number, string] | undefined
    const reply = r.reply
    if (!reply) {
      type = 'info'
      error = [0, 'timeout']
    } else if (reply.type === 'error') {
      const code = typeof reply.code === 'number' ? reply.code : 13
      type = DEFINITE_ERROR_CODES.has(code) ? 'fail' : 'info'
      error = [code, typeof reply.text === 'string' ? reply.text.slice(0, 500) : '']
    } else if (reply.type !== `${inv.body.type}_ok`) {
      type = 'info'
      error = [12, `expected ${inv.body.type}_ok, got ${reply.type}`]
    } else {
      try {
        value = this.workload.okValue(inv, reply, id)
        type = 'ok'
      } catch (err) {
        type = 'info'
        error = [12, `malformed ${reply.type}: ${(err as Error).message}`]
      }
    }
    const done: Omit<Op, 'index' | 'time'> = {
      process: this.process,
      client: id,
      type,
      f: inv.f,
      value,
      node,
    }
    if (error) done.error = error
    this.recorder.record(done)
    if (type === 'info') this.process += this.init.processStride
    return type
  }
}
