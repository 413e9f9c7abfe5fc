// The dashboard's controls: the actions a page may ask for (validated by ActionBody), which of them
// work on this cluster, and how each is carried out on the page's behalf (the browser cannot call
// other origins itself): sends by calling the nodes' HTTP APIs, and kill, restart, link,
// partition and heal through ClusterControls, the interface every launcher implements.
import { z } from 'zod'
import type { Node } from '../node/node.js'
import type { ClusterControls } from '../core/cluster-controls.js'
import { ControlError, HttpBodyError, NodeApiError } from '../core/errors.js'
import { NodeClient, type HttpMethod } from '../client/node-client.js'

/** How each send control reaches a node: the protocol it needs and the node endpoint it calls. */
interface SendRoute {
  proto: string
  path: string
  /** Which node answers: the sender, or (POST /message) the receiver. */
  on: 'from' | 'to'
  body: (a: SendAction) => unknown
}

// The nodes' own endpoints (src/protocols/*/): POST /unicast {to, msg}, POST /broadcast {msg,
// strategy?}, POST /multicast {group, msg}, POST /ping {to}, and seed 002's POST /message on the
// receiver. A protocol the nodes do not run shows its control disabled, with the reason.
const SEND_ROUTES: Record<SendAction['kind'], SendRoute> = {
  unicast: { proto: 'unicast', path: '/unicast', on: 'from', body: (a) => ({ to: a.to, msg: a.text }) },
  broadcast: {
    proto: 'broadcast',
    path: '/broadcast',
    on: 'from',
    body: (a) => ({ msg: a.text, ...(a.strategy ? { strategy: a.strategy } : {}) }),
  },
  multicast: {
    proto: 'multicast',
    path: '/multicast',
    on: 'from',
    body: (a) => ({ group: a.group, msg: a.text }),
  },
  ping: { proto: 'ping', path: '/ping', on: 'from', body: (a) => ({ to: a.to }) },
  message: { proto: 'http', path: '/message', on: 'to', body: (a) => ({ sender: a.from, msg: a.text }) },
}

const NodeName = z.lazy(() => z.string().min(1).max(128))
const SendBody = z.lazy(() =>
  z.object({
    action: z.literal('send'),
    kind: z.enum(['unicast', 'broadcast', 'multicast', 'ping', 'message']),
    from: NodeName,
    to: NodeName.optional(),
    group: z.string().min(1).max(128).optional(),
    text: z.string().max(65_536).default('hello from the dashboard'),
    strategy: z.string().max(32).optional(),
  }),
)
type SendAction = z.infer<typeof SendBody>
export const ActionBody = z.lazy(() =>
  z.discriminatedUnion('action', [
    SendBody,
    z.object({
      action: z.enum(['kill', 'restart']),
      node: NodeName,
      signal: z.enum(['SIGKILL', 'SIGTERM']).optional(),
    }),
    z.object({ action: z.literal('link'), a: NodeName, b: NodeName, cut: z.boolean() }),
    z.object({ action: z.literal('partition'), groups: z.array(z.array(NodeName).min(1)).min(2) }),
    z.object({ action: z.literal('heal') }),
  ]),
)
export type Action = z.infer<typeof ActionBody>

export { ControlError }

/** What carrying out an action needs from the dashboard. */
export interface ActionContext {
  readonly master: Node
  /** Kill, restart, link rules, partition and heal over the cluster. */
  readonly controls: ClusterControls
  /** The HTTP base URL of a node the master knows or knew (ControlError 404 when none). */
  nodeUrl(name: string): string
}

/** Which of the page's controls work here, and why not when one does not. */
export function controlStates(
  master: Node,
  controlUrl: string | undefined,
): Record<string, { enabled: boolean; reason?: string }> {
  const out: Record<string, { enabled: boolean; reason?: string }> = {}
  for (const [kind, r] of Object.entries(SEND_ROUTES)) {
    const has = r.proto === 'http' || master.protocol(r.proto) !== undefined
    out[kind] = has
      ? { enabled: true }
      : { enabled: false, reason: `the nodes run no ${r.proto} protocol yet (POST ${r.path} is missing)` }
  }
  const sup = controlUrl
    ? { enabled: true }
    : { enabled: false, reason: 'no supervisor control API: this master was not started by `distlab up`' }
  out.kill = sup
  out.restart = sup
  out.link = { enabled: true }
  out.partition = { enabled: true }
  out.heal = { enabled: true }
  return out
}

/**
 * One call to a node's or the supervisor's HTTP API on the page's behalf, through NodeClient; a
 * refusal, a missing endpoint or no answer becomes a ControlError naming `name` (the node, or the
 * supervisor), never the URL.
 */
export async function callEndpoint(
  url: string,
  method: HttpMethod,
  path: string,
  body: unknown,
  timeoutMs: number,
  auth: Record<string, string>,
  name?: string,
): Promise<unknown> {
  try {
    return await new NodeClient({ url, name, headers: auth, timeoutMs }).call(method, path, { body })
  } catch (err) {
    if (!(err instanceof NodeApiError)) throw err
    if (err.status === 404 && (err.error === 'not_found' || err.error === undefined))
      throw new ControlError(`${err.message}: that control is not available yet`, 501)
    throw new ControlError(err.message, 502)
  }
}

/** Carries out one of the page's controls. */
export async function runAction(
  a: Action,
  ctx: ActionContext,
): Promise<{ ok: true; message: string; result?: unknown }> {
  // With a cluster key the nodes want the key's bearer token for every change.
  const call = (name: string, method: HttpMethod, path: string, body?: unknown) =>
    callEndpoint(ctx.nodeUrl(name), method, path, body, 5000, ctx.master.authHeaders(), name)
  switch (a.action) {
    case 'send': {
      const r = SEND_ROUTES[a.kind]
      if (a.kind !== 'broadcast' && a.kind !== 'multicast' && !a.to)
        throw new HttpBodyError(`a ${a.kind} needs a receiver`, 'to')
      if (a.kind === 'multicast' && !a.group) throw new HttpBodyError('a multicast needs a group', 'group')
      if (r.proto !== 'http' && !ctx.master.protocol(r.proto))
        throw new ControlError(
          `the nodes run no ${r.proto} protocol yet: POST ${r.path} is not available`,
          501,
        )
      const on = r.on === 'from' ? a.from : a.to!
      const result = await call(on, 'POST', r.path, r.body(a))
      return {
        ok: true,
        message: `${a.kind} from ${a.from}${a.to ? ` to ${a.to}` : a.group ? ` to group ${a.group}` : ''} sent`,
        result,
      }
    }
    case 'kill':
    case 'restart': {
      if (a.node === ctx.master.name)
        throw new ControlError('the dashboard runs on the master: it cannot kill or restart it here', 400)
      if (a.action === 'kill') await ctx.controls.kill(a.node, a.signal ?? 'SIGKILL')
      else await ctx.controls.restart(a.node)
      return {
        ok: true,
        message: `${a.node} ${a.action === 'kill' ? 'killed' : 'restarted'}`,
        result: { name: a.node, action: a.action },
      }
    }
    case 'link': {
      const loss = a.cut ? 1 : 0
      await Promise.all([ctx.controls.setLink(a.a, a.b, { loss }), ctx.controls.setLink(a.b, a.a, { loss })])
      return { ok: true, message: `link ${a.a} ↔ ${a.b} ${a.cut ? 'cut' : 'healed'}` }
    }
    case 'partition':
    case 'heal': {
      const r = a.action === 'heal' ? await ctx.controls.heal() : await ctx.controls.partition(a.groups)
      const all = r.applied.length + r.failed.length
      return {
        ok: true,
        message: `${a.action === 'heal' ? 'healed' : 'partitioned'} ${r.applied.length} of ${all} nodes`,
      }
    }
  }
}
