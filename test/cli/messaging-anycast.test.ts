// `distlab anycast serve|client` as seed 001 runs them: three replicas on one port, a client that
// prints `Received: Hello from server` per request and survives a replica killed mid-run.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createServer } from 'node:net'
import { binPath, runCli as run, scratchDir, waitFor } from '../helpers.js'

const PORT = '15000'
const hosts = ['127.30.7.1', '127.30.7.2', '127.30.7.3']
// Replica records go to a state dir of this test's own, not the checkout's .distlab.
const env = { DISTLAB_HOME: scratchDir() }
const runCli = (args: string[]) => run(args, { env })

function serve(
  host: string | undefined,
  name: string,
  port = PORT,
  home = env.DISTLAB_HOME,
): { child: ChildProcessWithoutNullStreams; out: () => string } {
  const child = spawn(
    process.execPath,
    [binPath(), 'anycast', 'serve', ...(host ? ['--host', host] : []), '--port', port, '--name', name],
    { env: { ...process.env, DISTLAB_HOME: home } },
  )
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  return { child, out: () => out }
}

describe('distlab anycast serve|client', () => {
  const servers = hosts.map((h, i) => serve(h, `replica${i + 1}`))
  after(() => {
    for (const s of servers) s.child.kill('SIGKILL')
  })

  test('serve prints the seed line; client prints one Received line per request and the spread', async () => {
    for (const [i, s] of servers.entries())
      await waitFor(
        'a replica',
        () => s.out().startsWith(`[server] listening on ${hosts[i]}:${PORT}\n`),
        20_000,
      )
    const targets = hosts.map((h) => `${h}:${PORT}`).join(',')
    const r = await runCli(['anycast', 'client', '--targets', targets, '--requests', '3'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.deepEqual(lines.slice(0, 3), Array(3).fill('Received: Hello from server'))
    assert.match(r.stdout, /3\/3 answered, 0 lost/)
    const j = await runCli([
      'anycast',
      'client',
      '--targets',
      targets,
      '--requests',
      '30',
      '--policy',
      'least-loaded',
      '--json',
    ])
    const body = JSON.parse(j.stdout) as {
      answered: number
      replicas: Array<{ replica: string; answered: number }>
    }
    assert.equal(body.answered, 30)
    assert.deepEqual(body.replicas.map((x) => x.replica).sort(), ['replica1', 'replica2', 'replica3'])
    assert.ok(body.replicas.every((x) => x.answered === 10))
  })

  test('kill -9 of a replica mid-run: every request is still answered', async () => {
    const targets = hosts.map((h) => `${h}:${PORT}`).join(',')
    const client = spawn(process.execPath, [
      binPath(),
      'anycast',
      'client',
      '--targets',
      targets,
      '--requests',
      '40',
      '--interval',
      '50',
      '--json',
    ])
    let out = ''
    client.stdout.on('data', (d) => (out += d))
    await new Promise((r) => setTimeout(r, 600))
    servers[1]!.child.kill('SIGKILL')
    const code = await new Promise<number | null>((resolve) => client.once('close', resolve))
    assert.equal(code, 0, out)
    const body = JSON.parse(out) as { answered: number; lost: number }
    assert.equal(body.answered, 40)
    assert.equal(body.lost, 0)
  })

  test('bad usage exits 2', async () => {
    const r = await runCli(['anycast', 'client', '--targets', 'nohost', '--requests', '1'])
    assert.equal(r.code, 2)
    const p = await runCli(['anycast', 'client', '--targets', '127.30.7.1:1', '--policy', 'closest'])
    assert.equal(p.code, 2)
  })
})

describe('distlab anycast serve --port P three times, as the README says (own loopback addresses)', () => {
  const home = scratchDir()
  let port = ''
  const servers: Array<ReturnType<typeof serve>> = []
  const client = (...args: string[]) => run(['anycast', 'client', ...args], { env: { DISTLAB_HOME: home } })
  before(async () => {
    // A port free on the replicas' block, chosen at run time.
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.200.1', () => r()))
    port = String((probe.address() as { port: number }).port)
    await new Promise<void>((r) => probe.close(() => r()))
    for (const i of [1, 2, 3]) servers.push(serve(undefined, `r${i}`, port, home))
  })
  after(() => {
    for (const s of servers) s.child.kill('SIGKILL')
  })

  test('each replica takes 127.0.200.N and says so; the client finds them by name; kill -9 counts a failover', async () => {
    // Both lines, not only the first: a pipe may hand them over in two reads.
    for (const [i, s] of servers.entries())
      await waitFor(
        `replica r${i + 1}`,
        () =>
          s.out().startsWith(`[server] listening on 127.0.200.${i + 1}:${port}\n`) &&
          s.out().includes('\n[server] r'),
        20_000,
      )
    assert.match(servers[1]!.out(), /r2 has its own loopback address 127\.0\.200\.2/)
    const all = await client('--requests', '30', '--policy', 'least-loaded', '--json')
    assert.equal(all.code, 0, all.stderr)
    const body = JSON.parse(all.stdout) as {
      answered: number
      replicas: Array<{ replica: string; answered: number }>
    }
    assert.equal(body.answered, 30)
    assert.deepEqual(body.replicas.map((r) => r.replica).sort(), ['r1', 'r2', 'r3'])
    assert.ok(
      body.replicas.every((r) => r.answered === 10),
      all.stdout,
    )

    servers[1]!.child.kill('SIGKILL')
    await new Promise((r) => servers[1]!.child.once('close', r))
    // least-loaded tries every replica within the first three requests: the dead one once.
    const after = await client('--requests', '6', '--policy', 'least-loaded')
    assert.equal(after.code, 0, after.stderr)
    assert.match(after.stdout, /6\/6 answered, 0 lost, [1-9]\d* failovers/)
    assert.match(after.stdout, new RegExp(`^r2\\s+127\\.0\\.200\\.2:${port}\\s+0\\s+0%\\s+1\\s*$`, 'm'))
  })
})
