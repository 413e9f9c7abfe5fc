// The image builder of the Docker launcher (moved from docker.ts, issue 18): the base image
// imported from the host's own node binary, the build context, `docker build` of deploy/Dockerfile
// and the cleanup of its stage images.
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClusterError } from '../core/errors.js'
import { docker, runCommand } from './docker-cli.js'
import { importRootfsImage } from './rootfs-image.js'

/** The repository (or installed package) root: where bin/, dist/, deploy/ and node_modules/ are. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)))

function findPackageRoot(from: string): string {
  // dist/src/cluster when compiled, src/cluster under tsx: the first parent with our package.json
  for (let dir = from, i = 0; i < 6; i++, dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'distlab')
      return dir
  }
  return resolve(from, '../../..')
}
export const DOCKERFILE_PATH = join(PACKAGE_ROOT, 'deploy', 'Dockerfile')
export const DEFAULT_BASE_IMAGE = 'node:20-bookworm-slim'
export const DEFAULT_IMAGE = 'distlab:latest'
/** Tag prefix of the base image imported from the host's node binary; the node version follows. */
export const LOCAL_BASE_REPOSITORY = 'distlab-base'
/** Unprivileged user the image runs as (`node` in the official image). */
export const IMAGE_UID = 1000

export async function imageExists(tag: string): Promise<boolean> {
  const r = await docker(['image', 'inspect', '--format', '{{.Id}}', tag], { allowFailure: true })
  return r.code === 0
}

/** Size of an image in bytes. */
export async function imageSize(tag: string): Promise<number> {
  const r = await docker(['image', 'inspect', '--format', '{{.Size}}', tag])
  return Number(r.stdout.trim())
}

// ---- the base image, imported from the host's node binary ----

export interface LocalBaseImageInit {
  /** @default distlab-base:node-<version of the node binary> */
  tag?: string
  /** The node binary to package. @default the one running this code */
  nodeBinary?: string
  /** Build again even when the tag exists. @default false */
  force?: boolean
  /** Native add-ons whose shared libraries the image needs too. @default those of the production dependencies */
  extraBinaries?: string[]
}

export function localBaseTag(version = process.version): string {
  return `${LOCAL_BASE_REPOSITORY}:node-${version}`
}

const PASSWD = 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n'
const GROUP = 'root:x:0:\nnode:x:1000:\n'
const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\n'

/**
 * Builds a runnable base image without a registry: a root file system holding the host's node
 * binary at /usr/local/bin/node, the shared libraries `ldd` lists for it and for the native
 * add-ons, /etc/passwd with a `node` user (uid 1000) and a /tmp, passed to `docker import`.
 * Skipped when the tag exists already (the cache between runs), unless `force`.
 */
export async function buildLocalBaseImage(
  init: LocalBaseImageInit = {},
): Promise<{ tag: string; built: boolean }> {
  const nodeBinary = init.nodeBinary ?? process.execPath
  const version = init.nodeBinary
    ? (await runCommand(nodeBinary, ['--version'])).stdout.trim()
    : process.version
  const tag = init.tag ?? localBaseTag(version)
  if (!init.force && (await imageExists(tag))) return { tag, built: false }
  await importRootfsImage({
    tag,
    scratchPrefix: 'distlab-base-',
    layout: async (fs) => {
      fs.put(nodeBinary, '/usr/local/bin/node', 0o755)
      await fs.libraries([nodeBinary, ...(init.extraBinaries ?? nativeAddons())])
      fs.write('etc/passwd', PASSWD)
      fs.write('etc/group', GROUP)
      fs.write('etc/nsswitch.conf', NSSWITCH)
      mkdirSync(join(fs.root, 'home/node'), { recursive: true })
      if (process.getuid?.() === 0) chownSync(join(fs.root, 'home/node'), IMAGE_UID, IMAGE_UID)
    },
    changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["node"]'],
    timeoutMs: 300_000,
  })
  return { tag, built: true }
}

/** The `.node` files of the production dependencies. */
export function nativeAddons(root = PACKAGE_ROOT): string[] {
  const out: string[] = []
  for (const dir of productionPackages(root)) {
    const release = join(root, dir, 'build', 'Release')
    const candidates = existsSync(release) ? [release, join(root, dir)] : [join(root, dir)]
    for (const c of candidates) {
      try {
        for (const f of readdirSync(c)) if (f.endsWith('.node')) out.push(join(c, f))
      } catch {
        // no such directory
      }
    }
  }
  return out
}

// ---- the build context ----

/**
 * The packages `npm ci --omit=dev` would install: every `node_modules/...` entry of
 * package-lock.json not marked `dev`, that exists on disk (optional platform packages of other
 * systems do not).
 */
export function productionPackages(root = PACKAGE_ROOT): string[] {
  const lockFile = join(root, 'package-lock.json')
  if (!existsSync(lockFile)) return []
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as {
    packages?: Record<string, { dev?: boolean; link?: boolean }>
  }
  return Object.entries(lock.packages ?? {})
    .filter(([p, meta]) => p.startsWith('node_modules/') && !meta.dev && !meta.link)
    .map(([p]) => p)
    .filter((p) => existsSync(join(root, p)))
}

/** Parts of packages that are not needed at run time (sources and build leftovers of add-ons). */
const CONTEXT_EXCLUDES = [
  /^node_modules\/better-sqlite3\/(deps|src)(\/|$)/,
  /^node_modules\/better-sqlite3\/build\/(Release\/(obj|\.deps|test_extension)|deps)/,
  /\.(md|markdown|ts\.map|d\.ts|d\.mts|d\.cts)$/i,
]

export interface BuildContextInfo {
  dir: string
  bytes: number
  files: number
}

/**
 * Assembles the image's build context in `dir`: app/ (package.json, bin/, dist/src/, web/,
 * deploy/ and the production node_modules) and data/ (the empty state directory). Needs dist/
 * built (`npm run build`).
 */
export function prepareBuildContext(dir: string, root = PACKAGE_ROOT): BuildContextInfo {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js')))
    throw new ClusterError(`${join(root, 'dist')} is not built; run \`npm run build\` first`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'app'), { recursive: true })
  mkdirSync(join(dir, 'data'), { recursive: true })
  writeFileSync(join(dir, 'data', '.keep'), '')
  let bytes = 0
  let files = 0
  const copy = (rel: string) => {
    const from = join(root, rel)
    if (!existsSync(from)) return
    cpSync(from, join(dir, 'app', rel), {
      recursive: true,
      dereference: true,
      filter: (src) => {
        const r = relative(root, src).split('\\').join('/')
        if (CONTEXT_EXCLUDES.some((x) => x.test(r))) return false
        const st = statSync(src)
        if (st.isFile()) {
          bytes += st.size
          files++
        }
        return true
      },
    })
  }
  for (const rel of ['package.json', 'bin', 'dist/src', 'web', 'deploy', 'contrib']) copy(rel)
  // The line server's default text: the lineserver role needs it.
  for (const rel of ['data/lines.txt', 'data/README.md']) copy(rel)
  for (const p of productionPackages(root)) copy(p)
  writeFileSync(join(dir, 'Dockerfile'), readFileSync(join(root, 'deploy', 'Dockerfile')))
  return { dir, bytes, files }
}

export interface BuildImageInit {
  /** @default distlab:latest */
  tag?: string
  /** @default node:20-bookworm-slim */
  baseImage?: string
  root?: string
  timeoutMs?: number
}

/** Builds the project's image from deploy/Dockerfile; returns its tag and size in bytes. */
export async function buildImage(init: BuildImageInit = {}): Promise<{
  tag: string
  baseImage: string
  sizeBytes: number
  context: BuildContextInfo
  buildId: string
}> {
  const tag = init.tag ?? DEFAULT_IMAGE
  const baseImage = init.baseImage ?? DEFAULT_BASE_IMAGE
  const buildId = `${Date.now().toString(36)}-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`
  const dir = mkdtempSync(join(tmpdir(), 'distlab-context-'))
  try {
    const context = prepareBuildContext(join(dir, 'ctx'), init.root)
    await docker(
      [
        'build',
        '--build-arg',
        `BASE_IMAGE=${baseImage}`,
        '--build-arg',
        `DISTLAB_BUILD=${buildId}`,
        '-t',
        tag,
        context.dir,
      ],
      {
        timeoutMs: init.timeoutMs ?? 600_000,
        // The legacy builder: it works with the engine alone (BuildKit would need buildx here).
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      },
    )
    return { tag, baseImage, sizeBytes: await imageSize(tag), context: { ...context, dir: '' }, buildId }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await removeStageImages(buildId)
  }
}

/** The label each build's first stage carries (deploy/Dockerfile), with the build's own id. */
export const BUILD_LABEL = 'dev.distlab.build'

/**
 * Removes the images labelled with one build's id: the first stage of deploy/Dockerfile, which the
 * legacy builder leaves behind untagged (the final image does not carry the label). Returns how many.
 */
export async function removeStageImages(buildId: string): Promise<number> {
  const r = await docker(['images', '--quiet', '--no-trunc', '--filter', `label=${BUILD_LABEL}=${buildId}`], {
    allowFailure: true,
  })
  const ids = [...new Set(r.stdout.split('\n').filter(Boolean))]
  if (ids.length > 0) await docker(['rmi', '--force', ...ids], { allowFailure: true, timeoutMs: 120_000 })
  return ids.length
}
