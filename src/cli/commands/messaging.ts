// Commands for unicast, broadcast, multicast and anycast (issue 3): `send`, `multicast`, `group`,
// `anycast` and `bench`. Each calls a node's HTTP API (found through the cluster record) or runs
// the library directly; only this file prints.
import type { Command } from 'commander'
import { findNode, nodeUrl, requireCluster } from '../../cluster/state.js'
import { InvalidArgumentError } from '../../core/errors.js'
import { callNode, intOption, stateDirOf } from '../context.js'
import { printJson } from '../output.js'
import type { UnicastSendResult } from '../../protocols/unicast/index.js'

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
}
