// A download in each mode of `distlab download` (issue 5, seed 003), with its progress bar and its
// fault demos (--kill-master-at, --kill-client-at); download-render.ts prints the result.
//   runDownload        N cooperating clients in this process, each on its own loopback address
//   runClient          one cooperating client alone (one per process or container)
//   runDockerDownload  a line server and N client containers on a network of their own
import type { Command } from 'commander'
import { join } from 'node:path'
import { writeFileSync, rmSync, mkdirSync } from 'node:fs'
import { InvalidArgumentError } from '../../core/errors.js'
import { parseHostPort } from '../../core/options.js'
import { stateDirOf } from '../context.js'
import { Progress, color } from '../output.js'
import {
  CooperativeDownload,
  DownloadClient,
  DEFAULT_CHANNEL_PORT,
  DEFAULT_LINE_SERVER_PORT,
  type DownloadResult,
} from '../../protocols/download/index.js'
import { DEFAULT_IMAGE, buildImage, buildLocalBaseImage, requireDocker } from '../../cluster/docker.js'
import { DockerDownload } from '../../cluster/download-docker.js'
import {
  runUntilSignal,
  cliLogger,
  journalFile,
  listOption,
  type DownloadCliOptions,
} from './download-common.js'
import { printClientResult, printDockerResult, printDownloadResult } from './download-render.js'

export async function runDownload(o: DownloadCliOptions, cmd: Command): Promise<void> {
  if (!o.server) throw new InvalidArgumentError('--server host:port is required', '--server')
  const server = parseHostPort('--server', o.server, DEFAULT_LINE_SERVER_PORT)
  const clients = o.clients ?? [1]
  if (clients.length !== 1)
    throw new InvalidArgumentError('--clients takes one number (a list is for `download bench`)', '--clients')
  const n = clients[0]!
  const bind = o.bind === undefined ? undefined : listOption('--bind')(o.bind)
  if (bind && bind.length !== n)
    throw new InvalidArgumentError(
      `--bind must list one address per client (${n}), got ${bind.length}`,
      '--bind',
    )
  const journalPath = journalFile(stateDirOf(cmd), o.id, server.host, server.port)
  if (o.fresh) rmSync(journalPath, { force: true })
  const progress = new Progress('lines', o.lines, { enabled: !o.json })
  let killed = false
  let killedMember = false
  const dl: CooperativeDownload = new CooperativeDownload({
    server,
    clients: n,
    id: o.id,
    lines: o.lines,
    ratePerSecond: o.rate,
    localAddresses: bind,
    resetSession: o.reset,
    journalPath,
    timeoutMs: o.timeout,
    logger: cliLogger(o.logLevel),
    onProgress: (p) => {
      const rate = p.elapsedMs > 0 ? (p.lines / p.elapsedMs) * 1000 : 0
      progress.update(p.lines, `${rate.toFixed(0)} lines/s, master ${p.masterRank ?? '-'}`)
      if (
        o.killMasterAt !== undefined &&
        !killed &&
        p.lines >= o.killMasterAt &&
        p.masterRank !== undefined
      ) {
        killed = true
        if (!o.json)
          process.stderr.write(`\n${color.yellow(`killing the master (client ${p.masterRank})`)}\n`)
        dl.crash(p.masterRank)
      }
      if (o.killClientAt !== undefined && !killedMember && p.lines >= o.killClientAt) {
        killedMember = true
        let victim = n - 1
        if (victim === dl.master()) victim--
        if (victim >= 0) {
          if (!o.json) process.stderr.write(`\n${color.yellow(`killing client ${victim}`)}\n`)
          dl.crash(victim)
        }
      }
    },
  })
  const r: DownloadResult = await dl.run()
  progress.done()
  if (o.out) {
    mkdirSync(join(o.out, '..'), { recursive: true })
    writeFileSync(o.out, r.text.join('\n') + '\n')
  }
  printDownloadResult(r, o)
  if (!r.submitted) process.exitCode = 1
}

/** `distlab download client`: one cooperating client, e.g. in its own container. */
export async function runClient(o: DownloadCliOptions): Promise<void> {
  if (o.rank === undefined) throw new InvalidArgumentError('--rank is required', '--rank')
  if (!o.peers) throw new InvalidArgumentError('--peers host:port,host:port,... is required', '--peers')
  if (!o.server) throw new InvalidArgumentError('--server host:port is required', '--server')
  const server = parseHostPort('--server', o.server, DEFAULT_LINE_SERVER_PORT)
  const peers = listOption('--peers')(o.peers).map((p) => parseHostPort('--peers', p, DEFAULT_CHANNEL_PORT))
  if (o.rank >= peers.length)
    throw new InvalidArgumentError(
      `--rank must be below the number of --peers (${peers.length}), got ${o.rank}`,
      '--rank',
    )
  if (o.bind !== undefined && o.bind.includes(','))
    throw new InvalidArgumentError('--bind takes one address for `download client`', '--bind')
  const progress = new Progress(`client ${o.rank}`, o.lines, { enabled: !o.json && !o.reportProgress })
  const rank = o.rank
  const client = (signal: AbortSignal) =>
    new DownloadClient({
      server,
      rank,
      peers,
      id: o.id,
      lines: o.lines,
      ratePerSecond: o.rate,
      listenHost: o.listen,
      localAddress: o.bind,
      resetSession: o.reset,
      journalPath: o.journal,
      timeoutMs: o.timeout,
      signal,
      logger: cliLogger(o.logLevel),
      onProgress: (p) => {
        if (o.reportProgress)
          process.stderr.write(
            JSON.stringify({
              progress: { lines: p.lines, total: p.total, rank: o.rank, elapsedMs: Math.round(p.elapsedMs) },
            }) + '\n',
          )
        else {
          const rate = p.elapsedMs > 0 ? (p.lines / p.elapsedMs) * 1000 : 0
          progress.update(p.lines, `${rate.toFixed(0)} lines/s (master)`)
        }
      },
    })
  const r = await runUntilSignal((signal) => client(signal).run())
  progress.done()
  printClientResult(r, o)
  // A member's job ends when it is told the text is in, whatever the server said of it.
  if (r.role === 'master' && !r.submitted) process.exitCode = 1
}

/** `distlab download --mode docker`: a line server and N client containers. */
export async function runDockerDownload(o: DownloadCliOptions): Promise<void> {
  for (const [flag, v] of [
    ['--server', o.server],
    ['--bind', o.bind],
    ['--reset', o.reset],
    ['--fresh', o.fresh],
    ['--out', o.out],
  ] as const)
    if (v !== undefined)
      throw new InvalidArgumentError(
        `${flag} does not apply to --mode docker (its server is a container)`,
        flag,
      )
  const clients = o.clients ?? [1]
  if (clients.length !== 1)
    throw new InvalidArgumentError('--clients takes one number (a list is for `download bench`)', '--clients')
  const n = clients[0]!
  const image = o.image ?? process.env.DISTLAB_IMAGE ?? DEFAULT_IMAGE
  if (o.build) {
    await requireDocker()
    const base = await buildLocalBaseImage()
    if (!o.json) process.stderr.write(`building ${image} FROM ${base.tag} ...\n`)
    await buildImage({ tag: image, baseImage: base.tag })
  }
  const progress = new Progress(`${n} client containers`, o.lines, { enabled: !o.json })
  let firstProgressAt: number | undefined
  const dl = (signal: AbortSignal) =>
    new DockerDownload({
      clients: n,
      image,
      project: o.project,
      lines: o.lines,
      ratePerSecond: o.rate,
      id: o.id,
      timeoutMs: o.timeout,
      killMasterAt: o.killMasterAt,
      killClientAt: o.killClientAt,
      signal,
      logger: cliLogger(o.logLevel),
      onProgress: (p) => {
        firstProgressAt ??= Date.now()
        const s = (Date.now() - firstProgressAt) / 1000
        const rate = s > 0 ? `${(p.lines / s).toFixed(0)} lines/s, ` : ''
        progress.update(p.lines, `${rate}master ${p.masterRank ?? '-'}`)
      },
      onEvent: (text) => {
        if (!o.json) process.stderr.write(`\n${color.yellow(text)}\n`)
      },
    })
  const r = await runUntilSignal((signal) => dl(signal).run())
  progress.done()
  printDockerResult(r, o)
  if (!r.submitted) process.exitCode = 1
}
