// A node's settings: NodeInit (what a caller passes), and resolveNodeInit, which checks each field,
// names it in the error and fills the defaults; with the member types the settings name (Role,
// Member, and MemberRegistry, the master's registry as a node in the same process sees it).
import { hostname } from 'node:os'
import type { ProtocolFactory, Transport, PeerInfo } from '../core/interfaces.js'
import { checkPort, checkString } from '../core/options.js'
import { DEFAULT_FRAME_PORT, DEFAULT_HTTP_PORT, MASTER_NAME, NAME_PATTERN, newNodeId } from '../core/ids.js'
import { InvalidArgumentError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'
import type { Clock } from '../core/clock.js'
import type { Keyring } from '../core/auth.js'
import type { TelemetryCollector } from '../core/telemetry.js'

export type Role = 'master' | 'node'

export interface Member extends PeerInfo {
  /** When the master last heard a heartbeat, ms since the epoch (master's view only). */
  lastSeen?: number
}

export interface NodeInit {
  /** `master`, `node1`, ... Unique in the cluster. */
  name: string
  /** @default a fresh UUID v4 */
  id?: string
  /** @default 'node', or 'master' when the name is 'master' */
  role?: Role
  /** Address every socket binds to. @default '127.0.0.1' */
  host?: string
  /** Address others are told to use; differs from `host` when binding 0.0.0.0. @default host */
  advertiseHost?: string
  /** HTTP API port; 0 lets the OS choose. @default 5000 */
  httpPort?: number
  /** UDP and TCP frame port; 0 lets the OS choose. @default 7000 */
  framePort?: number
  /** The master's HTTP URL, for joining the cluster and shipping telemetry (ignored on the master). */
  masterUrl?: string
  /** Transports to use instead of UDP and TCP sockets (tests pass memory transports). */
  transports?: { udp: Transport; tcp: Transport }
  protocols?: ProtocolFactory[]
  logger?: Logger
  clock?: Clock
  /** Time between refreshes of the member list from the master, in ms (an unknown destination refreshes at once). @default 5000 */
  membersRefreshMs?: number
  /**
   * The master's registry when it runs in this same process (the in-process launcher): joins and
   * refreshes then read it directly instead of over HTTP.
   */
  registry?: MemberRegistry
  /**
   * The cluster key (`secret` or `id:secret,id:secret`; the first signs): frames are then
   * authenticated and replays refused, and the HTTP API wants the bearer token for every change.
   * @default none: frames unauthenticated, the API open
   */
  key?: string | Keyring
  /** Address the HTTP API binds, when it differs from `host`. @default host */
  httpHost?: string
  /** Peer ranges allowed besides loopback (CIDRs, addresses, host names) for URLs the node calls. @default [] */
  peerRanges?: string[]
  /** Inbound TCP frame connections one remote address may hold open. @default 256 */
  maxConnectionsPerAddress?: number
  /**
   * The master's telemetry collector (monitor/collector.ts's `Collector`): the master records its
   * own events into it and serves `POST /telemetry` and the `/telemetry/*` reads from it. Only for
   * the master. @default none: the master collects nothing (`cluster/node-assembly.ts`'s
   * `createNode` gives every master one)
   */
  collector?: TelemetryCollector
  /**
   * start() leaves the protocols stopped, and `startProtocols()` starts them: a launcher starting
   * many node processes holds each one's until all are up, since the traffic of those already up
   * slowed the starts of the rest (cluster/hold.ts). @default false
   */
  holdProtocols?: boolean
}

/** The master's side of membership, as a node in the same process sees it. */
export interface MemberRegistry {
  register(m: Member): { version: number; members: Member[] }
  memberList(): { version: number; members: Member[] }
}

export interface ResolvedNodeInit {
  name: string
  id: string
  role: Role
  host: string
  advertiseHost: string
  httpPort: number
  framePort: number
  masterUrl?: string
  membersRefreshMs: number
  httpHost: string
  holdProtocols: boolean
}

export function resolveNodeInit(init: NodeInit): ResolvedNodeInit {
  const name = checkString('name', init.name, NAME_PATTERN)
  const host = checkString('host', init.host ?? '127.0.0.1')
  const role = init.role ?? (name === MASTER_NAME ? 'master' : 'node')
  if (role !== 'master' && role !== 'node')
    throw new InvalidArgumentError(`role must be master or node, got ${String(role)}`, 'role')
  if (init.collector !== undefined && role !== 'master')
    throw new InvalidArgumentError(`collector is for the master only; ${name} is a node`, 'collector')
  let masterUrl = init.masterUrl
  if (masterUrl !== undefined) {
    try {
      const u = new URL(masterUrl)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error()
      masterUrl = u.origin
    } catch {
      throw new InvalidArgumentError(
        `masterUrl must be an http(s) URL, got ${JSON.stringify(init.masterUrl)}`,
        'masterUrl',
      )
    }
  }
  return Object.freeze({
    name,
    id: checkString('id', init.id ?? newNodeId()),
    role,
    host,
    advertiseHost: checkString(
      'advertiseHost',
      init.advertiseHost ?? (host === '0.0.0.0' || host === '::' ? hostname() : host),
    ),
    httpPort: checkPort('httpPort', init.httpPort ?? DEFAULT_HTTP_PORT),
    framePort: checkPort('framePort', init.framePort ?? DEFAULT_FRAME_PORT),
    masterUrl: role === 'master' ? undefined : masterUrl,
    membersRefreshMs: init.membersRefreshMs ?? envMembersRefreshMs() ?? 5000,
    httpHost: checkString('httpHost', init.httpHost ?? host),
    holdProtocols: init.holdProtocols === true,
  })
}

/**
 * $DISTLAB_MEMBERS_REFRESH_MS: how often a node re-reads the member list from the master, for node
 * processes a launcher starts (bench/hostile sets it high, so that every request the master counts
 * during an attack is one the attack caused). Ignored unless an integer of 100 ms or more.
 */
function envMembersRefreshMs(): number | undefined {
  const v = Number(process.env.DISTLAB_MEMBERS_REFRESH_MS)
  return Number.isInteger(v) && v >= 100 ? v : undefined
}
