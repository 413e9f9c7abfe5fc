// `maelstrom test --mode docker`: each node program runs in a container of its own, one per node,
// on a Docker network made for the test. The distlab nodes stay on the host (in-process); a node's
// program is `docker run -i` of the image with the program's stdin and stdout attached to the node,
// so messages still go through the link emulator and telemetry. The current directory and the
// directories of absolute paths named in --bin are mounted read-only at the same paths, so that
// `--bin "python3 x.py"` runs unchanged. Kill is `docker kill` (SIGKILL to the container), pause is
// `docker pause` (the freezer: every process of the container stops). Containers and the network
// carry the label `distlab.maelstrom=<test id>`; the test removes them all when it ends.
//
// The default image is built without a registry: `docker import` of a root file system holding
// this machine's python3 (and its standard library), node, dash as /bin/sh, /usr/bin/env and the
// shared libraries they need. Programs in other languages name an image of their own (--image).
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync, statSync, symlinkSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { docker, imageExists, requireDocker } from '../cluster/docker.js'
import { importRootfsImage } from '../cluster/rootfs-image.js'

export const MAELSTROM_LABEL = 'distlab.maelstrom'
/** Repository of the default runtime image; the python and node versions make the tag. */
export const RUNTIME_REPOSITORY = 'distlab-maelstrom-runtime'
/** Directories mounted for one test at most (the cwd and --bin's absolute paths). */
const MAX_MOUNTS = 16

/** How a node's program runs in a container (the same for every node of a test). */
export interface ContainerSpec {
  image: string
  network: string
  /** The test's id: the value of the label on its containers and network. */
  testId: string
  /** Host directories mounted read-only at the same paths. */
  mounts: string[]
  /** The program's working directory inside the container (the host's cwd). */
  cwd: string
}

/** A container name for node `id`'s program, new at each start (a restarted node gets a fresh one). */
export function containerName(spec: ContainerSpec, id: string): string {
  return `distlab-m-${spec.testId}-${id}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`
}

/** The argv of `docker run -i` for one program. */
export function containerArgv(
  spec: ContainerSpec,
  bin: string,
  name: string,
): { file: string; args: string[] } {
  const args = ['run', '-i', '--rm', '--name', name, '--network', spec.network]
  args.push('--label', `${MAELSTROM_LABEL}=${spec.testId}`, '--log-driver', 'none')
  args.push('-e', 'PYTHONUNBUFFERED=1')
  for (const m of spec.mounts) args.push('-v', `${m}:${m}:ro`)
  args.push('-w', spec.cwd, spec.image, '/bin/sh', '-c', `exec ${bin.trim()}`)
  return { file: 'docker', args }
}

/** The directories to mount: cwd, and the directory of every absolute path in `bin` that exists. */
export function mountsFor(bin: string, cwd: string): string[] {
  const out: string[] = [resolve(cwd)]
  for (const word of bin.trim().split(/\s+/).slice(0, 64)) {
    const token = word.replace(/^["']|["']$/g, '')
    if (!isAbsolute(token) || !existsSync(token)) continue
    let dir: string
    try {
      dir = statSync(token).isDirectory() ? token : dirname(token)
    } catch {
      continue
    }
    // /usr/bin/python3 and the like are the image's own: mount only what is not a system path.
    if (/^\/(usr|bin|sbin|lib|lib64|etc|proc|sys|dev)(\/|$)/.test(dir)) continue
    if (!out.some((m) => dir === m || dir.startsWith(m + '/'))) out.push(dir)
    if (out.length >= MAX_MOUNTS) break
  }
  return out
}

/** Sends a signal to a container (SIGKILL: a crash of its machine). False when it is gone. */
export async function killContainer(name: string): Promise<boolean> {
  const r = await docker(['kill', name], { allowFailure: true, timeoutMs: 30_000 })
  return r.code === 0
}

export async function pauseContainer(name: string, pause: boolean): Promise<boolean> {
  const r = await docker([pause ? 'pause' : 'unpause', name], { allowFailure: true, timeoutMs: 30_000 })
  return r.code === 0
}

/** Removes a container at once, whatever its state. */
export async function removeContainer(name: string): Promise<void> {
  await docker(['rm', '-f', name], { allowFailure: true, timeoutMs: 60_000 })
}

/** The containers (running or not) of a test. */
export async function testContainers(testId: string): Promise<string[]> {
  const r = await docker(['ps', '-aq', '--filter', `label=${MAELSTROM_LABEL}=${testId}`], {
    allowFailure: true,
    timeoutMs: 30_000,
  })
  return r.stdout.split('\n').filter((l) => /^[0-9a-f]{6,64}$/.test(l.trim()))
}

/** The Docker side of one test: its network and image; `cleanup` removes what the test left. */
export class MaelstromDocker {
  readonly spec: ContainerSpec
  private createdNetwork = false

  constructor(init: { testId: string; bin: string; cwd: string; image?: string }) {
    if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(init.testId)) throw new Error(`bad test id ${init.testId}`)
    this.spec = {
      image: init.image ?? '',
      network: `distlab-maelstrom-${init.testId}`,
      testId: init.testId,
      mounts: mountsFor(init.bin, init.cwd),
      cwd: resolve(init.cwd),
    }
  }

  /** Checks the engine, builds the default image if needed, and creates the network. */
  async prepare(say: (line: string) => void = () => {}): Promise<void> {
    await requireDocker()
    if (this.spec.image === '') {
      const { tag, built } = await buildRuntimeImage({
        onBuild: () => say('building the runtime image (python3, node) from this machine, once'),
      })
      this.spec.image = tag
      if (built) say(`built ${tag}`)
    } else if (!(await imageExists(this.spec.image))) {
      throw new Error(
        `the image ${this.spec.image} is not on this machine (docker pull or docker build it first)`,
      )
    }
    await docker(
      [
        'network',
        'create',
        '--driver',
        'bridge',
        '--label',
        `${MAELSTROM_LABEL}=${this.spec.testId}`,
        this.spec.network,
      ],
      { timeoutMs: 60_000 },
    )
    this.createdNetwork = true
  }

  /** Removes every container of the test and its network. */
  async cleanup(): Promise<void> {
    const ids = await testContainers(this.spec.testId)
    if (ids.length > 0) await docker(['rm', '-f', ...ids], { allowFailure: true, timeoutMs: 120_000 })
    if (this.createdNetwork) {
      await docker(['network', 'rm', this.spec.network], { allowFailure: true, timeoutMs: 60_000 })
      this.createdNetwork = false
    }
  }
}

/** The default image's tag: the host's python3 and node versions. */
export function runtimeTag(python: string): string {
  return `${RUNTIME_REPOSITORY}:${basename(python).replace(/[^a-z0-9.]/gi, '')}-node${process.versions.node}`
}

/**
 * Builds the runtime image from this machine's files (no registry): python3 with its standard
 * library, node, dash as /bin/sh, /usr/bin/env, their shared libraries, /tmp. Skipped when the tag
 * exists.
 */
export async function buildRuntimeImage(
  o: { onBuild?: () => void } = {},
): Promise<{ tag: string; built: boolean }> {
  const python = existsSync('/usr/bin/python3') ? realpathSync('/usr/bin/python3') : undefined
  if (!python) throw new Error('python3 is not installed here; name an image with --image')
  const tag = runtimeTag(python)
  if (await imageExists(tag)) return { tag, built: false }
  o.onBuild?.()
  const pyName = basename(python)
  const env = realpathSync('/usr/bin/env')
  await importRootfsImage({
    tag,
    scratchPrefix: 'distlab-maelstrom-image-',
    tarStderr: 'ignore',
    layout: async (fs) => {
      fs.put(python, `/usr/bin/${pyName}`, 0o755)
      fs.put(process.execPath, '/usr/local/bin/node', 0o755)
      fs.put('/usr/bin/dash', '/usr/bin/sh', 0o755)
      fs.put(env, '/usr/bin/env', 0o755)
      const stdlib = `/usr/lib/${pyName}`
      cpSync(stdlib, join(fs.root, stdlib), {
        recursive: true,
        dereference: false,
        filter: (src) =>
          !/\/(test|idlelib|tkinter|turtledemo|ensurepip)(\/|$)/.test(src.slice(stdlib.length)),
      })
      const binaries = [python, process.execPath, '/usr/bin/dash', env]
      const dynload = join(stdlib, 'lib-dynload')
      if (existsSync(dynload)) {
        for (const f of readdirSync(dynload)) if (f.endsWith('.so')) binaries.push(join(dynload, f))
      }
      await fs.libraries(binaries)
      for (const [link, target] of [
        ['usr/bin/python3', pyName],
        ['bin', 'usr/bin'],
        ['lib', 'usr/lib'],
        ['lib64', 'usr/lib64'],
      ] as const) {
        if (!fs.has(link)) {
          mkdirSync(join(fs.root, dirname(link)), { recursive: true })
          symlinkSync(target, join(fs.root, link))
        }
      }
      mkdirSync(join(fs.root, 'usr/lib64'), { recursive: true })
      fs.write('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n')
      fs.write('etc/group', 'root:x:0:\n')
    },
    changes: [
      'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      'ENV PYTHONUNBUFFERED=1',
      `LABEL ${MAELSTROM_LABEL}.runtime=1`,
    ],
    timeoutMs: 600_000,
  })
  return { tag, built: true }
}
