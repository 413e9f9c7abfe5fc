// `distlab send unicast|broadcast|multicast` (issue 3): one message through a running cluster, by
// calling the sending node's HTTP API (found through the cluster record); then, for a broadcast,
// following it to every node and counting the frames it took. Only the CLI prints.
import type { Command } from 'commander'
import { findNode, nodeUrl, requireCluster, type ClusterRecord } from '../../cluster/state.js'
import { InvalidArgumentError, NodeApiError } from '../../core/errors.js'
import { callNode, stateDirOf, intFlag } from '../context.js'
import { checkGroupName, type GroupSendResult } from '../../protocols/multicast/groups.js'
import type { UnicastSendResult } from '../../protocols/unicast/index.js'
import {
  STRATEGIES,
  type BroadcastDelivery,
  type BroadcastResult,
  type BroadcastStrategy,
} from '../../protocols/broadcast/index.js'
import { printJson, printTable } from '../output.js'
import { followBroadcastCost, type BroadcastCost } from './broadcast-cost.js'
import { strategyOption, transportOption } from './messaging-options.js'

function nodeUrlOf(cmd: Command, name: string): string {
  return nodeUrl(findNode(requireCluster(stateDirOf(cmd)), name))
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
  const rec = requireCluster(stateDirOf(cmd))
  findNode(rec, o.to)
  const url = nodeUrl(findNode(rec, o.from))
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

/** Longest `send broadcast` follows the frames one broadcast causes after its deliveries, in ms. */
const COST_SETTLE_MAX_MS = 3000

interface BroadcastDeliveredTo {
  node: string
  hops: number
  latencyMs: number
  framesSent: { payload: number; control: number }
}

/**
 * Follows broadcast `id` to every node of the record, until each has it or cannot be reached, or
 * `waitMs` ends. A node that answers late is asked again (a loaded machine answers late, not never);
 * a node that refuses the connection, or was still not answering when the time ran out, is
 * unreachable.
 */
async function followDeliveries(
  rec: ClusterRecord,
  id: string,
  waitMs: number,
): Promise<{ seen: Map<string, BroadcastDelivery>; unreachable: Set<string> }> {
  const deadline = Date.now() + waitMs
  const seen = new Map<string, BroadcastDelivery>()
  const unreachable = new Set<string>()
  const slow = new Set<string>()
  for (;;) {
    await Promise.all(
      rec.nodes
        .filter((n) => !seen.has(n.name) && !unreachable.has(n.name))
        .map(async (n) => {
          try {
            const d = await callNode<{ messages: BroadcastDelivery[] }>(
              nodeUrl(n),
              'GET',
              `/broadcast/delivered?id=${encodeURIComponent(id)}`,
              undefined,
              Math.max(1000, Math.min(5000, deadline - Date.now())),
            )
            slow.delete(n.name)
            if (d.messages[0]) seen.set(n.name, d.messages[0])
          } catch (err) {
            if (err instanceof NodeApiError && err.failure === 'timeout') slow.add(n.name)
            else unreachable.add(n.name)
          }
        }),
    )
    if (seen.size + unreachable.size >= rec.nodes.length) break
    if (Date.now() > deadline) {
      for (const name of slow) unreachable.add(name)
      break
    }
    await new Promise((res) => setTimeout(res, 50))
  }
  return { seen, unreachable }
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
  const { seen, unreachable } = await followDeliveries(rec, r.id, o.wait)
  const missing = rec.nodes.map((n) => n.name).filter((n) => !seen.has(n) && !unreachable.has(n))
  // Then what it cost: frames for it on every node, once its lazy announcements have gone out.
  const cost = await followBroadcastCost(rec, r.from, r.id, seen.size, COST_SETTLE_MAX_MS, unreachable)
  const framesOf = (name: string) => cost.perNode.get(name) ?? { payload: 0, control: 0 }
  const deliveredTo: BroadcastDeliveredTo[] = rec.nodes.flatMap((n) => {
    const d = seen.get(n.name)
    if (!d) return []
    const f = framesOf(n.name)
    return [
      {
        node: n.name,
        hops: d.hops,
        latencyMs: Math.max(0, d.deliveredAt - d.sentAt),
        framesSent: { payload: f.payload, control: f.control },
      },
    ]
  })
  const frames = {
    payload: cost.payload,
    control: cost.control,
    total: cost.total,
    byType: Object.fromEntries(cost.byType),
  }
  if (o.json)
    printJson({
      ...r,
      deliveredTo,
      missing,
      unreachable: [...unreachable],
      frames,
      redundancy: cost.redundancy,
    })
  else printBroadcastSent(r, rec, { deliveredTo, missing, unreachable, cost })
  if (missing.length) process.exitCode = 1
}

function printBroadcastSent(
  r: BroadcastResult,
  rec: ClusterRecord,
  f: {
    deliveredTo: BroadcastDeliveredTo[]
    missing: string[]
    unreachable: Set<string>
    cost: BroadcastCost
  },
): void {
  const { deliveredTo, missing, unreachable, cost } = f
  process.stdout.write(`broadcast ${r.id} from ${r.from} (${r.strategy}) acknowledged\n`)
  printTable(
    ['node', 'hops', 'latency', 'payload sent', 'control sent'],
    deliveredTo.map((d) => [d.node, d.hops, `${d.latencyMs} ms`, d.framesSent.payload, d.framesSent.control]),
  )
  const types = [...cost.byType].map(([t, n]) => `${t} ${n}`).join(', ')
  process.stdout.write(
    `took ${cost.total} frames: ${cost.payload} payload + ${cost.control} control` +
      (types ? ` (${types})` : '') +
      `; redundancy ${cost.redundancy.toFixed(2)} extra payload copies per node reached\n`,
  )
  process.stdout.write(
    `delivered on ${deliveredTo.length}/${rec.nodes.length - unreachable.size} live nodes` +
      (missing.length ? `; missing on ${missing.join(', ')}` : '') +
      (unreachable.size ? `; not answering: ${[...unreachable].join(', ')}` : '') +
      '\n',
  )
}

async function sendMulticast(
  cmd: Command,
  message: string,
  o: { from: string; group: string; timeout: number; json?: boolean },
): Promise<void> {
  checkGroupName('--group', o.group)
  const r = await callNode<GroupSendResult>(
    nodeUrlOf(cmd, o.from),
    'POST',
    '/multicast',
    { group: o.group, msg: message, timeoutMs: o.timeout },
    o.timeout + 5000,
  )
  if (o.json) printJson(r)
  else if (r.members.length === 0) process.stdout.write(`group ${r.group} has no members; nothing sent\n`)
  else
    process.stdout.write(
      `multicast to ${r.group} from ${r.from}: delivered to ${r.delivered.join(', ') || 'nobody'} ` +
        `(${r.delivered.length}/${r.members.length}) in ${r.elapsedMs.toFixed(2)} ms` +
        (r.failed.length ? `; failed: ${r.failed.map((f) => f.node).join(', ')}` : '') +
        '\n',
    )
  if (r.failed.length) process.exitCode = 1
}

/** `send unicast`, `send broadcast` and `send multicast`. */
export function registerSendCommands(program: Command): void {
  const send = program
    .command('send')
    .description('send a message through a running cluster: unicast, broadcast or multicast')
  send
    .command('unicast <message>')
    .description('reliable one-to-one delivery (acknowledged, retransmitted, in order); prints the RTT')
    .requiredOption('--from <node>', 'sending node')
    .requiredOption('--to <node>', 'receiving node')
    .option('--transport <kind>', 'udp or tcp', transportOption, 'udp')
    .addOption(intFlag('--timeout <ms>', 'give up after this many ms', [1, 600_000], 30_000))
    .option('--json', 'print {delivered, from, to, seq, rttMs, attempts, transport}')
    .action((message: string, o: SendUnicastOptions, cmd: Command) => sendUnicast(cmd, message, o))
  send
    .command('broadcast <message>')
    .description(
      'deliver a message to every node once (flood, gossip, tree or ip); shows who got it and the frames it took',
    )
    .addHelpText(
      'after',
      '\nFrames are counted per node once the broadcast has settled (up to 3 s\n' +
        'after the last delivery):\n' +
        '  payload  frames that carried the message (eager pushes, repair copies,\n' +
        '           the ip datagram)\n' +
        '  control  frames that only named it (ihave, graft, got receipts, prune)\n' +
        'redundancy = max(0, payload / (nodes reached - 1) - 1): extra copies per\n' +
        'node, as bench broadcast counts it.\n',
    )
    .requiredOption('--from <node>', 'node that broadcasts')
    .option('--strategy <name>', `one of ${STRATEGIES.join(', ')}`, strategyOption, 'tree')
    .option('--durable', 'acknowledge only once a second node holds the message')
    .addOption(intFlag('--wait <ms>', 'how long to follow the message to every node', [0, 600_000], 5000))
    .option(
      '--json',
      'print {acknowledged, id, from, strategy, deliveredTo: [{node, hops, latencyMs, framesSent}], missing, unreachable, frames: {payload, control, total, byType}, redundancy}',
    )
    .action((message: string, o: SendBroadcastOptions, cmd: Command) => sendBroadcast(cmd, message, o))

  send
    .command('multicast <message>')
    .description('deliver a message once to every current member of a named group (overlay, no IP multicast)')
    .requiredOption('--from <node>', 'sending node')
    .requiredOption('--group <name>', 'group name')
    .addOption(intFlag('--timeout <ms>', 'give up on a member after this many ms', [1, 600_000], 10_000))
    .option('--json', 'print {group, from, members, delivered, failed, elapsedMs}')
    .action((message: string, o, cmd: Command) => sendMulticast(cmd, message, o))
}
