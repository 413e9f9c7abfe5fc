// A master and n nodes whose frames travel over memory transports (membership and HTTP on real
// loopback sockets in 127.30.x.y, OS-chosen ports): the protocol tests of issue 3 share it.
import type { Node } from '../../../src/node/node.js'
import { createNode } from '../../../src/cluster/node-assembly.js'
import { MemoryNetwork, MemoryTransport } from '../../../src/transport/memory.js'
import type { ProtocolFactory } from '../../../src/core/interfaces.js'
import type { Clock } from '../../../src/core/clock.js'

export interface MemoryCluster {
  master: Node
  nodes: Node[]
  stop(): Promise<void>
}

export async function memoryCluster(
  n: number,
  protocols: (name: string) => ProtocolFactory[],
  subnet = 10,
  clock?: Clock,
): Promise<MemoryCluster> {
  const udpNet = new MemoryNetwork()
  const tcpNet = new MemoryNetwork()
  let port = 30_000
  const make = (name: string, host: string, masterUrl?: string) => {
    const p = port++
    return createNode({
      name,
      host,
      httpPort: 0,
      framePort: p,
      masterUrl,
      clock,
      protocols: protocols(name),
      transports: {
        udp: new MemoryTransport({ network: udpNet, host, port: p }),
        tcp: new MemoryTransport({ network: tcpNet, host, port: p }),
      },
    })
  }
  const master = make('master', `127.30.${subnet}.1`)
  const nodes: Node[] = []
  const stop = async () => {
    for (const node of nodes) await node.stop()
    await master.stop()
  }
  try {
    await master.start()
    for (let i = 1; i <= n; i++) {
      const node = make(`node${i}`, `127.30.${subnet + 1}.${i}`, master.httpUrl)
      nodes.push(node)
      await node.start()
    }
    // Every view complete before the test begins; a master slow on a loaded machine gets three tries.
    for (const node of nodes)
      for (let attempt = 1; ; attempt++) {
        try {
          await node.refreshMembers()
          break
        } catch (err) {
          if (attempt >= 3) throw err
        }
      }
  } catch (err) {
    // What started must stop, or its sockets and timers keep the test process alive.
    await stop()
    throw err
  }
  return { master, nodes, stop }
}
