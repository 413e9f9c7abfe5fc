// Commands for unicast, broadcast, multicast and anycast (issue 3): `send`, `multicast`, `group`,
// `anycast` and `bench`. Each calls a node's HTTP API (found through the cluster record) or runs
// the library directly; only this file prints.
import type { Command } from 'commander'
import { findNode, nodeUrl, requireCluster } from '../../cluster/state.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { callNode, intOption, stateDirOf } from '../context.js'
import { printJson, table } from '../output.js'
import type { UnicastSendResult } from '../../protocols/unicast/index.js'
import {
  STRATEGIES,
  type BroadcastDelivery,
  type BroadcastResult,
  type BroadcastStrategy,
} from '../../protocols/broadcast/index.js'

function nodeUrlOf(cmd: Command, name: string): string {
  return nodeUrl(findNode(requireCluster(stateDirOf(cmd)), name))
}

function transportOption(v: string): 'udp' | 'tcp' {
  if (v !== 'udp' && v !== 'tcp') throw new InvalidArgumentError(`--transport must be udp or tcp, got ${v}`)
  return v
}

interface SendUnicastOptions {
  from: string
  to: string
  transport: 'udp' | 'tcp'
  timeout: number
  json?: boolean
}

async function sendUnicast(cmd: Command, message: string, o: SendUnicastOptions): Promise<void> {
  if (o.from === o.to) throw new InvalidArgumentError('--from and --to must be different nodes')
  const url = nodeUrlOf(cmd, o.from)
  const r = await callNode<UnicastSendResult>(
    url,
    'POST',
    '/unicast',
    { to: o.to, msg: message, transport: o.transport, timeoutMs: o.timeout },
    o.timeout + 5000,
  )
  if (o.json) return printJson(r)
  process.stdout.write(
    `delivered to ${r.to} from ${r.from}: rtt ${r.rttMs.toFixed(2)} ms, seq ${r.seq}, ` +
      `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}, ${r.transport}\n`,
  )
}

interface SendBroadcastOptions {
  from: string
  strategy: BroadcastStrategy
  durable?: boolean
  wait: number
  json?: boolean
}

function strategyOption(v: string): BroadcastStrategy {
  if (!(STRATEGIES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`--strategy must be one of ${STRATEGIES.join(', ')}, got ${v}`)
  return v as BroadcastStrategy
}

async function sendBroadcast(cmd: Command, message: string, o: SendBroadcastOptions): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  const r = await callNode<BroadcastResult>(
    nodeUrl(findNode(rec, o.from)),
    'POST',
    '/broadcast',
    { msg: message, strategy: o.strategy, durable: !!o.durable },
    15_000,
  )
  // Follow the message to every node of the cluster record, up to --wait.
  const deadline = Date.now() + o.wait
  const seen = new Map<string, BroadcastDelivery>()
  const unreachable = new Set<string>()
  for (;;) {
    await Promise.all(
      rec.nodes
        .filter((n) => !seen.has(n.name))
        .map(async (n) => {
          try {
            const d = await callNode<{ messages: BroadcastDelivery[] }>(
              nodeUrl(n),
              'GET',
              `/broadcast/delivered?id=${encodeURIComponent(r.id)}`,
              undefined,
              2000,
            )
            unreachable.delete(n.name)
            if (d.messages[0]) seen.set(n.name, d.messages[0])
          } catch {
            unreachable.add(n.name)
          }
        }),
    )
    if (seen.size + unreachable.size >= rec.nodes.length || Date.now() > deadline) break
    await new Promise((res) => setTimeout(res, 50))
  }
  const missing = rec.nodes.map((n) => n.name).filter((n) => !seen.has(n) && !unreachable.has(n))
  const deliveredTo = rec.nodes.flatMap((n) => {
    const d = seen.get(n.name)
    return d ? [{ node: n.name, hops: d.hops, latencyMs: Math.max(0, d.deliveredAt - d.sentAt) }] : []
  })
  if (o.json) printJson({ ...r, deliveredTo, missing, unreachable: [...unreachable] })
  else {
    process.stdout.write(`broadcast ${r.id} from ${r.from} (${r.strategy}) acknowledged\n`)
    process.stdout.write(
      table(
        ['node', 'hops', 'latency'],
        deliveredTo.map((d) => [d.node, d.hops, `${d.latencyMs} ms`]),
      ),
    )
    process.stdout.write(
      `delivered on ${deliveredTo.length}/${rec.nodes.length - unreachable.size} live nodes` +
        (missing.length ? `; missing on ${missing.join(', ')}` : '') +
        (unreachable.size ? `; not answering: ${[...unreachable].join(', ')}` : '') +
        '\n',
    )
  }
  if (missing.length) process.exitCode = 1
}

export function registerMessagingCommands(program: Command): void {
  const send = program
    .command('send')
    .description('send a message through a running cluster: unicast, broadcast or multicast')
  send
    .command('unicast <message>')
    .description('reliable one-to-one delivery (acknowledged, retransmitted, in order); prints the RTT')
    .requiredOption('--from <node>', 'sending node')
    .requiredOption('--to <node>', 'receiving node')
    .option('--transport <kind>', 'udp or tcp', transportOption, 'udp')
    .option('--timeout <ms>', 'give up after this many ms', intOption('--timeout', 1, 600_000), 30_000)
    .option('--json', 'print {delivered, from, to, seq, rttMs, attempts, transport}')
    .action((message: string, o: SendUnicastOptions, cmd: Command) => sendUnicast(cmd, message, o))
  send
    .command('broadcast <message>')
    .description('deliver a message to every node once (flood, gossip, tree or ip); shows who got it')
    .requiredOption('--from <node>', 'node that broadcasts')
    .option('--strategy <name>', `one of ${STRATEGIES.join(', ')}`, strategyOption, 'tree')
    .option('--durable', 'acknowledge only once a second node holds the message')
    .option(
      '--wait <ms>',
      'how long to follow the message to every node',
      intOption('--wait', 0, 600_000),
      5000,
    )
    .option('--json', 'print {acknowledged, id, from, strategy, deliveredTo, missing, unreachable}')
    .action((message: string, o: SendBroadcastOptions, cmd: Command) => sendBroadcast(cmd, message, o))
}
