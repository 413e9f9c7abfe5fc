// Foreign programs as cluster members (`distlab run`): the library entry point.
//
//   const c = await startForeignCluster({ node: 'python3 node.py {port}', nodes: 4, stateDir })
//   c.instances            // [{ name, role, index, host, hostname, port, url, pid, container, netns, running, paused }]
//   c.logs('node1')        // its output lines so far
//   await c.kill('node2'); await c.restart('node2'); await c.pause('node3'); await c.resume('node3')
//   c.setLink('*', '*', { loss: 0.3 }); c.partition([['node1'], ['node2']]); c.heal()
//   c.runId                // the run the relays' telemetry goes to (`distlab analyze <runId>`)
//   await c.stop()
export { ForeignCluster, startForeignCluster, type ForeignInstance } from './cluster.js'
export {
  resolveForeignSpec,
  parseEnvPairs,
  expand,
  DEFAULT_FOREIGN_NETWORK,
  DEFAULT_FOREIGN_PORT,
  MAX_FOREIGN_NODES,
  type ForeignSpec,
  type ForeignRole,
  type PlaceholderValues,
} from './spec.js'
export { cleanupForeign } from './cleanup.js'
