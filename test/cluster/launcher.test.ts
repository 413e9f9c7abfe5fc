// The local launchers behind the Launcher interface: child processes and in-process nodes run the
// shared launcher suite (link rules, partition, heal, pause, kill -9, restart, logs, the record).
// Loopback block 141 (127.141.x.y) and scratch state dirs of their own.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createLauncher } from '../../src/cluster/create-launcher.js'
import { LocalLauncher } from '../../src/cluster/local-launcher.js'
import { scratchDir } from '../helpers.js'
import { launcherConformance } from './launcher-suite.js'

const BLOCK = 141

describe('local launchers behind the Launcher interface', { timeout: 180_000 }, () => {
  test('process mode: every control, pause by SIGSTOP, a keyed cluster', async () => {
    const l = createLauncher({
      mode: 'process',
      nodes: 2,
      stateDir: scratchDir(),
      block: BLOCK,
      dashboardPort: 0,
      key: 'launcher test key 1',
    })
    assert.ok(l instanceof LocalLauncher)
    assert.equal(l.keyed, true)
    assert.deepEqual(l.list(), [])
    try {
      await l.start()
      await launcherConformance(l, { canPause: true, handle: 'pid' })
    } finally {
      await l.stop()
      await l.stop()
    }
    assert.equal(l.record(), undefined, 'stop removes the record')
  })

  test('inproc mode: every control but pause, which says why it cannot', async () => {
    const l = createLauncher({
      mode: 'inproc',
      nodes: 2,
      stateDir: scratchDir(),
      block: BLOCK,
      dashboardPort: 0,
    })
    assert.equal(l.mode, 'inproc')
    try {
      await l.start()
      await launcherConformance(l, { canPause: false, handle: 'pid' })
    } finally {
      await l.stop()
    }
  })

  test('an unknown mode is a usage error naming the modes', () => {
    assert.throws(() => createLauncher({ mode: 'k8s' as never, nodes: 1, stateDir: scratchDir() }), {
      code: 'ERR_INVALID_ARGUMENT',
    })
  })
})
