// `distlab run --mode docker` on the real engine (started here when it is not running): a seed-002
// Flask bootstrap and nodes as containers named `bootstrap`, `node1`.. on Proj1-distributed-network,
// from an image imported from this machine's python3 and python3-flask. Faults act inside the
// containers' own namespaces; stop() removes every container (and the network, when it made it).
// test-shares: proj1-network container-names (bootstrap, node1..node3 on Proj1-distributed-network)
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startForeignCluster, type ForeignCluster } from '../../src/foreign/index.js'
import { RunReader } from '../../src/monitor/store.js'
import { binPath, scratchDir, waitFor } from '../helpers.js'
import { buildPythonImage } from './python-image.js'

const ROOT = join(binPath(), '..', '..')
const IMAGE = 'distlab-test-python:foreign'
const NETWORK = 'Proj1-distributed-network'
const stateDir = scratchDir('distlab-foreign-docker-')
let cluster: ForeignCluster | undefined

before(() => {
  const start = spawnSync('bash', [join(ROOT, 'scripts', 'docker-start.sh')], {
    stdio: 'ignore',
    timeout: 120_000,
  })
  assert.equal(start.status, 0, 'the Docker engine did not start')
  buildPythonImage(IMAGE, join(ROOT, 'test', 'foreign', 'programs'))
})

after(async () => {
  await cluster?.stop()
})

/** GET from inside a container (its own Python), without blocking this process's relays. */
function fetchIn(container: string, url: string): Promise<{ ok: boolean; body: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      'docker',
      [
        'exec',
        container,
        'python3',
        '-c',
        `import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(${JSON.stringify(url)}, timeout=5).read().decode())`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    let body = ''
    child.stdout.on('data', (d: Buffer) => (body += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ ok: code === 0, body })
    })
  })
}

const UUID = /^Node [0-9a-f-]{36} is running!$/

test('containers named bootstrap, node1..node3 on Proj1-distributed-network, with faults on their traffic', async () => {
  cluster = await startForeignCluster({
    mode: 'docker',
    bootstrapImage: IMAGE,
    bootstrap: 'python3 /app/bootstrap.py {port}',
    nodeImage: IMAGE,
    node: 'python3 /app/node.py',
    nodes: 3,
    env: { PERIOD: '0.3' },
    stateDir,
    runsDir: join(stateDir, 'runs'),
    readyTimeoutMs: 60_000,
  })
  const c = cluster
  assert.deepEqual(
    c.instances.map((i) => [i.name, i.container, i.hostname]),
    [
      ['bootstrap', 'bootstrap', 'bootstrap'],
      ['node1', 'node1', 'node1'],
      ['node2', 'node2', 'node2'],
      ['node3', 'node3', 'node3'],
    ],
  )
  const net = spawnSync(
    'docker',
    ['inspect', '-f', `{{index .NetworkSettings.Networks "${NETWORK}"}}`, 'node2'],
    {
      encoding: 'utf8',
    },
  )
  assert.notEqual(net.stdout.trim(), '<no value>')
  // Reachable from the host at its container address.
  const node2 = c.instances.find((i) => i.name === 'node2')!
  const res = await fetch(`${node2.url}/`, { signal: AbortSignal.timeout(5000) })
  assert.match(((await res.json()) as { message: string }).message, UUID)
  // The nodes found each other through the bootstrap (by container name) and talk.
  await waitFor(
    'node1 to log a message from node3',
    () => c.logs('node1').some((l) => l.startsWith('Received message from node3: ')),
    60_000,
  )

  c.setLink('*', '*', { loss: 0.3 })
  await waitFor(
    'loss drops between containers in the run',
    () => {
      const r = new RunReader(c.runFile!)
      try {
        return [...r.events()].filter((e) => e.kind === 'drop' && e.reason === 'loss').length >= 5
      } finally {
        r.close()
      }
    },
    30_000,
    250,
  )
  c.heal()

  c.partition([
    ['bootstrap', 'node1'],
    ['node2', 'node3'],
  ])
  await waitFor(
    'node2 cut from node1',
    async () => !(await fetchIn('node2', 'http://node1:5000/')).ok,
    30_000,
  )
  assert.match(
    (JSON.parse((await fetchIn('node2', 'http://node3:5000/')).body) as { message: string }).message,
    UUID,
  )
  c.heal()
  await waitFor(
    'node2 reaches node1 again',
    async () => (await fetchIn('node2', 'http://node1:5000/')).ok,
    30_000,
  )

  await c.kill('node3')
  assert.equal(c.running('node3'), false)
  await c.restart('node3')
  assert.equal(c.running('node3'), true)
  // Rules are put back in the restarted container's namespace: its traffic is relayed again.
  const before = c.traffic().find((t) => t.from === 'node3' && t.to === 'node1')?.messages ?? 0
  await waitFor(
    'node3 traffic through the relay after restart',
    () => (c.traffic().find((t) => t.from === 'node3' && t.to === 'node1')?.messages ?? 0) > before,
    30_000,
    250,
  )
})

test('stop removes every container, and the network it made', async () => {
  const created = spawnSync(
    'docker',
    ['network', 'inspect', '-f', '{{index .Labels "distlab.foreign"}}', NETWORK],
    {
      encoding: 'utf8',
    },
  ).stdout.trim()
  await cluster!.stop()
  cluster = undefined
  const left = spawnSync('docker', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' }).stdout.split(
    '\n',
  )
  for (const name of ['bootstrap', 'node1', 'node2', 'node3'])
    assert.ok(!left.includes(name), `${name} is left`)
  if (created === '1') assert.notEqual(spawnSync('docker', ['network', 'inspect', NETWORK]).status, 0)
})
