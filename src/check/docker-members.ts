// Docker mode of a check: the student's images run as containers through `distlab run`'s docker
// mode (src/foreign: `bootstrap`, `node1`..`nodeN` on Proj1-distributed-network). A check reads a
// container's output and stops it through the same small interface it uses for a local process,
// and can start one more node container after the cluster is up (a late joiner).
import { TimeoutError } from '../core/errors.js'
import { docker } from '../cluster/docker.js'
import type { ForeignCluster } from '../foreign/index.js'
import { expand, instanceEnv, type PlaceholderValues } from '../foreign/spec.js'
import { poll } from './process.js'

/** What a check needs of a running program, local or in a container. */
export interface ProgramHandle {
  readonly name: string
  readonly running: boolean
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>
  tail(n?: number): string[]
  stop(): Promise<void>
}

/** A member of a foreign cluster (a container in docker mode), seen as a program. */
export class ClusterProgram implements ProgramHandle {
  constructor(
    private readonly cluster: ForeignCluster,
    readonly name: string,
  ) {}

  get running(): boolean {
    return this.cluster.running(this.name)
  }

  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const line = await poll(() => this.cluster.logs(this.name).find((l) => pattern.test(l)), timeoutMs, 100)
    if (line === undefined)
      throw new TimeoutError(`${this.name} did not print a line matching ${pattern} within ${timeoutMs} ms`)
    return line
  }

  tail(n = 8): string[] {
    return this.cluster
      .logs(this.name)
      .slice(-n)
      .map((l) => `${this.name}| ${l}`)
  }

  async stop(): Promise<void> {
    if (this.running) await this.cluster.kill(this.name, 'SIGTERM')
  }
}

export interface LateContainerInit {
  name: string
  index: number
  image: string
  /** The command, if it overrides the image's (placeholders filled here). */
  command?: string
  network: string
  port: number
  values: Omit<PlaceholderValues, 'host' | 'name' | 'index' | 'port'>
  env: ReadonlyMap<string, string>
}

/** One more node container on the cluster's network, named and addressed as the others. */
export class LateContainer {
  private lines: string[] = []
  private constructor(
    readonly name: string,
    readonly ip: string,
  ) {}

  static async start(init: LateContainerInit): Promise<LateContainer> {
    const v: PlaceholderValues = {
      ...init.values,
      host: init.name,
      name: init.name,
      index: init.index,
      port: init.port,
    }
    const args = ['run', '-d', '--name', init.name, '--hostname', init.name, '--network', init.network]
    args.push('--label', 'distlab.check=1', '-e', 'PYTHONUNBUFFERED=1')
    for (const [k, val] of instanceEnv(v, init.env)) args.push('-e', `${k}=${val}`)
    args.push(init.image)
    if (init.command) args.push('sh', '-c', expand(init.command, v))
    await docker(args, { timeoutMs: 120_000 })
    const r = await docker([
      'inspect',
      '-f',
      `{{(index .NetworkSettings.Networks "${init.network}").IPAddress}}`,
      init.name,
    ])
    return new LateContainer(init.name, r.stdout.trim())
  }

  /** Its output so far (for evidence). */
  async tail(n = 6): Promise<string[]> {
    const r = await docker(['logs', '--tail', String(n), this.name], { allowFailure: true })
    this.lines = `${r.stdout}${r.stderr}`.split('\n').filter(Boolean)
    return this.lines.map((l) => `${this.name}| ${l}`)
  }

  async remove(): Promise<void> {
    await docker(['rm', '-f', this.name], { allowFailure: true, timeoutMs: 30_000 })
  }
}
