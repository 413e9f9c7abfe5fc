// Docker mode of a foreign cluster: each instance is a container named as the seeds name them
// (`bootstrap`, `master`, `node1`..`nodeN`) on the network `Proj1-distributed-network`, made if it
// is missing and removed after if distlab made it. Each container already has a namespace of its
// own, so the relays work as in process mode: rules go in through `nsenter -t <pid> -n`, and the
// relays listen on the network's gateway address, which every container reaches.
import { spawn, type ChildProcess } from 'node:child_process'
import { ClusterError } from '../core/errors.js'
import { containerNameTaken, docker, ensureDockerNetwork } from '../cluster/docker.js'
import { onLines } from '../cluster/lines.js'
import type { ResolvedForeignSpec } from './spec.js'

export interface DockerMember {
  name: string
  command: string
  image?: string
  env: Map<string, string>
  exited: boolean
}

export const FOREIGN_LABEL = 'distlab.foreign'

export class DockerInstances {
  private createdNetwork = false
  private readonly followers = new Map<string, ChildProcess>()
  private readonly names: string[] = []
  private stopped = false

  constructor(
    private readonly spec: ResolvedForeignSpec,
    private readonly onLine: (name: string, line: string) => void,
  ) {}

  /** The network, and a clear error if a container of the same name already exists. */
  async prepare(): Promise<void> {
    const net = this.spec.network
    if (await ensureDockerNetwork(net, FOREIGN_LABEL)) this.createdNetwork = true
  }

  async gatewayAddress(): Promise<string> {
    const r = await docker([
      'network',
      'inspect',
      '-f',
      '{{range .IPAM.Config}}{{.Gateway}} {{end}}',
      this.spec.network,
    ])
    const gw = r.stdout
      .trim()
      .split(/\s+/)
      .find((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x))
    if (!gw) throw new ClusterError(`the network ${this.spec.network} has no IPv4 gateway`)
    return gw
  }

  /** The network's bridge interface on this machine and its IPv4 subnet (for the packet capture). */
  async bridge(): Promise<{ iface: string; subnet: string }> {
    const r = await docker([
      'network',
      'inspect',
      '-f',
      '{{.Id}} {{index .Options "com.docker.network.bridge.name"}} {{range .IPAM.Config}}{{.Subnet}} {{end}}',
      this.spec.network,
    ])
    const [id = '', ...rest] = r.stdout.trim().split(/\s+/)
    const subnet = rest.find((x) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(x))
    const named = rest.find((x) => x !== subnet && /^[A-Za-z0-9_.-]{1,15}$/.test(x) && x !== '<no')
    if (!subnet) throw new ClusterError(`the network ${this.spec.network} has no IPv4 subnet`)
    return { iface: named ?? `br-${id.slice(0, 12)}`, subnet }
  }

  async run(m: DockerMember): Promise<{ container: string; pid: number; ip: string }> {
    const existing = await docker(['container', 'inspect', '-f', '{{.Id}}', m.name], { allowFailure: true })
    if (existing.code === 0) throw containerNameTaken(m.name)
    const args = ['run', '-d', '--name', m.name, '--hostname', m.name, '--network', this.spec.network]
    args.push('--label', `${FOREIGN_LABEL}=${this.spec.stateDir}`)
    args.push('-e', 'PYTHONUNBUFFERED=1')
    for (const [k, v] of m.env) args.push('-e', `${k}=${v}`)
    args.push(m.image!)
    if (m.command) args.push('sh', '-c', m.command)
    await docker(args, { timeoutMs: 120_000 })
    this.names.push(m.name)
    m.exited = false
    this.follow(m)
    return { container: m.name, pid: await this.pidOf(m.name), ip: await this.ipOf(m.name) }
  }

  /** Streams `docker logs -f` of the container into the cluster's log lines. */
  private follow(m: DockerMember, since?: string): void {
    this.followers.get(m.name)?.kill()
    const child = spawn('docker', ['logs', '-f', ...(since ? ['--since', since] : []), m.name], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.followers.set(m.name, child)
    child.on('error', () => {})
    for (const stream of [child.stdout!, child.stderr!])
      onLines(stream, (line) => this.onLine(m.name, line), { stripCr: true, maxPendingChars: 64 * 1024 })
    child.on('exit', () => {
      if (this.followers.get(m.name) === child) m.exited = true
    })
  }

  async pidOf(name: string): Promise<number> {
    const r = await docker(['inspect', '-f', '{{.State.Pid}}', name])
    return Number(r.stdout.trim())
  }

  async ipOf(name: string): Promise<string> {
    const r = await docker([
      'inspect',
      '-f',
      `{{(index .NetworkSettings.Networks "${this.spec.network}").IPAddress}}`,
      name,
    ])
    return r.stdout.trim()
  }

  async kill(name: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    if (signal === 'SIGTERM')
      await docker(['stop', '-t', '5', name], { allowFailure: true, timeoutMs: 30_000 })
    else await docker(['kill', name], { allowFailure: true })
  }

  async restart(m: DockerMember): Promise<{ pid: number; ip: string }> {
    const since = new Date().toISOString()
    await docker(['restart', '-t', '5', m.name], { timeoutMs: 60_000 })
    m.exited = false
    this.follow(m, since)
    return { pid: await this.pidOf(m.name), ip: await this.ipOf(m.name) }
  }

  async pause(name: string): Promise<void> {
    await docker(['pause', name])
  }

  async unpause(name: string): Promise<void> {
    await docker(['unpause', name])
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const c of this.followers.values()) c.kill()
    this.followers.clear()
    if (this.names.length > 0)
      await docker(['rm', '-f', ...this.names], { allowFailure: true, timeoutMs: 60_000 })
    if (this.createdNetwork) await docker(['network', 'rm', this.spec.network], { allowFailure: true })
  }
}

/** Removes what a crashed docker-mode supervisor left: its containers, and the network if distlab made it. */
export async function removeForeignContainers(
  stateDir: string,
  names: readonly string[],
  network?: string,
): Promise<void> {
  for (const name of names) {
    const r = await docker(['inspect', '-f', `{{index .Config.Labels "${FOREIGN_LABEL}"}}`, name], {
      allowFailure: true,
    })
    if (r.code === 0 && r.stdout.trim() === stateDir) await docker(['rm', '-f', name], { allowFailure: true })
  }
  if (network) {
    const r = await docker(['network', 'inspect', '-f', `{{index .Labels "${FOREIGN_LABEL}"}}`, network], {
      allowFailure: true,
    })
    if (r.code === 0 && r.stdout.trim() === '1')
      await docker(['network', 'rm', network], { allowFailure: true })
  }
}
