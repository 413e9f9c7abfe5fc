// Receivers see the sender's address. A relay forwards what a sends to b, so without help b would
// see the relay's address as the source, and a UDP program that answers or identifies its peers
// by source address and port (seed 004's gbn and dv nodes) would talk to the relay, not to a.
//
// How: every namespaced instance a has a source alias 10.214.<block>.<slot> on distlab's bridge
// (a host address, so the relays can bind it), every namespace has a route to those aliases over
// its veth, and inside every other instance b's namespace a rule of the nat table's INPUT chain
// rewrites the source of what arrives from a's alias to a's own address (SNAT keeps the port when
// it can). A relay speaking for a binds a's alias and, for UDP, a's own source port: b sees
// a's address and port, and its answers (conntrack undoes the rewrite) come back to the socket that
// spoke for a, which hands them to the relay of b's port to go back through b's rule for a.
// Docker mode has no aliases: there b still sees the network's gateway.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { bridgeName, exec } from './netns.js'

export const ALIAS_PREFIX = '10.214'
export const aliasAddress = (block: number, slot: number) => `${ALIAS_PREFIX}.${block}.${slot}`
const aliasNet = (block: number) => `${ALIAS_PREFIX}.${block}.0/24`

/** Gives the instance in namespace `ns` its source alias on the bridge, and the route to every alias. */
export async function addSourceAlias(block: number, slot: number, ns: string): Promise<string> {
  const alias = aliasAddress(block, slot)
  await exec('ip', ['addr', 'add', `${alias}/32`, 'dev', bridgeName(block)])
  await exec('ip', ['-n', ns, 'route', 'add', aliasNet(block), 'dev', 'eth0'])
  return alias
}

/** The nat INPUT rules of one namespace: what comes from another instance's alias comes from that instance. */
export function sourceRules(
  self: string,
  instances: Iterable<{ name: string; ip: string; alias?: string }>,
): string {
  let out = ''
  for (const a of instances)
    if (a.name !== self && a.alias) out += `-A DISTLABIN -s ${a.alias}/32 -j SNAT --to-source ${a.ip}\n`
  return out
}

export interface SourceOwner {
  /** The instance's name, address and source port the socket speaks for. */
  name: string
  addr: string
  port: number
}

const MAX_PENDING = 256

/**
 * One UDP socket speaking for (a, a's source port), bound to a's alias and that port (or, if the
 * port is taken on the host, to a free one: b then sees a's address with another port). Shared by
 * every relay a's socket sends through, so a reaches all its peers from one address and port.
 */
export class SourceSocket {
  last = Date.now()
  /** Whether it got a's own port. */
  samePort = false
  private sock: UdpSocket
  private pending: Array<[Buffer, number, string]> | undefined = []
  private closed = false

  constructor(
    readonly alias: string,
    readonly owner: SourceOwner,
    private readonly onMessage: (msg: Buffer, from: RemoteInfo) => void,
  ) {
    this.sock = this.open(owner.port)
  }

  private open(port: number): UdpSocket {
    const s = createSocket('udp4')
    s.on('message', (msg, rinfo) => {
      this.last = Date.now()
      try {
        this.onMessage(msg, rinfo)
      } catch {
        // an answer never breaks the socket
      }
    })
    s.on('error', () => {})
    s.once('error', () => {
      if (this.pending === undefined || this.closed || port === 0) return
      // a's port is taken on the host: speak for a from another port of its alias.
      try {
        s.close()
      } catch {
        // not open
      }
      this.sock = this.open(0)
    })
    s.bind({ port, address: this.alias, exclusive: true }, () => {
      if (this.closed) return
      this.samePort = port !== 0
      const queued = this.pending ?? []
      this.pending = undefined
      for (const [buf, p, host] of queued) this.send(buf, p, host)
    })
    return s
  }

  send(buf: Buffer, port: number, host: string): void {
    if (this.closed) return
    this.last = Date.now()
    if (this.pending) {
      if (this.pending.length < MAX_PENDING) this.pending.push([buf, port, host])
      return
    }
    try {
      this.sock.send(buf, port, host)
    } catch {
      // closed meanwhile
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      this.sock.close()
    } catch {
      // not open
    }
  }
}
