// A small history builder for checker tests: events get consecutive indices and times 1 ms apart.
import type { History, Op, OpType } from '../../../src/maelstrom/history.js'

export class HistoryBuilder {
  readonly ops: History = []

  private push(process: number, type: OpType, f: string, value: unknown, extra: Partial<Op> = {}): this {
    const index = this.ops.length
    this.ops.push({
      index,
      process,
      client: `c${(process % 100) + 1}`,
      type,
      f,
      value,
      time: index * 1_000_000,
      ...extra,
    })
    return this
  }

  invoke(process: number, f: string, value: unknown, node?: string): this {
    return this.push(process, 'invoke', f, value, node === undefined ? {} : { node })
  }

  ok(process: number, f: string, value: unknown, node?: string): this {
    return this.push(process, 'ok', f, value, node === undefined ? {} : { node })
  }

  fail(process: number, f: string, value: unknown, code: number): this {
    return this.push(process, 'fail', f, value, { error: [code, 'error'] })
  }

  info(process: number, f: string, value: unknown): this {
    return this.push(process, 'info', f, value, { error: [0, 'timeout'] })
  }

  /** invoke and ok back to back. */
  call(process: number, f: string, value: unknown, result: unknown = value, node?: string): this {
    return this.invoke(process, f, value, node).ok(process, f, result, node)
  }
}
