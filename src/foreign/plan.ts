// The plan of a foreign cluster: its instances (the master, the bootstrap, node 1..N), the address
// each gets (a container's name, a namespace's slot of the /24, or distlab's 127.x loopback plan),
// and its command and environment with the placeholders ({host}, {port}, {peers}...) filled in.
// A Member is also where the supervisor (cluster.ts) keeps what it knows of the running instance.
import type { ChildProcess } from 'node:child_process'
import type { WriteStream } from 'node:fs'
import { loopbackHost } from '../core/ids.js'
import {
  expand,
  instanceEnv,
  type ForeignRole,
  type PlaceholderValues,
  type ResolvedForeignSpec,
} from './spec.js'
import { slotAddress } from './netns.js'

export interface Member {
  name: string
  role: ForeignRole
  index: number
  slot: number
  /** What the instance's placeholders call it: an address, or the container's name. */
  host: string
  /** Where this machine reaches it. */
  ip: string
  command: string
  env: Map<string, string>
  image?: string
  netns?: string
  /** The host address relays speak as this instance from (source.ts). */
  alias?: string
  child?: ChildProcess
  container?: string
  pid?: number
  paused: boolean
  exited: boolean
  log?: WriteStream
  lines: string[]
}

/** The instances `s` asks for, with addresses, commands and environments (isolated: in namespaces). */
export function planMembers(s: ResolvedForeignSpec, isolated: boolean): Member[] {
  const roles: Array<{ role: ForeignRole; name: string; index: number; command?: string; image?: string }> =
    []
  if (s.master !== undefined)
    roles.push({
      role: 'master',
      name: 'master',
      index: 0,
      command: s.master,
      image: s.masterImage ?? s.nodeImage,
    })
  if (s.bootstrap !== undefined)
    roles.push({
      role: 'bootstrap',
      name: 'bootstrap',
      index: 0,
      command: s.bootstrap,
      image: s.bootstrapImage ?? s.nodeImage,
    })
  for (let i = 1; i <= s.nodes; i++)
    roles.push({ role: 'node', name: `node${i}`, index: i, command: s.node, image: s.nodeImage })
  // Addresses: containers get theirs from Docker (filled in at start); namespaces a slot of the
  // /24 (master .2, bootstrap .3, node i .3+i); plain processes distlab's 127.x plan (the
  // bootstrap beside the master at 127.B.1.2).
  const members: Member[] = roles.map((r) => {
    const slot = r.role === 'master' ? 2 : r.role === 'bootstrap' ? 3 : 3 + r.index
    const host =
      s.mode === 'docker'
        ? r.name
        : isolated
          ? slotAddress(s.block, slot)
          : r.role === 'bootstrap'
            ? `127.${s.block}.1.2`
            : loopbackHost(r.index, s.block)
    return {
      name: r.name,
      role: r.role,
      index: r.index,
      slot,
      host,
      ip: host,
      command: r.command ?? '',
      image: r.image,
      env: new Map(),
      paused: false,
      exited: false,
      lines: [],
    }
  })
  const url = (m: Member) => `http://${m.host}:${s.port}`
  const bootstrap = members.find((m) => m.role === 'bootstrap')
  const master = members.find((m) => m.role === 'master')
  for (const m of members) {
    const v: PlaceholderValues = {
      host: m.host,
      port: s.port,
      name: m.name,
      index: m.index,
      bootstrap: bootstrap ? url(bootstrap) : '',
      master: master ? `${master.host}:${s.port}` : '',
      peers: members
        .filter((x) => x !== m)
        .map(url)
        .join(','),
    }
    m.command = expand(m.command, v)
    m.env = instanceEnv(v, m.role === 'node' ? s.env : m.role === 'bootstrap' ? s.bootstrapEnv : s.masterEnv)
  }
  return members
}
