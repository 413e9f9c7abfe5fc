// Docker mode of seed 000: the master and the nodes as containers named `master`, `node1`..`nodeN`
// on the handout's network (`Proj1-distributed-network`, made if missing and removed after if the
// check made it). Each container runs attached (`docker run -i`), so the check reads its output as
// a local program's and types the operations on the master's stdin, and its namespace is entered by
// the container's pid for the wire counters (wire.ts), as a namespace of distlab's is in process mode.
import { spawnSync } from 'node:child_process'
import { InvalidArgumentError } from '../core/errors.js'
import { containerNameTaken, docker, ensureDockerNetwork } from '../cluster/docker.js'
import { portBound } from './ports.js'
import {
  distlabEnv,
  fillPlaceholders,
  notListening,
  poll,
  StudentProcess,
  type Placeholders,
} from './process.js'

export const SEED000_DOCKER_LABEL = 'distlab.check'

/** Containers started and not yet removed, for a check interrupted by a signal. */
const live = new Set<string>()
/** The network a check made and has not removed yet. */
let madeNetwork: string | undefined

/**
 * Removes every container a check started and has not removed (synchronously, `docker rm -f`), and
 * the network it made: a killed `docker run` client leaves its container running. Returns how many
 * containers it removed.
 */
export function removeLiveContainersSync(): number {
  const names = [...live]
  live.clear()
  if (names.length > 0) spawnSync('docker', ['rm', '-f', ...names], { stdio: 'ignore', timeout: 30_000 })
  if (madeNetwork) spawnSync('docker', ['network', 'rm', madeNetwork], { stdio: 'ignore', timeout: 30_000 })
  madeNetwork = undefined
  return names.length
}

export interface DockerProgramInit {
  name: string
  image: string
  /** The command (placeholders filled here); the image's own when empty. */
  command?: string
  placeholders: Placeholders
  env: Record<string, string>
  network: string
  stdin: boolean
}

/** A running container, as a program the check can read and type to. */
export interface DockerProgram {
  name: string
  process: StudentProcess
  /** The container's main process (its namespace), once it runs. */
  pid?: number
  ip?: string
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** Each image's command line, inspected once per check however many containers run it. */
const imageCommands = new Map<string, Promise<string>>()
const imageCommand = (image: string): Promise<string> => {
  let cmd = imageCommands.get(image)
  if (!cmd) {
    cmd = inspectImageCommand(image)
    cmd.catch(() => imageCommands.delete(image))
    imageCommands.set(image, cmd)
  }
  return cmd
}

/** The image's own entrypoint and command as one shell line. */
async function inspectImageCommand(image: string): Promise<string> {
  const r = await docker([
    'image',
    'inspect',
    '-f',
    '{{json .Config.Entrypoint}} {{json .Config.Cmd}}',
    image,
  ])
  const [ep = 'null', cmd = 'null'] = r.stdout.trim().split(/ (?=\[|null)/)
  const words = [
    ...((JSON.parse(ep) as string[] | null) ?? []),
    ...((JSON.parse(cmd) as string[] | null) ?? []),
  ]
  if (words.length === 0)
    throw new InvalidArgumentError(
      `the image ${image} has no command: give one (--master / --node)`,
      'command',
    )
  return words.map(quote).join(' ')
}

/** Makes the network if it is missing; true when this call made it. */
export async function ensureNetwork(network: string): Promise<boolean> {
  const made = await ensureDockerNetwork(network, SEED000_DOCKER_LABEL)
  if (made) madeNetwork = network
  return made
}

/** Refuses to start when a container of one of the names exists (another cluster's). */
export async function namesFree(names: readonly string[]): Promise<void> {
  const existing = new Set(
    (await docker(['ps', '-a', '--format', '{{.Names}}'], { timeoutMs: 20_000 })).stdout.split('\n'),
  )
  for (const name of names) {
    if (existing.has(name)) throw containerNameTaken(name)
  }
}

/** Starts one container attached: its output is the program's, its stdin the master's operations. */
export async function startContainer(init: DockerProgramInit): Promise<DockerProgram> {
  const command = init.command?.trim()
    ? fillPlaceholders(init.command, init.placeholders)
    : `exec ${await imageCommand(init.image)}`
  const wrap = ['docker', 'run', ...(init.stdin ? ['-i'] : []), '--rm', '--name', init.name]
  wrap.push('--hostname', init.name, '--network', init.network, '--label', `${SEED000_DOCKER_LABEL}=1`)
  wrap.push('--entrypoint', '', '-e', 'PYTHONUNBUFFERED=1')
  const env = { ...distlabEnv(init.placeholders), ...init.env }
  for (const [k, v] of Object.entries(env)) wrap.push('-e', `${k}=${fillPlaceholders(v, init.placeholders)}`)
  wrap.push(init.image)
  live.add(init.name)
  const process = new StudentProcess({
    command,
    placeholders: init.placeholders,
    stdin: init.stdin,
    wrap,
  })
  return { name: init.name, process }
}

/** Waits until the container runs and listens on `port` (TCP or UDP); fills its pid and address. */
export async function waitContainerBound(
  p: DockerProgram,
  network: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const ok = await poll(
    async () => {
      if (!p.process.running) return false
      if (!p.pid) {
        const r = await docker(
          [
            'inspect',
            '-f',
            `{{.State.Pid}} {{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
            p.name,
          ],
          { allowFailure: true },
        )
        const [pid, ip] = r.stdout.trim().split(' ')
        if (r.code !== 0 || !(Number(pid) > 0) || !ip) return undefined
        p.pid = Number(pid)
        p.ip = ip
      }
      return portBound(p.pid, p.ip!, port) ? true : undefined
    },
    timeoutMs,
    200,
  )
  if (ok !== true) throw notListening(p.name, `port ${port}`, timeoutMs, p.process)
}

/** Removes the containers (they run with --rm; this is for one that a kill left) and the network if made. */
export async function removeContainers(names: readonly string[], network?: string): Promise<void> {
  if (names.length > 0) await docker(['rm', '-f', ...names], { allowFailure: true, timeoutMs: 60_000 })
  for (const n of names) live.delete(n)
  imageCommands.clear() // one check's: the next may run rebuilt images of the same names
  if (network) await docker(['network', 'rm', network], { allowFailure: true, timeoutMs: 30_000 })
  if (network === madeNetwork) madeNetwork = undefined
}
