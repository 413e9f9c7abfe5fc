// `distlab link set|clear|show`, `partition`, `heal` and `ping`: shape the links of a running
// cluster, whichever mode started it, through the Launcher attached to it (cluster/attach.ts: the
// nodes' link emulators over their HTTP API), and check what gets through. A cluster of `distlab
// run` has its rules applied by its supervisor's relays instead.
import type { Command } from 'commander'
import { findNode, nodeUrl, requireCluster, type ClusterRecord } from '../../cluster/state.js'
import { InvalidArgumentError, TimeoutError } from '../../core/errors.js'
import { parseDuration } from '../../core/options.js'
import { ALL_LINKS, NO_RULE, parseRate } from '../../link/emulator.js'
import type { LinkRule, LinkRuleInit } from '../../core/link-rule.js'
import type { FaultOutcome, LinkView } from '../../core/cluster-controls.js'
import { attachLauncher } from '../../cluster/attach.js'
import type { Launcher } from '../../cluster/launcher.js'
import { callNode, stateDirOf, NodeApiError, intFlag, numberFlag } from '../context.js'
import { color, printJson, table, printTable } from '../output.js'

interface LinkSetOptions {
  all?: boolean
  loss?: number
  delay?: string
  jitter?: string
  duplicate?: number
  reorder?: number
  dropEvery?: number
  corrupt?: number
  rate?: string
  oneWay?: boolean
  json?: boolean
}

const ruleText = (r: LinkRule) =>
  `loss ${r.loss}, drop every ${r.dropEvery || '-'}, delay ${r.delayMs}ms ± ${r.jitterMs}ms, duplicate ${r.duplicate}, reorder ${r.reorder}, corrupt ${r.corrupt}, rate ${r.rateBps ? `${r.rateBps} bit/s` : '-'}`

/** A cluster of `distlab run`: its supervisor applies the rules in its relays. */
async function foreignLink(
  dir: string,
  rec: ClusterRecord,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  return (await import('./run.js')).callSupervisor(dir, rec, method, path, body, 15_000)
}

/** The rule the options ask for; none at all is a usage mistake. */
function ruleOf(o: LinkSetOptions): LinkRuleInit {
  const rule: LinkRuleInit = {}
  if (o.loss !== undefined) rule.loss = o.loss
  if (o.dropEvery !== undefined) rule.dropEvery = o.dropEvery
  if (o.delay !== undefined) rule.delayMs = parseDuration('--delay', o.delay)
  if (o.jitter !== undefined) rule.jitterMs = parseDuration('--jitter', o.jitter)
  if (o.duplicate !== undefined) rule.duplicate = o.duplicate
  if (o.reorder !== undefined) rule.reorder = o.reorder
  if (o.corrupt !== undefined) rule.corrupt = o.corrupt
  if (o.rate !== undefined) rule.rateBps = parseRate('--rate', o.rate)
  if (Object.keys(rule).length === 0)
    throw new InvalidArgumentError(
      'say what to change: --loss, --delay, --jitter, --duplicate, --reorder, --drop-every, --corrupt or --rate',
    )
  return rule
}

/** Two different members of the cluster, or --all; anything else is a usage mistake. */
function checkLinkEnds(
  rec: ClusterRecord,
  a: string | undefined,
  b: string | undefined,
  o: LinkSetOptions,
): void {
  const what = rec.mode === 'foreign' ? 'instances' : 'nodes'
  if (o.all && (a || b)) throw new InvalidArgumentError(`give either two ${what} or --all, not both`)
  if (o.all) return
  if (!a || !b)
    throw new InvalidArgumentError(`give two ${what} (distlab link set node1 node2 --loss 0.1) or --all`)
  if (a === b) throw new InvalidArgumentError('a link joins two different nodes')
  if (rec.mode === 'foreign') return
  findNode(rec, a)
  findNode(rec, b)
}

type ChangedLink = { node: string; peer: string; rule: LinkRule }

/**
 * Sets `rule` through the cluster's launcher: on every node's link to all (--all), or on a -> b
 * and, unless --one-way, b -> a (each end shapes what it sends to the other).
 */
async function setThroughLauncher(
  l: Launcher,
  a: string | undefined,
  b: string | undefined,
  o: LinkSetOptions,
  rule: LinkRuleInit,
): Promise<ChangedLink[]> {
  const set = async (node: string, peer: string): Promise<ChangedLink> => ({
    node,
    peer,
    rule: await l.setLink(node, peer, rule),
  })
  if (o.all) return Promise.all(l.list().map((m) => set(m.name, ALL_LINKS)))
  const changed = [await set(a!, b!)]
  if (!o.oneWay) changed.push(await set(b!, a!))
  return changed
}

/** Sets the rule in the relays of a `distlab run` cluster's supervisor. */
async function foreignSet(
  dir: string,
  rec: ClusterRecord,
  a: string | undefined,
  b: string | undefined,
  o: LinkSetOptions,
  rule: LinkRuleInit,
): Promise<void> {
  const r = (await foreignLink(dir, rec, 'PUT', '/link', {
    from: o.all ? '*' : a,
    to: o.all ? '*' : b,
    both: !o.all && !o.oneWay,
    rule,
  })) as { links: Array<{ from: string; to: string; rule: LinkRule }> }
  if (o.json) return printJson(r)
  const first = r.links[0]?.rule
  process.stdout.write(
    `${o.all ? `all links (${r.links.length} instances)` : o.oneWay ? `${a} -> ${b}` : `${a} <-> ${b}`}: ${first ? ruleText(first) : ''}\n`,
  )
}

/** `link set`, and `link clear` (the same with every field back to 0). */
async function linkSet(
  cmd: Command,
  a: string | undefined,
  b: string | undefined,
  o: LinkSetOptions,
  clear = false,
): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  const rule = clear ? { ...NO_RULE } : ruleOf(o)
  checkLinkEnds(rec, a, b, o)
  if (rec.mode === 'foreign') return foreignSet(dir, rec, a, b, o, rule)
  const changed = await setThroughLauncher(attachLauncher(dir), a, b, o, rule)
  if (o.json) return printJson({ links: changed })
  const where = o.all ? `all links (${changed.length} nodes)` : o.oneWay ? `${a} -> ${b}` : `${a} <-> ${b}`
  process.stdout.write(`${where}: ${clear ? 'clean (no rule)' : ruleText(changed[0]!.rule)}\n`)
}

/** `link clear --all`: every rule of every node goes (the partition stays: `heal` ends that too). */
async function clearAll(cmd: Command, o: { json?: boolean }): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  if (rec.mode === 'foreign')
    return foreignSet(dir, rec, undefined, undefined, { all: true, ...o }, { ...NO_RULE })
  const l = attachLauncher(dir)
  const views = await linkViews(l)
  const cleared: ChangedLink[] = []
  for (const v of views)
    for (const peer of Object.keys(v.rules))
      cleared.push({ node: v.node, peer, rule: await l.setLink(v.node, peer, NO_RULE) })
  if (o.json) return printJson({ links: cleared })
  process.stdout.write(`cleared ${cleared.length} link rules on ${views.length} nodes; every link is clean\n`)
}

/** Every running node's rules and partition (a node that does not answer is left out). */
async function linkViews(l: Launcher): Promise<Array<{ node: string } & LinkView>> {
  const names = l.list().map((m) => m.name)
  const got = await Promise.allSettled(names.map((n) => l.links(n)))
  return got.flatMap((r, i) => (r.status === 'fulfilled' ? [{ node: names[i]!, ...r.value }] : []))
}

async function linkShow(cmd: Command, o: { json?: boolean }): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  if (rec.mode === 'foreign') return foreignShow(stateDirOf(cmd), rec, o)
  const views = await linkViews(attachLauncher(stateDirOf(cmd)))
  const unreachable = rec.nodes.map((n) => n.name).filter((n) => !views.some((v) => v.node === n))
  if (o.json) return printJson({ nodes: views, unreachable })
  const rows = views.flatMap((v) =>
    Object.entries(v.rules).map(([peer, r]) => [
      v.node,
      peer === '*' ? 'all' : peer,
      r.loss,
      r.dropEvery || '-',
      `${r.delayMs}ms`,
      `${r.jitterMs}ms`,
      r.duplicate,
      r.reorder,
    ]),
  )
  if (rows.length === 0) process.stdout.write('no link rules: every link is clean\n')
  else printTable(['NODE', 'TO', 'LOSS', 'DROP EVERY', 'DELAY', 'JITTER', 'DUPLICATE', 'REORDER'], rows)
  const part = views.find((v) => v.partition.length > 0)?.partition
  process.stdout.write(part ? `partition: ${part.map((g) => g.join(',')).join(' | ')}\n` : 'no partition\n')
  if (unreachable.length > 0) process.stdout.write(color.yellow(`not answering: ${unreachable.join(', ')}\n`))
}

/** `link show` of a `distlab run` cluster: its supervisor's rules, partition and relay traffic. */
async function foreignShow(dir: string, rec: ClusterRecord, o: { json?: boolean }): Promise<void> {
  const r = (await foreignLink(dir, rec, 'GET', '/link')) as {
    rules: Array<{ from: string; to: string; rule: LinkRule }>
    partition: string[][]
    traffic: Array<{
      from: string
      to: string
      proto: string
      port: number
      messages: number
      bytes: number
      dropped: number
    }>
  }
  if (o.json) return printJson(r)
  if (r.rules.length === 0) process.stdout.write('no link rules: every link is clean\n')
  else
    printTable(
      ['FROM', 'TO', 'RULE'],
      r.rules.map((x) => [x.from, x.to === '*' ? 'all' : x.to, ruleText(x.rule)]),
    )
  process.stdout.write(
    r.partition.length > 0
      ? `partition: ${r.partition.map((g) => g.join(',')).join(' | ')}\n`
      : 'no partition\n',
  )
  if (r.traffic.length > 0)
    process.stdout.write(
      '\nthrough the relays:\n' +
        table(
          ['FROM', 'TO', 'PORT', 'MESSAGES', 'BYTES', 'DROPPED'],
          r.traffic.map((t) => [t.from, t.to, `${t.port}/${t.proto}`, t.messages, t.bytes, t.dropped]),
        ),
    )
}

/** Says which nodes did not take a fault (they run but did not answer); exit 1 when any. */
function reportFailed(outcome: FaultOutcome): void {
  for (const f of outcome.failed) process.stderr.write(color.red(`${f.name}: ${f.error}\n`))
  if (outcome.failed.length > 0) process.exitCode = 1
}

async function partition(cmd: Command, groups: string[], o: { json?: boolean }): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  const parsed = groups.map((g) =>
    g
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  if (parsed.length < 2)
    throw new InvalidArgumentError('give at least two groups: distlab partition node1,node2 node3,node4')
  for (const g of parsed) for (const n of g) findNode(rec, n)
  if (rec.mode === 'foreign') {
    await foreignLink(dir, rec, 'POST', '/partition', { groups: parsed })
    if (o.json) return printJson({ partition: parsed })
  } else {
    const outcome = await attachLauncher(dir).partition(parsed)
    reportFailed(outcome)
    if (o.json) return printJson({ partition: parsed, ...outcome })
  }
  process.stdout.write(
    `partitioned: ${parsed.map((g) => g.join(',')).join(' | ')} (nodes in no group reach everyone)\n`,
  )
}

async function heal(cmd: Command, o: { json?: boolean }): Promise<void> {
  const dir = stateDirOf(cmd)
  const rec = requireCluster(dir)
  if (rec.mode === 'foreign') {
    await foreignLink(dir, rec, 'POST', '/heal', {})
    if (o.json) return printJson({ healed: rec.nodes.length })
    return void process.stdout.write(
      `healed: every link rule and partition removed on ${rec.nodes.length} nodes\n`,
    )
  }
  const outcome = await attachLauncher(dir).heal()
  reportFailed(outcome)
  if (o.json) return printJson({ healed: outcome.applied.length, ...outcome })
  process.stdout.write(
    `healed: every link rule and partition removed on ${outcome.applied.length} running nodes\n`,
  )
}

/** How long after a ping's own timeout the CLI still waits for the node's answer, in ms. */
const PING_ANSWER_MARGIN_MS = 10_000

async function pingCmd(
  cmd: Command,
  from: string,
  to: string,
  o: { count: number; tcp?: boolean; timeout: string; json?: boolean },
): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  const url = nodeUrl(findNode(rec, from))
  findNode(rec, to)
  const timeoutMs = parseDuration('--timeout', o.timeout)
  const results: Array<{ seq: number; rttMs: number | null }> = []
  for (let seq = 1; seq <= o.count; seq++) {
    try {
      const r = await callNode<{ rttMs: number }>(
        url,
        'POST',
        '/ping',
        { to, timeoutMs, transport: o.tcp ? 'tcp' : 'udp' },
        // The node answers 504 itself once timeoutMs has passed; the margin is for a loaded
        // machine, where that answer can take seconds, and a late answer is no lost ping.
        timeoutMs + PING_ANSWER_MARGIN_MS,
      )
      results.push({ seq, rttMs: r.rttMs })
      if (!o.json) process.stdout.write(`${from} -> ${to}: seq=${seq} rtt=${r.rttMs.toFixed(3)} ms\n`)
    } catch (err) {
      if (!(err instanceof NodeApiError) || err.status !== 504) throw err
      results.push({ seq, rttMs: null })
      if (!o.json)
        process.stdout.write(color.red(`${from} -> ${to}: seq=${seq} no answer within ${timeoutMs} ms\n`))
    }
    if (seq < o.count) await new Promise((r) => setTimeout(r, 200))
  }
  const ok = results.filter((r) => r.rttMs !== null)
  if (o.json)
    printJson({
      from,
      to,
      transport: o.tcp ? 'tcp' : 'udp',
      sent: results.length,
      received: ok.length,
      results,
    })
  else
    process.stdout.write(
      `${results.length} sent, ${ok.length} answered, ${results.length - ok.length} lost\n`,
    )
  if (ok.length === 0)
    throw new TimeoutError(`${to} did not answer any of ${results.length} pings from ${from}`)
}

export function registerLinkCommands(program: Command): void {
  const link = program
    .command('link')
    .description(
      'shape links between nodes: loss, delay, jitter, duplication, reordering, corruption, bandwidth',
    )
  link
    .command('set [a] [b]')
    .description(
      'set the rule on the link a <-> b (both directions), or on every link with --all; fields left out keep their value',
    )
    .option('--all', 'every link of every node')
    .addOption(numberFlag('--loss <p>', 'probability that a frame is lost (0..1)', [0, 1]))
    .option('--delay <duration>', 'one-way delay, e.g. 50ms')
    .option('--jitter <duration>', 'delay varies by up to this much either way, e.g. 10ms')
    .addOption(numberFlag('--duplicate <p>', 'probability that a frame is sent twice (0..1)', [0, 1]))
    .addOption(
      numberFlag(
        '--reorder <p>',
        'probability that a frame is held back so later ones overtake it (0..1)',
        [0, 1],
      ),
    )
    .addOption(intFlag('--drop-every <n>', 'drop every n-th frame (0: off)', [0]))
    .addOption(
      numberFlag(
        '--corrupt <p>',
        'probability that a message is corrupted (0..1): a distlab frame fails its CRC and is dropped (reason corrupt); on a `distlab run` cluster a UDP datagram arrives with one bit flipped, and a TCP segment fails its checksum and is resent, so its bytes arrive intact after a retransmission timeout (200 ms, doubling)',
        [0, 1],
      ),
    )
    .option('--rate <rate>', 'bandwidth limit, e.g. 1mbit, 500kbit, 2mbps (0: none)')
    .option('--one-way', 'only what a sends to b (default: both directions)')
    .option('--json', 'print the new rules as JSON')
    .action((a: string | undefined, b: string | undefined, o: LinkSetOptions, cmd: Command) =>
      linkSet(cmd, a, b, o),
    )
  link
    .command('clear [a] [b]')
    .description(
      'remove the rule on the link a <-> b (both directions), or every rule of every node with --all (a partition stays: `heal` ends both)',
    )
    .option('--all', 'every rule of every node')
    .option('--one-way', 'only what a sends to b (default: both directions)')
    .option('--json', 'print the cleared links as JSON')
    .action((a: string | undefined, b: string | undefined, o: LinkSetOptions, cmd: Command) =>
      o.all && !a && !b ? clearAll(cmd, o) : linkSet(cmd, a, b, o, true),
    )
  link
    .command('show')
    .description('print every link rule and the partition')
    .option('--json', 'print {nodes: [{node, rules, partition}]}')
    .action((o, cmd: Command) => linkShow(cmd, o))

  program
    .command('partition <groups...>')
    .description(
      'split the cluster: nodes in different groups cannot reach each other (e.g. node1,node2 node3,node4)',
    )
    .option('--json', 'print the partition as JSON')
    .action((groups: string[], o, cmd: Command) => partition(cmd, groups, o))

  program
    .command('heal')
    .description('remove every link rule and partition')
    .option('--json', 'print the result as JSON')
    .action((o, cmd: Command) => heal(cmd, o))

  program
    .command('ping <from> <to>')
    .description(
      'round-trip probes from one node to another over the node-to-node transport (exit 1 if none answered)',
    )
    .addOption(intFlag('-c, --count <n>', 'number of probes', [1, 10_000], 3))
    .option('--tcp', 'over TCP instead of UDP')
    .option('--timeout <duration>', 'time to wait for each answer', '1s')
    .option('--json', 'print {from, to, sent, received, results}')
    .action((from: string, to: string, o, cmd: Command) => pingCmd(cmd, from, to, o))
}
