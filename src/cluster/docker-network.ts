// The compose network of the Docker launcher after `down` and before `up`: removing it, and
// telling a network the engine will not release from one that containers still use.
//
// Docker 20.10's libnetwork refuses `network rm` ("has active endpoints") while a per-network
// reference count (endpoint_cnt, kept in its store beside the endpoints) is above zero. Creating and
// deleting 50 endpoints at once on a loaded machine can leave that count one too high: the network
// then has no endpoint at all (`network inspect` lists none, `network disconnect --force` answers
// "endpoint ... not found"), yet the engine keeps it until dockerd restarts and logs "Fixing
// inconsistent endpoint_cnt ... Expected=0, Actual=1". Docker 28.1 dropped the count (moby#49736).
// The count loses its decrements when many endpoints go at once (compose stops every container of
// a project at once): `down` stops them a few at a time instead. Should the engine still keep the
// network, it works: containers attach to it and leave it, so `up` reuses it as compose does.
import { ClusterError } from '../core/errors.js'
import { docker } from './docker-cli.js'

/** How long `down` keeps trying to remove a project's network (2 s, 3 s... up to 5 s apart). */
export const NETWORK_RM_PATIENCE_MS = 60_000
/**
 * How long a network with no endpoint left may still refuse removal before it counts as held by
 * the engine's stale count: the engine deletes an endpoint from its store before it lowers the
 * count, and tearing the interface down between the two takes a few seconds on a busy machine.
 */
export const STALE_COUNT_PATIENCE_MS = 20_000

/**
 * How many containers of a project stop at once at `down` (their endpoints go as they stop).
 * Measured with a throw-away project, `up --scale node=50` then down, two CPU burners beside: with
 * compose stopping all 51 at once, 3 of 6 rounds left the count too high (51 after up, 2 after
 * down, no endpoint left); 4 at a time, 0 of 8 rounds, the 51 stopped in 18-26 s instead of 8-13 s.
 */
export const STOP_CONCURRENCY = 4

/** Stops a compose project's running containers, STOP_CONCURRENCY at a time, `graceS` each. */
export async function stopProjectContainers(
  project: string,
  graceS: number,
  timeoutMs: number,
): Promise<void> {
  const running = (
    await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`], {
      allowFailure: true,
    })
  ).stdout
    .split('\n')
    .filter(Boolean)
  const stopNext = async (): Promise<void> => {
    for (let id = running.shift(); id !== undefined; id = running.shift())
      await docker(['stop', '-t', String(graceS), id], { allowFailure: true, timeoutMs })
  }
  await Promise.all(Array.from({ length: Math.min(STOP_CONCURRENCY, running.length) }, stopNext))
}

/** An endpoint the engine lists on a network. */
export interface NetworkEndpoint {
  /** The endpoint's name: the container's name when it was connected. */
  name: string
  /** The container's id, '' when the endpoint has no sandbox. */
  container: string
  /** The container still exists. */
  live: boolean
  /** Its compose project ('' for a container outside compose or one that is gone). */
  project: string
}

/** A network `down` could not remove, and why. */
export interface KeptNetwork {
  name: string
  /**
   * The endpoints still on it. None: the engine's stale endpoint count holds it (see above); the
   * next `up` reuses it. Some: containers outside the project still use it.
   */
  endpoints: string[]
}

/** The endpoints on a network; undefined when there is no such network. */
export async function networkEndpoints(network: string): Promise<NetworkEndpoint[] | undefined> {
  const r = await docker(['network', 'inspect', network, '--format', '{{json .Containers}}'], {
    allowFailure: true,
    timeoutMs: 30_000,
  })
  if (r.code !== 0) return undefined
  const listed = Object.entries(
    (JSON.parse(r.stdout.trim() || '{}') ?? {}) as Record<string, { Name?: string }>,
  )
  if (listed.length === 0) return []
  // Every container with its project, in one call (an endpoint of a gone container is not there).
  const ps = await docker(
    ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Label "com.docker.compose.project"}}'],
    { allowFailure: true, timeoutMs: 30_000 },
  )
  const projects = new Map(
    ps.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.split(' ')[0]!, line.split(' ')[1] ?? ''] as const),
  )
  return listed.map(([key, ep]) => {
    // A key `ep-<id>` is an endpoint with no sandbox: no container holds it.
    const container = key.startsWith('ep-') ? '' : key
    return {
      name: ep.Name ?? key,
      container,
      live: projects.has(container),
      project: projects.get(container) ?? '',
    }
  })
}

/**
 * Removes a compose project's networks (by its label) and the network named `named` (the compose
 * file's fixed name: compose reuses one of that name that another project left). `settling`:
 * containers were just removed, so their endpoints may still be going, and the removal is tried
 * again, a little later each time, for up to NETWORK_RM_PATIENCE_MS (else once). A network is
 * kept at once when only other projects' containers are on it, and after
 * STALE_COUNT_PATIENCE_MS when it refuses removal with no endpoint left. Returns the kept ones.
 */
export async function removeProjectNetworks(
  project: string,
  named: string | undefined,
  settling: boolean,
  timeoutMs: number,
): Promise<KeptNetwork[]> {
  const started = Date.now()
  let emptySince: number | undefined
  for (let attempt = 1; ; attempt++) {
    const nets = await networksOf(`label=com.docker.compose.project=${project}`, named)
    if (nets.length === 0) return []
    if (attempt > 1) await new Promise((r) => setTimeout(r, Math.min(attempt, 5) * 1000))
    await docker(['network', 'rm', ...nets], { allowFailure: true, timeoutMs })
    const kept = await keptNetworks(nets, attempt >= 3)
    const result = kept.map((k) => ({ name: k.name, endpoints: k.endpoints.map((e) => e.name) }))
    if (kept.length === 0 || !settling) return result
    const now = Date.now()
    if (now - started >= NETWORK_RM_PATIENCE_MS) return result
    // Others' containers: no waiting makes them go.
    const inUse = (k: (typeof kept)[number]) =>
      k.endpoints.length > 0 && k.endpoints.every((e) => e.live && e.project !== project)
    if (kept.every(inUse)) return result
    emptySince = kept.every((k) => k.endpoints.length === 0 || inUse(k)) ? (emptySince ?? now) : undefined
    if (emptySince !== undefined && now - emptySince >= STALE_COUNT_PATIENCE_MS) return result
  }
}

/** The project's networks by label, and the named network when it exists. */
async function networksOf(label: string, named: string | undefined): Promise<string[]> {
  const nets = (
    await docker(['network', 'ls', '--filter', label, '--format', '{{.Name}}'], { allowFailure: true })
  ).stdout
    .split('\n')
    .filter(Boolean)
  if (named && !nets.includes(named) && (await networkEndpoints(named)) !== undefined) nets.push(named)
  return nets
}

/**
 * Which of `nets` still exist, with the endpoints on each. With `disconnectStale`, an endpoint
 * whose container is gone is force-disconnected by its endpoint name first (the only name the
 * engine finds it by) and the removal tried again; a live container's endpoint is never touched.
 */
async function keptNetworks(
  nets: string[],
  disconnectStale: boolean,
): Promise<Array<{ name: string; endpoints: NetworkEndpoint[] }>> {
  const kept: Array<{ name: string; endpoints: NetworkEndpoint[] }> = []
  for (const name of nets) {
    let eps = await networkEndpoints(name)
    if (eps === undefined) continue
    if (disconnectStale && eps.some((e) => !e.live)) {
      for (const e of eps.filter((x) => !x.live))
        await docker(['network', 'disconnect', '--force', name, e.name], {
          allowFailure: true,
          timeoutMs: 30_000,
        })
      if (await removed(name)) continue
      eps = (await networkEndpoints(name)) ?? []
    }
    kept.push({ name, endpoints: eps })
  }
  return kept
}

async function removed(network: string): Promise<boolean> {
  const r = await docker(['network', 'rm', network], { allowFailure: true, timeoutMs: 30_000 })
  return r.code === 0
}

/**
 * Before `compose up` on a fixed network name. A network of that name left empty (by an earlier
 * run, or held by the engine's stale count) is reused, as compose does; one that containers of
 * another project, or outside compose, are attached to is refused: their names would collide.
 */
export async function checkNetworkForUp(network: string, project: string): Promise<void> {
  const others = ((await networkEndpoints(network)) ?? []).filter((e) => e.live && e.project !== project)
  if (others.length === 0) return
  const names = others.map((e) => e.name)
  throw new ClusterError(
    `network ${network} is in use by ${names.slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}, ` +
      `not of compose project ${project}; stop them first, or name another network with DISTLAB_NETWORK`,
  )
}

/** One line on a network `down` could not remove: why, and what to do. */
export function keptNetworkLine(k: KeptNetwork): string {
  if (k.endpoints.length > 0)
    return `network ${k.name} kept: ${k.endpoints.slice(0, 5).join(', ')}${k.endpoints.length > 5 ? ' and more' : ''} still use it`
  return (
    `network ${k.name} kept: the Docker engine counts an endpoint on it that no container holds ` +
    `(a dockerd bug, gone in Docker 28.1); the next \`up --mode docker\` reuses it; to delete it, ` +
    `restart dockerd, then run \`docker network rm ${k.name}\``
  )
}
