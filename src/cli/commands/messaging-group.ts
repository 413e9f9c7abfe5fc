// `distlab group join|leave|list` (issue 3): named groups of overlay multicast, changed through a
// node's HTTP API; a change waits until every node that answers sees it.
import type { Command } from 'commander'
import { findNode, nodeUrl, requireCluster, type ClusterRecord } from '../../cluster/state.js'
import { callNode, stateDirOf, intFlag } from '../context.js'
import { checkGroupName } from '../../protocols/multicast/groups.js'
import { printJson, table } from '../output.js'

/** Waits until every node of the cluster that answers sees `member` in `group` (joined) or out of it (left). */
async function waitGroupView(
  rec: ClusterRecord,
  group: string,
  member: string,
  joined: boolean,
  waitMs: number,
): Promise<{ seenBy: number; answering: number }> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const views = await Promise.all(
      rec.nodes.map((n) =>
        callNode<{ groups: Record<string, string[]> }>(nodeUrl(n), 'GET', '/groups', undefined, 2000).catch(
          () => undefined,
        ),
      ),
    )
    const answering = views.filter(Boolean).length
    const seenBy = views.filter((v) => v && (v.groups[group] ?? []).includes(member) === joined).length
    if (seenBy >= answering || Date.now() > deadline) return { seenBy, answering }
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function groupChange(
  cmd: Command,
  action: 'join' | 'leave',
  node: string,
  group: string,
  o: { wait: number; json?: boolean },
): Promise<void> {
  checkGroupName('group', group)
  const rec = requireCluster(stateDirOf(cmd))
  const r = await callNode<{ node: string; groups: string[] }>(
    nodeUrl(findNode(rec, node)),
    'POST',
    `/groups/${action}`,
    { group },
  )
  const view = await waitGroupView(rec, group, node, action === 'join', o.wait)
  if (o.json) return printJson({ ...r, group, action, ...view })
  process.stdout.write(
    `${node} ${action === 'join' ? 'joined' : 'left'} ${group} (seen by ${view.seenBy}/${view.answering} nodes); ` +
      `${node} is in: ${r.groups.length ? r.groups.join(', ') : 'no group'}\n`,
  )
}

async function groupList(cmd: Command, o: { from: string; json?: boolean }): Promise<void> {
  const rec = requireCluster(stateDirOf(cmd))
  const r = await callNode<{ groups: Record<string, string[]> }>(
    nodeUrl(findNode(rec, o.from)),
    'GET',
    '/groups',
  )
  if (o.json) return printJson(r)
  const rows = Object.entries(r.groups).map(([g, members]) => [g, members.join(', ') || '-'])
  process.stdout.write(rows.length ? table(['group', 'members'], rows) : 'no groups\n')
}

/** `group join`, `group leave` and `group list`. */
export function registerGroupCommands(program: Command): void {
  const group = program.command('group').description('named groups of overlay multicast')
  for (const action of ['join', 'leave'] as const)
    group
      .command(`${action} <node> <group>`)
      .description(
        `${action === 'join' ? 'add a node to' : 'remove a node from'} a group; waits until every node sees it`,
      )
      .addOption(intFlag('--wait <ms>', 'how long to wait for every node to see the change', [0], 5000))
      .option('--json', 'print {node, groups, group, action, seenBy, answering}')
      .action((node: string, name: string, o, cmd: Command) => groupChange(cmd, action, node, name, o))
  group
    .command('list')
    .description('groups and their members, as one node sees them')
    .option('--from <node>', 'node to ask', 'master')
    .option('--json', 'print {node, mine, groups}')
    .action((o, cmd: Command) => groupList(cmd, o))
}
