// `distlab anycast serve|client` as seed 001 runs them: three replicas on one port, a client that
// prints `Received: Hello from server` per request and survives a replica killed mid-run.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { binPath, runCli, waitFor } from '../helpers.js'

const PORT = '15000'
const hosts = ['127.30.7.1', '127.30.7.2', '127.30.7.3']

function serve(host: string, name: string): { child: ChildProcessWithoutNullStreams; out: () => string } {
  const child = spawn(process.execPath, [
    binPath(),
    'anycast',
    'serve',
    '--host',
    host,
    '--port',
    PORT,
    '--name',
    name,
  ])
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
