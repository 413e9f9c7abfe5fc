// Kill, restart, pause and resume of one compose container, as the Docker launcher does them and
// as a later command does them on a cluster another process started (attach.ts): `docker kill`
// (the container stays down: the compose file sets no restart policy), `docker start` (or
// `docker restart`) and a new /health, `docker pause` / `unpause`. A restarted container may get a
// new address on the network: the cluster record follows it.
import type { KillSignal } from '../core/cluster-controls.js'
import { ClusterError } from '../core/errors.js'
import { docker } from './docker-cli.js'
import { inspectContainers, waitHealthy, writeContainerRecord } from './docker.js'
import { nodeUrl, type ContainerClusterRecord } from './state.js'

/** Time a killed container has to be seen stopped, and a restarted one to answer, in ms. */
export const CONTAINER_CONTROL_TIMEOUT_MS = 60_000
/** Seconds `docker restart` gives a running container to stop before it kills it. */
const RESTART_STOP_SECONDS = 5
const POLL_MS = 100

/** Sends `signal` to the container of node `name` and waits until the engine sees it stopped. */
export async function killContainer(name: string, id: string, signal: KillSignal): Promise<void> {
  await docker(['kill', '--signal', signal, id], { allowFailure: true })
  const deadline = Date.now() + CONTAINER_CONTROL_TIMEOUT_MS
  while ((await inspectContainers([id]))[0]?.running) {
    if (Date.now() > deadline)
      throw new ClusterError(`${name} still runs ${CONTAINER_CONTROL_TIMEOUT_MS} ms after ${signal}`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/**
 * Starts the container of node `name` again (restarts it when it runs), records its address on the
 * network, waits until the new incarnation answers /health and records its id; writes the record.
 */
export async function restartContainer(
  name: string,
  id: string,
  rec: ContainerClusterRecord,
  stateDir: string,
): Promise<void> {
  const [before] = await inspectContainers([id])
  if (before?.running) await docker(['restart', '-t', String(RESTART_STOP_SECONDS), id])
  else await docker(['start', id])
  const network = rec.docker.network
  const [c] = await inspectContainers([id], network)
  const n = rec.nodes.find((x) => x.name === name)
  if (!c?.ip || !n) throw new ClusterError(`${name} has no address on ${network}`)
  n.host = c.ip
  n.pid = c.pid
  n.container = id
  const ids = await waitHealthy(new Map([[name, nodeUrl(n)]]), CONTAINER_CONTROL_TIMEOUT_MS)
  n.id = ids.get(name)
  writeContainerRecord(stateDir, rec)
}

export async function pauseContainer(id: string): Promise<void> {
  await docker(['pause', id])
}

export async function resumeContainer(id: string): Promise<void> {
  await docker(['unpause', id])
}
