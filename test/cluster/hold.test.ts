// Held protocols (cluster/hold.ts): a master and a node process started as `up` starts them, with
// $DISTLAB_HOLD_PROTOCOLS=1 and an IPC channel, answer /health and join but send no heartbeat until
// the launcher's word, nor ask the master for its member list; after it, they do, even when the word
// came before the node's start was over. Without the channel the variable holds nothing.
// Loopback block 143 (127.143.x.y).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import { LAUNCHED_V8_FLAGS, roleEntry } from '../../src/cluster/role-process.js'
import { HOLD_PROTOCOLS_ENV, startHeldProtocols } from '../../src/cluster/hold.js'
import { metricSum } from '../../src/scenario/fuzz.js'
import { getJson, scratchDir, waitFor } from '../helpers.js'

const MASTER = 'http://127.143.0.1:5000'

function role(args: string[], opts: { hold: boolean; ipc: boolean }): ChildProcess {
  return spawn(
    process.execPath,
    [...LAUNCHED_V8_FLAGS, roleEntry(), '--state-dir', scratchDir(), ...args, '--frame-port', '7000'],
    {
      stdio: ['ignore', 'ignore', 'inherit', ...(opts.ipc ? ['ipc' as const] : [])],
      // A node asks the master for its member list every 200 ms once its protocols run.
      env: {
        ...process.env,
        [HOLD_PROTOCOLS_ENV]: opts.hold ? '1' : undefined,
        DISTLAB_MEMBERS_REFRESH_MS: '200',
      },
    },
  )
}

const master = (o: { hold: boolean; ipc: boolean }) =>
  role(['master', '--host', '127.143.0.1', '--port', '5000', '--dashboard-port', '0'], o)
const node = (host: string, o: { hold: boolean; ipc: boolean }) =>
  role(['node', '--name', 'node1', '--host', host, '--port', '5000', '--bootstrap', MASTER], o)

const metrics = async (url: string) => (await getJson<string>(`${url}/metrics`)).body
/** Heartbeat frames `url` has put on the wire. */
const beatsSent = async (url: string) =>
  metricSum(await metrics(url), 'distlab_frames_sent_total', { proto: 'heartbeat' })
/** GET /cluster/members the master has answered. */
const listRequests = async () => metricSum(await metrics(MASTER), 'distlab_member_list_requests_total')

const healthy = (url: string) =>
  waitFor(
    `${url} to answer /health`,
    async () => (await getJson(`${url}/health`, undefined, 2000)).status === 200,
    60_000,
    100,
  )

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.kill('SIGTERM')
      await exited
    }),
  )
}

describe('protocols held by a launcher', { timeout: 120_000 }, () => {
  test('a held master and node join but send no heartbeat until told; then they do', async () => {
    const url = 'http://127.143.0.2:5000'
    const children = [master({ hold: true, ipc: true })]
    try {
      await healthy(MASTER)
      children.push(node('127.143.0.2', { hold: true, ipc: true }))
      await healthy(url)
      await waitFor('node1 in the master list', async () => {
        const list = await getJson<{ members: Array<{ name: string }> }>(`${MASTER}/cluster/members`)
        return list.body.members.some((m) => m.name === 'node1')
      })
      // A heartbeat goes out each second once the protocols run, and a member-list request every 200 ms.
      const asked = await listRequests()
      await new Promise((r) => setTimeout(r, 2500))
      assert.equal(await beatsSent(url), 0, 'no heartbeat while held')
      assert.equal(await listRequests(), asked, 'no member-list request while held')

      await Promise.all(children.map((c, i) => startHeldProtocols(c, i === 0 ? 'master' : 'node1', 30_000)))
      await waitFor('node1 to send heartbeats', async () => (await beatsSent(url)) >= 2, 15_000, 100)
      assert.ok((await listRequests()) >= asked + 3, 'node1 asks for the member list once it runs')
      // The protocols start once: a second word gets no answer, and breaks nothing.
      await assert.rejects(
        startHeldProtocols(children[1]!, 'node1', 1500),
        /did not start its protocols within 1500 ms/,
      )
    } finally {
      await stopAll(children)
    }
  })

  test('without an IPC channel the variable holds nothing (a node typed by hand)', async () => {
    const url = 'http://127.143.0.3:5000'
    const children = [master({ hold: true, ipc: false })]
    try {
      await healthy(MASTER)
      children.push(node('127.143.0.3', { hold: true, ipc: false }))
      await healthy(url)
      await waitFor('node1 to send heartbeats', async () => (await beatsSent(url)) >= 1, 15_000, 100)
    } finally {
      await stopAll(children)
    }
  })

  test('a word that comes while the node still waits for its join starts the protocols once its start is over', async () => {
    // A master that holds every request 3 s and then fails it: the node answers /health at once
    // but finishes its start (its join failed, it goes on) only when its join is answered.
    let joinAnsweredAt = 0
    const slow = createServer((req, res) => {
      setTimeout(() => {
        if (req.url === '/cluster/join') joinAnsweredAt ||= Date.now()
        res.writeHead(503).end()
      }, 3000)
    })
    await new Promise<void>((resolve) => slow.listen(5000, '127.143.0.9', resolve))
    const args = ['--name', 'node1', '--host', '127.143.0.4', '--port', '5000']
    const child = role(['node', ...args, '--bootstrap', 'http://127.143.0.9:5000'], { hold: true, ipc: true })
    try {
      await healthy('http://127.143.0.4:5000')
      assert.equal(joinAnsweredAt, 0, 'the word goes out while the node still waits for its join')
      // Taken at once, the word would find the node still starting: nothing would start, and the
      // answer would come early.
      await startHeldProtocols(child, 'node1', 20_000)
      assert.ok(joinAnsweredAt > 0, 'the protocols started after the start was over, not before')
    } finally {
      await stopAll([child])
      slow.closeAllConnections()
      await new Promise((resolve) => slow.close(resolve))
    }
  })

  test('the launcher hears of a process that exits instead of starting its protocols', async () => {
    // It dies on the word, as a node would whose protocol failed hard.
    const script = "process.once('message', () => process.exit(3))"
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    await assert.rejects(
      startHeldProtocols(child, 'node9', 30_000),
      /node9 exited before it started its protocols/,
    )
  })
})
