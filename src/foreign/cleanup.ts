// What `distlab down` does after a foreign cluster's supervisor is gone (or was killed with -9):
// ends the instances it started, removes their namespaces, bridge and host rule, or their
// containers and the network distlab made. Only what the record names and what proves to be ours.
import { readFileSync } from 'node:fs'
import type { ClusterRecord } from '../cluster/state.js'
import { isAlive } from '../cluster/state.js'
import { removeIsolation } from './netns.js'
import { removeForeignContainers } from './docker.js'

/** True when the process's environment says it is this instance of a distlab run. */
function isInstance(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`DISTLAB_NAME=${name}`)
  } catch {
    return false
  }
}

export async function cleanupForeign(stateDir: string, rec: ClusterRecord): Promise<{ killed: number }> {
  const info = rec.foreign
  let killed = 0
  if (!info) return { killed }
  for (const i of info.instances) {
    if (!i.pid || i.container || !isAlive(i.pid) || !isInstance(i.pid, i.name)) continue
    try {
      process.kill(-i.pid, 'SIGKILL')
    } catch {
      process.kill(i.pid, 'SIGKILL')
    }
    killed++
  }
  if (info.kind === 'process' && info.isolated) await removeIsolation(rec.block)
  if (info.kind === 'docker')
    await removeForeignContainers(
      stateDir,
      info.instances.map((i) => i.container ?? i.name),
      info.network,
    )
  return { killed }
}
