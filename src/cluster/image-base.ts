// Which base image `distlab deploy image` builds FROM, and the cleanup after the build (issue 16
// item 12). On a machine that cannot reach an image registry the default base cannot be pulled:
// that is detected from the engine's own error (a DNS or connection failure, not "no such image")
// and the base is imported from this host's node binary instead, as scripts/docker-build-image.sh
// does. (buildImage removes the first stage's image the legacy builder leaves behind.)
import { DockerError, buildLocalBaseImage, docker, imageExists } from './docker.js'

/** Time allowed for `docker pull` of the base image, in ms (a slow mirror still gets its chance). */
export const BASE_PULL_TIMEOUT_MS = 300_000

/**
 * What the engine says when it cannot reach a registry at all: name resolution, connection or TLS
 * failures, timeouts. "manifest unknown" or "pull access denied" (the registry answered) are not.
 */
const UNREACHABLE =
  /no such host|server misbehaving|temporary failure in name resolution|dial tcp|i\/o timeout|connection refused|network is unreachable|no route to host|tls handshake timeout|client\.timeout exceeded|context deadline exceeded|proxyconnect/i

/** True when a `docker pull` error means "no registry reachable from here". */
export function isRegistryUnreachable(output: string): boolean {
  return UNREACHABLE.test(output)
}

/** The engine's message without its "Error response from daemon:" prefix, on one line. */
function firstLine(output: string): string {
  const line =
    output
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ''
  return line.replace(/^Error response from daemon:\s*/i, '')
}

export interface BaseImageChoice {
  /** The image to build FROM. */
  tag: string
  /** How it was found: on the engine already, pulled now, or imported from this host's node. */
  source: 'present' | 'pulled' | 'local-base'
  /** With 'local-base' after a failed pull: the engine's reason, one line. */
  reason?: string
  /** With 'local-base': false when the imported base was cached from an earlier build. */
  built?: boolean
}

export interface ResolveBaseInit {
  /** The base asked for (--base). */
  base: string
  /** --local-base: import from this host without trying a registry. */
  localBase?: boolean
  /** --rebuild-base: import again even when the tag exists. */
  rebuildBase?: boolean
  /**
   * Fall back to the imported base when the registry cannot be reached. The default base only: a
   * base the user named is theirs, and a failure to pull it is reported. @default true
   */
  fallback?: boolean
  pullTimeoutMs?: number
}

/** Finds or makes the base image (see the file's opening comment). */
export async function resolveBaseImage(init: ResolveBaseInit): Promise<BaseImageChoice> {
  if (init.localBase) {
    const b = await buildLocalBaseImage({ force: init.rebuildBase })
    return { tag: b.tag, source: 'local-base', built: b.built }
  }
  if (await imageExists(init.base)) return { tag: init.base, source: 'present' }
  const pull = await docker(['pull', '--quiet', init.base], {
    allowFailure: true,
    timeoutMs: init.pullTimeoutMs ?? BASE_PULL_TIMEOUT_MS,
  })
  if (pull.code === 0) return { tag: init.base, source: 'pulled' }
  const output = `${pull.stderr}\n${pull.stdout}`
  const reason = firstLine(output) || `docker pull exited ${pull.code}`
  if (init.fallback === false || !isRegistryUnreachable(output))
    throw new DockerError(
      isRegistryUnreachable(output)
        ? `cannot pull base image ${init.base}: no registry reachable (${reason}); use --local-base to import one from this host's node`
        : `cannot pull base image ${init.base}: ${reason}`,
    )
  const b = await buildLocalBaseImage({ force: init.rebuildBase })
  return { tag: b.tag, source: 'local-base', reason, built: b.built }
}
