import { Node } from '../src/node/node.ts'
import { createRootLogger } from '../src/core/logger.ts'
const logger = createRootLogger({ write: (l) => process.stdout.write(l) })
const master = new Node({ name: 'master', host: '127.0.1.1', httpPort: 0, framePort: 0, logger })
await master.start()
const n1 = new Node({
  name: 'node1',
  host: '127.0.2.1',
  httpPort: 0,
  framePort: 0,
  masterUrl: master.httpUrl,
  logger,
})
await n1.start()
const n2 = new Node({
  name: 'node2',
  host: '127.0.2.2',
  httpPort: 0,
  framePort: 0,
  masterUrl: master.httpUrl,
  logger,
})
await n2.start()
await n1.refreshMembers()
console.log(await n1.pinger.ping('node2'))
console.log(await n1.pinger.ping('node2', 1000, 'tcp'))
const r = await fetch(n2.httpUrl + '/message', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ sender: 'Node1', msg: 'Hello Node2!' }),
})
console.log(r.status, await r.text())
const big = await fetch(n2.httpUrl + '/message', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: 'x'.repeat(10_000_000),
}).catch((e) => e)
console.log(big.status, big.status ? await big.text() : big)
const bad = await fetch(n2.httpUrl + '/message', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"sender": 3}',
})
console.log(bad.status, await bad.text())
await new Promise((r) => setTimeout(r, 1500))
console.log(master.collector!.stats())
console.log((await (await fetch(n2.httpUrl + '/metrics')).text()).slice(0, 800))
await n1.stop()
await n2.stop()
await master.stop()
