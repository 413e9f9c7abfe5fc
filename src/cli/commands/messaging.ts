// Commands for unicast, broadcast, multicast and anycast (issue 3), each in a file of its own:
//   send unicast|broadcast|multicast   messaging-send.ts
//   group join|leave|list              messaging-group.ts
//   anycast serve|client               messaging-anycast.ts
//   bench broadcast|unicast|...        messaging-bench.ts (its cluster harness: bench-cluster.ts)
//   multicast send|recv                messaging-ip-multicast.ts
// This file registers them, in that order (the order of `distlab --help`).
import type { Command } from 'commander'
import { registerSendCommands } from './messaging-send.js'
import { registerGroupCommands } from './messaging-group.js'
import { registerAnycastCommands } from './messaging-anycast.js'
import { registerMessagingBenches } from './messaging-bench.js'
import { registerIpMulticastCommands } from './messaging-ip-multicast.js'

export { withBenchCluster, parseKill, type BenchClusterInit } from './bench-cluster.js'
export { printBroadcastReport } from './messaging-bench.js'

export function registerMessagingCommands(program: Command): void {
  registerSendCommands(program)
  registerGroupCommands(program)
  registerAnycastCommands(program)
  registerMessagingBenches(program)
  registerIpMulticastCommands(program)
}
