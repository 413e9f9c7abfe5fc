// The membership protocol's endpoints on the node's HTTP API: seed 002's POST /register and
// GET /peers in exactly the seed's shapes, the member lists distlab's own nodes read, and the
// p2p commands' POST /p2p/send and /p2p/broadcast. Bodies are hostile: checked here, before the
// protocol sees them.
import { z } from 'zod'
import { HttpBodyError } from '../../core/errors.js'
import { parseBody, type RouteHost, type RouteReply, type RouteRequest } from '../../core/routes.js'
import { MAX_MESSAGE_CHARS, MAX_REGISTER_BODY_BYTES } from './constants.js'
import { normalizePeerUrl } from './registry.js'
import { checkMember, type SelfInfo, type WireMember } from './wire.js'
import type { Refusal, Registration } from './local-registry.js'
import type {
  MemberInfo,
  MembershipStats,
  P2pBroadcastResult,
  Removal,
  ResolvedMembershipOptions,
  SendResult,
} from './types.js'

const RegisterBody = z.lazy(() =>
  z.looseObject({
    url: z.unknown().optional(),
    peer: z.unknown().optional(),
  }),
)
const SendBody = z.lazy(() =>
  z.object({ to: z.string().min(1).max(512), msg: z.string().max(MAX_MESSAGE_CHARS) }),
)
const BroadcastBody = z.lazy(() => z.object({ msg: z.string().max(MAX_MESSAGE_CHARS) }))

/** What the routes use of the protocol. */
export interface MembershipApi {
  self(): SelfInfo | undefined
  peers(): string[]
  memberList(): MemberInfo[]
  stats(): MembershipStats
  /** The members this node removed lately, oldest first. */
  removals(): Removal[]
  options(): Omit<ResolvedMembershipOptions, 'random' | 'directory'>
  /** The compact member list (wire.ts's short keys), as JSON text. */
  stateJson(): string
  /** Takes a registration into the view (checks start in the background), or refuses it. */
  admit(r: Registration): Promise<Refusal>
  /** A peer of the view by name or URL (registered and checked). */
  findPeer(nameOrUrl: string): { name: string; url: string } | undefined
  sendMessage(url: string, msg: string): Promise<{ ok: true; reply: unknown } | { ok: false; why: string }>
  broadcast(msg: string): Promise<P2pBroadcastResult>
  /** Counts a refused request (distlab_http_rejected_total). */
  countRejected(route: string, reason: string): void
  readonly nodeName: string
}

/** The `self` a distlab peer's registration carries (its own alive record), when it is well-formed. */
function claimOf(x: unknown): WireMember | undefined {
  if (x === undefined) return undefined
  try {
    const m = checkMember(x, 'self')
    return m.s === 'a' ? m : undefined
  } catch {
    return undefined
  }
}

/** The registration in a POST /register body; a missing or bad URL is a 400 naming the field. */
function registrationOf(raw: unknown, self: SelfInfo | undefined): Registration & { members: boolean } {
  const parsed = parseBody(RegisterBody, raw ?? {})
  const field = parsed.url !== undefined ? 'url' : 'peer'
  const given = parsed.url ?? parsed.peer
  if (given === undefined) throw new HttpBodyError('url is required: {"url": "http://node1:5000"}', 'url')
  let url: string
  try {
    url = normalizePeerUrl(given, field)
  } catch (err) {
    throw new HttpBodyError((err as Error).message, field)
  }
  if (url === self?.url) throw new HttpBodyError(`${field} is this node's own URL`, field)
  // Fields besides url/peer are ignored unless they are distlab's own and well-formed.
  return {
    url,
    field,
    name: typeof parsed.name === 'string' && parsed.name.length <= 128 ? parsed.name : undefined,
    quiet: parsed.quiet === true,
    members: parsed.members === true,
    self: claimOf(parsed.self),
  }
}

export function membershipRoutes(app: RouteHost, m: MembershipApi): void {
  const rejected = (
    req: RouteRequest,
    reply: RouteReply,
    status: number,
    error: string,
    message: string,
    field?: string,
  ) => {
    m.countRejected(req.routeOptions.url ?? 'unknown', error)
    return reply.code(status).send(field ? { error, message, field } : { error, message })
  }

  app.get('/peers', async () => ({ peers: m.peers() }))

  app.post('/register', { bodyLimit: MAX_REGISTER_BODY_BYTES }, async (req, reply) => {
    const r = registrationOf(req.body, m.self())
    const refused = await m.admit(r)
    if (refused) return rejected(req, reply, 429, refused.error, refused.message)
    const url = r.url
    if (r.quiet) return { status: 'registered', url }
    // Seed 002's answer: the peers. distlab's own nodes ask for the compact member list too
    // (`"members": true`), saving a second request during a mass join; anyone else reads it at
    // GET /membership/members.
    const peers = m.peers().filter((p) => p !== url)
    if (!r.members) return { status: 'registered', url, peers }
    // The member list is the bulk of the answer: serialized once and shared by the registrations
    // that arrive while it is fresh (a thousand peers registering at once each used to get their
    // own 150 kB list built, which made the registry miss its accept backlog). The registrant's
    // own entry stays in it; it ignores what the list says about itself being alive.
    return reply
      .type('application/json')
      .send(
        `{"status":"registered","url":${JSON.stringify(url)},"peers":${JSON.stringify(peers)},"members":${m.stateJson()}}`,
      )
  })

  app.get('/membership/self', async () => m.self())

  // The compact member list a registration hands distlab's own nodes (short keys: see wire.ts).
  app.get('/membership/members', async (_req, reply) =>
    reply.type('application/json').send(`{"members":${m.stateJson()}}`),
  )

  app.get('/membership', async () => ({
    self: m.self(),
    members: m.memberList(),
    stats: m.stats(),
    removals: m.removals(),
    options: m.options(),
  }))

  app.post('/p2p/send', async (req, reply) => {
    const { to, msg } = parseBody(SendBody, req.body)
    const target = m.findPeer(to)
    if (!target)
      return rejected(req, reply, 404, 'unknown_peer', `${to} is not in ${m.nodeName}'s view`, 'to')
    const r = await m.sendMessage(target.url, msg)
    if (!r.ok)
      return rejected(
        req,
        reply,
        502,
        'unreachable',
        `${target.name} (${target.url}) did not take the message: ${r.why}`,
      )
    return { status: 'sent', to: target.name, url: target.url, reply: r.reply } satisfies SendResult
  })

  app.post('/p2p/broadcast', async (req) => {
    const { msg } = parseBody(BroadcastBody, req.body)
    return m.broadcast(msg)
  })
}
