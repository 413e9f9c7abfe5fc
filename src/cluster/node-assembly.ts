// The node that distlab starts, whichever way it starts it (`distlab master`/`node`, the launchers,
// foreign programs' observer, Maelstrom and p2p runs): node/'s Node with the two protocols every
// node runs (heartbeat, so the master sees who is reachable, and ping, for round trips and
// POST /ping) and, on the master, a telemetry collector. The Node itself knows neither: they are
// handed in here, above both, as any protocol is.
import { Node, type NodeInit } from '../node/node.js'
import { MASTER_NAME } from '../core/ids.js'
import { heartbeat } from '../protocols/heartbeat/index.js'
import { ping } from '../protocols/ping/index.js'
import { Collector } from '../monitor/collector.js'

export type { Node, NodeInit }

/**
 * A Node with heartbeat and ping plugged in before `init.protocols`, and a `Collector` on the
 * master unless `init.collector` brings one.
 */
export function createNode(init: NodeInit): Node {
  const role = init.role ?? (init.name === MASTER_NAME ? 'master' : 'node')
  const node = new Node({
    ...init,
    collector: init.collector ?? (role === 'master' ? new Collector() : undefined),
    // A master is what others beat to; it beats to no one (the foreign observer is a master named
    // `distlab`, whose beats to a `master` that is not there were recorded as drops in the run).
    protocols: [
      heartbeat({ onBeat: (from) => node.seen(from), ...(role === 'master' ? { target: init.name } : {}) }),
      ping(),
      ...(init.protocols ?? []),
    ],
  })
  return node
}
