// Which addresses the local cluster uses, and checks that they are free before anything starts.
import { createServer } from 'node:net'
import { createSocket } from 'node:dgram'
import { localAddress, MASTER_NAME, nodeName, type AddressPlan } from '../core/ids.js'
import { wrapSocketError } from '../core/errors.js'

export interface PlannedNode {
  name: string
  index: number
  host: string
  httpPort: number
  framePort: number
}

/** True when this system routes all of 127/8 to loopback (Linux does; macOS only 127.0.0.1). */
export async function loopbackRangeWorks(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(0, '127.0.2.1', () => s.close(() => resolve(true)))
  })
}

export function planCluster(nodes: number, plan: AddressPlan, block = 0): PlannedNode[] {
  const out: PlannedNode[] = []
  for (let i = 0; i <= nodes; i++)
    out.push({ name: i === 0 ? MASTER_NAME : nodeName(i), index: i, ...localAddress(i, plan, block) })
  return out
}

async function tcpFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createServer()
    s.once('error', (err) => reject(wrapSocketError(err, `port ${port} on ${host}`)))
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve()))
  })
}

async function udpFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', (err) => {
      s.close()
      reject(wrapSocketError(err, `UDP port ${port} on ${host}`))
    })
    s.bind(port, host, () => s.close(() => resolve()))
  })
}

/** Throws AddressInUseError naming the first busy address. */
export async function checkAddressesFree(nodes: PlannedNode[]): Promise<void> {
  for (const n of nodes) {
    await tcpFree(n.host, n.httpPort)
    await tcpFree(n.host, n.framePort)
    await udpFree(n.host, n.framePort)
  }
}

/** Resolves when nothing listens on any of the nodes' addresses any more (or after timeoutMs). */
export async function waitAddressesFree(nodes: PlannedNode[], timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await checkAddressesFree(nodes)
      return true
    } catch {
      if (Date.now() > deadline) return false
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}
