// The group multicast's endpoints on the node's HTTP API: POST /groups/join and /groups/leave
// {group}; GET /groups (this node's groups and every group's members); POST /multicast {group, msg,
// timeoutMs?} delivers once to every member; GET /multicast/delivered?since=N&group=G;
// GET /multicast/stats.
import { z } from 'zod'
import { InvalidArgumentError } from '../../core/errors.js'
import { allowLateAnswer, parseBody, type RouteHost } from '../../core/routes.js'
import { GROUP_NAME_PATTERN } from './constants.js'

/** What the routes use of the protocol. */
export interface GroupMulticastApi {
  join(group: string): Promise<string[]>
  leave(group: string): Promise<string[]>
  groups(): Record<string, string[]>
  myGroups(): string[]
  send(group: string, msg: unknown, options: { timeoutMs?: number }): Promise<unknown>
  delivered(since: number, group?: string): unknown
  stats(): unknown
}

const GroupBody = z.lazy(() => z.strictObject({ group: z.string().regex(GROUP_NAME_PATTERN) }))
const SendBody = z.lazy(() =>
  z.strictObject({
    group: z.string().regex(GROUP_NAME_PATTERN),
    msg: z.unknown(),
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
  }),
)

export function groupMulticastRoutes(app: RouteHost, g: GroupMulticastApi, node: string): void {
  app.post('/groups/join', async (req) => {
    const { group } = parseBody(GroupBody, req.body)
    return { node, groups: await g.join(group) }
  })
  app.post('/groups/leave', async (req) => {
    const { group } = parseBody(GroupBody, req.body)
    return { node, groups: await g.leave(group) }
  })
  app.get('/multicast/stats', async () => g.stats())
  app.get('/groups', async () => ({ node, mine: g.myGroups(), groups: g.groups() }))
  app.post('/multicast', async (req) => {
    const { group, msg, timeoutMs } = parseBody(SendBody, req.body)
    if (timeoutMs !== undefined) allowLateAnswer(req, timeoutMs)
    return g.send(group, msg, { timeoutMs })
  })
  app.get('/multicast/delivered', async (req) => {
    const q = req.query as { since?: string; group?: string }
    const since = Number(q.since ?? 0)
    if (q.group !== undefined && !GROUP_NAME_PATTERN.test(q.group))
      throw new InvalidArgumentError('group is not a valid group name', 'group')
    return g.delivered(Number.isFinite(since) && since > 0 ? since : 0, q.group)
  })
}
