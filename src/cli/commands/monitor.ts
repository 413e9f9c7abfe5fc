// `distlab monitor`: the cluster's telemetry, live, one line per event.
import type { Command } from 'commander'
import { nodeUrl, requireCluster } from '../../cluster/state.js'
import type { TelemetryEvent } from '../../core/telemetry.js'
import { bearerHeaders } from '../../core/auth.js'
import { parseDuration } from '../../core/options.js'
import { nodeClient, stateDirOf } from '../context.js'

/** Longest telemetry event read from the stream, in characters. */
const MAX_EVENT_CHARS = 1024 * 1024
import { color } from '../output.js'

const KIND_COLOR: Record<string, (s: string) => string> = {
  send: color.cyan,
  recv: color.green,
  deliver: color.bold,
  drop: color.red,
  error: color.red,
}

export function formatEvent(e: TelemetryEvent): string {
  const t = new Date(e.ts).toISOString().slice(11, 23)
  const kind = (KIND_COLOR[e.kind] ?? ((s: string) => s))(e.kind.padEnd(7))
  const extra = [e.type, e.reason ? `reason=${e.reason}` : ''].filter(Boolean).join(' ')
  return `${t} ${e.node.padEnd(8)} ${e.proto.padEnd(10)} ${kind} ${e.src} -> ${e.dst} ${e.bytes}B ${e.transport}${extra ? ' ' + extra : ''}`
}

interface MonitorOptions {
  json?: boolean
  proto?: string
  kind?: string
  node?: string
  duration?: string
  count?: string
}

async function monitor(cmd: Command, o: MonitorOptions): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  const ctrl = new AbortController()
  if (o.duration) setTimeout(() => ctrl.abort(), parseDuration('--duration', o.duration)).unref()
  process.on('SIGINT', () => ctrl.abort())
  const limit = o.count ? Number(o.count) : Infinity
  let shown = 0
  const body = await nodeClient(nodeUrl(rec.nodes[0]!), bearerHeaders(dir)).stream('/telemetry/stream', {
    action: 'the telemetry stream',
    signal: ctrl.signal,
  })
  if (!o.json) process.stderr.write(color.dim(`telemetry from ${rec.nodes[0]!.name} (Ctrl-C to stop)\n`))
  const decoder = new TextDecoder()
  let buf = ''
  try {
    for await (const chunk of body) {
      buf += decoder.decode(chunk, { stream: true })
      // an event is one short line; a stream that never ends one is not the master's
      if (buf.length > MAX_EVENT_CHARS) throw new Error('the telemetry stream sent an event over 1 MB')
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        if (block.startsWith('event: skipped')) {
          if (!o.json)
            process.stderr.write(
              color.yellow(
                `(${block.split('data: ')[1]} events skipped: this terminal is slower than the cluster)\n`,
              ),
            )
          continue
        }
        if (!block.startsWith('data: ')) continue
        const e = JSON.parse(block.slice(6)) as TelemetryEvent
        if (o.proto && e.proto !== o.proto) continue
        if (o.kind && e.kind !== o.kind) continue
        if (o.node && e.node !== o.node) continue
        process.stdout.write(o.json ? JSON.stringify(e) + '\n' : formatEvent(e) + '\n')
        if (++shown >= limit) {
          ctrl.abort()
          return
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err
  }
}

export function registerMonitorCommands(program: Command): void {
  program
    .command('monitor')
    .description("print the cluster's telemetry live: time, node, protocol, kind, src -> dst, bytes")
    .option('--json', 'one JSON object per event, per line')
    .option('--proto <name>', 'only this protocol')
    .option('--kind <kind>', 'only send, recv, deliver, drop or error')
    .option('--node <name>', 'only events reported by this node')
    .option('--duration <duration>', 'stop after this long, e.g. 10s')
    .option('--count <n>', 'stop after n events')
    .action((o: MonitorOptions, cmd: Command) => monitor(cmd, o))
}
