import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loopbackHost, localAddress, newNodeId, nodeIndex, nodeName } from '../../src/core/ids.js'
import { parseDuration, parseHostPort, checkInteger } from '../../src/core/options.js'
import { InvalidArgumentError } from '../../src/core/errors.js'

test('the address plan of DESIGN.md', () => {
  assert.equal(loopbackHost(0), '127.0.1.1')
  assert.equal(loopbackHost(1), '127.0.2.1')
  assert.equal(loopbackHost(4), '127.0.2.4')
  assert.equal(loopbackHost(254), '127.0.2.254')
  assert.equal(loopbackHost(255), '127.0.3.1')
  assert.equal(loopbackHost(1, 10), '127.10.2.1')
  assert.deepEqual(localAddress(2), { host: '127.0.2.2', httpPort: 5000, framePort: 7000 })
  const shared = [0, 1, 2].map((i) => localAddress(i, 'shared'))
  assert.ok(shared.every((a) => a.host === '127.0.0.1'))
  const ports = shared.flatMap((a) => [a.httpPort, a.framePort])
  assert.equal(new Set(ports).size, ports.length, 'shared plan gives every node distinct ports')
})

test('names and ids', () => {
  assert.equal(nodeName(3), 'node3')
  assert.equal(nodeIndex('node42'), 42)
  assert.equal(nodeIndex('master'), 0)
  assert.equal(nodeIndex('nodeX'), undefined)
  assert.match(newNodeId(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.throws(() => nodeName(0), InvalidArgumentError)
})

test('option parsing names the field and the rule', () => {
  assert.equal(parseDuration('d', '50ms'), 50)
  assert.equal(parseDuration('d', '1.5s'), 1500)
  assert.equal(parseDuration('d', '2m'), 120_000)
  assert.equal(parseDuration('d', '250'), 250)
  assert.throws(
    () => parseDuration('--delay', 'soon'),
    (err: InvalidArgumentError) => err.code === 'ERR_INVALID_ARGUMENT' && err.message.includes('--delay'),
  )
  assert.deepEqual(parseHostPort('s', '127.0.0.1:9801'), { host: '127.0.0.1', port: 9801 })
  assert.deepEqual(parseHostPort('s', 'lineserver', 9801), { host: 'lineserver', port: 9801 })
  assert.throws(() => parseHostPort('--server', 'host:99999'), { code: 'ERR_INVALID_ARGUMENT' })
  assert.throws(() => checkInteger('nodes', 1.5, 1), /nodes must be an integer/)
})
