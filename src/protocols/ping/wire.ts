// The ping protocol's frames. `ping` carries no body: its envelope id is the probe's id. `pong`
// echoes that id back; a pong whose echo matches no probe in flight is ignored.
import { z } from 'zod'

/** Frame types: the probe and its echo. */
export const PING = 'ping'
export const PONG = 'pong'

/** The body of a `pong`: the envelope id (at most 64 characters) of the `ping` it answers. */
export const PongBody = z.lazy(() => z.object({ echo: z.string().min(1).max(64) }))
export type PongBody = z.infer<typeof PongBody>

/** The probe id a pong echoes, or undefined for a body that is not a pong's. */
export function readPong(body: unknown): string | undefined {
  const r = PongBody.safeParse(body)
  return r.success ? r.data.echo : undefined
}
