// One image for the Docker test files that need the project's image but do not test how it is
// built (launcher.test, download.test): tagged by a digest of what goes into it, built by the first
// file that asks and kept, like the base image imported from the host's node, for the next file
// and the next run. docker.test and image-and-dashboard.test still build their own: building is
// what they test.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  PACKAGE_ROOT,
  buildImage,
  buildLocalBaseImage,
  docker,
  imageExists,
} from '../../src/cluster/docker.js'

export const SHARED_REPOSITORY = 'distlab-test-shared'
/** Other digests of the shared image older than this are removed when a new one is built. */
const KEEP_OLD_MS = 6 * 3600_000

/**
 * A digest of the build context: the files prepareBuildContext copies (package.json, bin/,
 * dist/src/, web/, deploy/, contrib/, data/), package-lock.json in place of the production
 * node_modules it decides (npm ci installs exactly the lock), and node's version (the native
 * add-ons' ABI).
 */
export function contextDigest(root = PACKAGE_ROOT): string {
  const hash = createHash('sha256').update(process.version)
  const add = (rel: string) => {
    const p = join(root, rel)
    if (!existsSync(p)) return
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p).sort()) add(`${rel}/${name}`)
      return
    }
    hash.update(`\0${rel}\0`).update(readFileSync(p))
  }
  for (const rel of ['package.json', 'package-lock.json', 'bin', 'dist/src', 'web', 'deploy', 'contrib'])
    add(rel)
  for (const rel of ['data/lines.txt', 'data/README.md']) add(rel)
  return hash.digest('hex').slice(0, 16)
}

/** Runs `fn` holding a lock directory (two Docker files may ask for the image at once). */
async function locked<T>(dir: string, fn: () => Promise<T>, waitMs = 15 * 60_000): Promise<T> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      mkdirSync(dir)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      // A holder that died (its build far over any build's time) does not block forever.
      // (The holder may have released it since: then there is nothing to stat.)
      const heldSince = statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()
      if (Date.now() - heldSince > waitMs) rmSync(dir, { force: true, recursive: true })
      if (Date.now() > deadline) throw new Error(`${dir} held for over ${waitMs} ms`, { cause: err })
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The shared image's tag, built now when no image of this digest exists. */
export async function sharedTestImage(): Promise<string> {
  const key = contextDigest()
  const tag = `${SHARED_REPOSITORY}:${key}`
  await locked(join(tmpdir(), `${SHARED_REPOSITORY}-${key}.lock`), async () => {
    if (await imageExists(tag)) return
    const base = await buildLocalBaseImage()
    await buildImage({ tag, baseImage: base.tag, timeoutMs: 600_000 })
    await removeOldDigests(key)
  })
  return tag
}

/**
 * Removes the shared images of other digests built long ago (another tree's run may use a recent
 * one), without force: an image a container still uses stays.
 */
async function removeOldDigests(key: string): Promise<void> {
  const r = await docker(['images', SHARED_REPOSITORY, '--format', '{{.Tag}} {{.CreatedAt}}'], {
    allowFailure: true,
  })
  for (const line of r.stdout.split('\n')) {
    const [tag, ...created] = line.trim().split(' ')
    if (!tag || tag === key) continue
    // CreatedAt reads `2026-12-06 02:10:00 +0000 UTC`.
    const at = Date.parse(created.slice(0, 3).join(' ').replace(' ', 'T').replace(' ', ''))
    if (Number.isFinite(at) && Date.now() - at > KEEP_OLD_MS)
      await docker(['rmi', `${SHARED_REPOSITORY}:${tag}`], { allowFailure: true })
  }
}
