// The bodies and answers of the node's HTTP API that both sides read: the server checks requests
// with them (node/http.ts) and the client (src/client/) checks answers with them. No imports beyond
// zod, so either side may use them without pulling in the other.
import { z } from 'zod'

/** POST /message (seed 002): who sent it and the text. */
export const MessageBody = z.lazy(() =>
  z.object({ sender: z.string().min(1).max(256), msg: z.string().max(65_536) }),
)

/** A member as POST /cluster/join sends it and GET /cluster/members lists it. */
export const MemberBody = z.lazy(() =>
  z.object({
    name: z.string().min(1).max(63),
    id: z.string().min(1).max(64),
    role: z.enum(['master', 'node']),
    host: z.string().min(1).max(255),
    httpPort: z.number().int().min(0).max(65535),
    framePort: z.number().int().min(0).max(65535),
  }),
)

/** POST /cluster/leave. */
export const LeaveBody = z.lazy(() =>
  z.object({ name: z.string().min(1).max(63), id: z.string().min(1).max(64) }),
)

/** Longest member list an answer may carry (a cluster is far smaller). */
export const MAX_MEMBERS_IN_ANSWER = 10_000

/**
 * GET /cluster/members and POST /cluster/join: the master's list and its version; without
 * `members` when the caller already has that version.
 */
export const MemberListAnswer = z.lazy(() =>
  z.object({
    version: z.number().int().min(0),
    members: z.array(MemberBody.unwrap().passthrough()).max(MAX_MEMBERS_IN_ANSWER).optional(),
  }),
)

/** GET /health. */
export const HealthAnswer = z.lazy(() =>
  z
    .object({
      status: z.string().max(64),
      name: z.string().max(128),
      id: z.string().max(128),
      role: z.enum(['master', 'node']),
      state: z.string().max(64),
      uptimeMs: z.number(),
      members: z.number().int().min(0),
    })
    .passthrough(),
)

/** POST /members/refresh: how many members the node knows once it has asked the master. */
export const RefreshAnswer = z.lazy(() => z.object({ members: z.number().int().min(0) }))

/** Every 4xx/5xx answer of the node's API (node/http.ts's error handler). */
export const ErrorAnswer = z.lazy(() =>
  z.object({
    error: z.string().max(128),
    message: z.string().max(4096),
    field: z.string().max(256).optional(),
  }),
)

export type MemberListAnswer = z.infer<typeof MemberListAnswer>
export type HealthAnswer = z.infer<typeof HealthAnswer>
export type RefreshAnswer = z.infer<typeof RefreshAnswer>
export type ErrorAnswer = z.infer<typeof ErrorAnswer>
