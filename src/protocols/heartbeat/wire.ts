// The heartbeat protocol's one frame: `beat`, sent over UDP to the target (the master) every
// interval, numbered from 1 by the sender. A beat whose body does not fit is dropped, not counted
// as a sign of life.
import { z } from 'zod'

/** Frame type of a heartbeat. */
export const BEAT = 'beat'

/** The body of a `beat`: the sender's count of beats since it started. */
export const BeatBody = z.lazy(() => z.object({ n: z.number().int().min(1) }))
export type BeatBody = z.infer<typeof BeatBody>
