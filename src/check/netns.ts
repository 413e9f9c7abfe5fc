// A network namespace of the check's own, for programs that send IP multicast without pinning an
// interface: inside it only `lo` exists and 224.0.0.0/4 is routed to it, so no datagram can leave
// by the machine's real interface (DESIGN.md). Needs root; without it the caller says so.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { NamespaceError } from '../core/errors.js'

const run = promisify(execFile)

export { NamespaceError }

export function canMakeNamespaces(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

export class MulticastNamespace {
  private made = false
  constructor(readonly name = `distlab-check-${process.pid}-${Date.now() % 100_000}`) {}

  /** The prefix that runs a command inside the namespace. */
  get wrap(): string[] {
    return ['ip', 'netns', 'exec', this.name]
  }

  async create(): Promise<void> {
    if (!canMakeNamespaces())
      throw new NamespaceError(
        'IP multicast checks run in a network namespace of their own, which needs root (run with sudo)',
      )
    try {
      await run('ip', ['netns', 'add', this.name])
      this.made = true
      await run('ip', ['netns', 'exec', this.name, 'ip', 'link', 'set', 'lo', 'up'])
      await run('ip', ['netns', 'exec', this.name, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', 'lo'])
    } catch (err) {
      await this.remove()
      throw new NamespaceError(`could not make network namespace ${this.name}: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  /** Removes the namespace; harmless twice. */
  async remove(): Promise<void> {
    if (!this.made) return
    this.made = false
    await run('ip', ['netns', 'del', this.name]).catch(() => undefined)
  }
}
