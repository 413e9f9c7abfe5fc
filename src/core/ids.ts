// Node identity and the local address plan of DESIGN.md: every node on its own loopback address so
// that all of them can use the same ports, as containers do.
import { randomUUID } from 'node:crypto'
import { InvalidArgumentError } from './errors.js'

export const MASTER_NAME = 'master'
/** What a node's name may be: letters, digits, `_`, `.` and `-`, up to 63, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
export const MASTER_HOST = '127.0.1.1'
export const DEFAULT_HTTP_PORT = 5000
/** distlab's own node-to-node frames (UDP datagrams and TCP streams share the number). */
export const DEFAULT_FRAME_PORT = 7000

export function newNodeId(): string {
  return randomUUID()
}

export function nodeName(index: number): string {
  if (!Number.isInteger(index) || index < 1)
    throw new InvalidArgumentError(`node index must be an integer >= 1, got ${index}`)
  return `node${index}`
}

/** `node7` → 7; `master` → 0; anything else → undefined. */
export function nodeIndex(name: string): number | undefined {
  if (name === MASTER_NAME) return 0
  const m = /^node([1-9][0-9]*)$/.exec(name)
  return m ? Number(m[1]) : undefined
}

export const MAX_LOCAL_NODES = 254 * 253

/**
 * node i (1-based) → 127.B.(2 + ⌊(i−1)/254⌋).(1 + (i−1) mod 254): node1 127.0.2.1, node255 127.0.3.1;
 * the master (index 0) → 127.B.1.1. B, the block, is 0 unless a second cluster (a test run beside a
 * user's cluster, say) must not collide with the first.
 */
export function loopbackHost(index: number, block = 0): string {
  if (!Number.isInteger(block) || block < 0 || block > 255)
    throw new InvalidArgumentError(`address block must be 0..255, got ${block}`)
  if (index === 0) return `127.${block}.1.1`
  if (!Number.isInteger(index) || index < 1 || index > MAX_LOCAL_NODES)
    throw new InvalidArgumentError(`node index must be between 1 and ${MAX_LOCAL_NODES}, got ${index}`)
  const third = 2 + Math.floor((index - 1) / 254)
  const fourth = 1 + ((index - 1) % 254)
  return `127.${block}.${third}.${fourth}`
}

export type AddressPlan = 'loopback' | 'shared'

export interface NodeAddress {
  host: string
  httpPort: number
  framePort: number
}

/**
 * Where a node of the local cluster listens. `shared` is the fallback for systems without the
 * whole 127/8 on loopback (macOS): everyone on 127.0.0.1, ports spaced by node index.
 */
export function localAddress(index: number, plan: AddressPlan = 'loopback', block = 0): NodeAddress {
  if (plan === 'loopback')
    return { host: loopbackHost(index, block), httpPort: DEFAULT_HTTP_PORT, framePort: DEFAULT_FRAME_PORT }
  const base = 20000 + block * 200
  if (base + index * 2 + 1 > 65535)
    throw new InvalidArgumentError(`too many nodes for the shared address plan: ${index}`)
  return { host: '127.0.0.1', httpPort: base + index * 2, framePort: base + index * 2 + 1 }
}
