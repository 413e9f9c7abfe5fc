import { decodeFrame } from '../core/frame.js'
import { FrameDecodeError } from '../core/errors.js'
import type { PeerAddress, TransportHandler, TransportKind } from '../core/interfaces.js'

/** Decode one frame and hand it on; a frame that does not decode is counted as a drop, never thrown. */
export function deliverFrame(
  handler: TransportHandler | undefined,
  buf: Buffer,
  from: PeerAddress,
  transport: TransportKind,
  maxFrameBytes: number,
): void {
  if (!handler) return
  let env
  try {
    env = decodeFrame(buf, { maxFrameBytes })
  } catch (err) {
    const reason = err instanceof FrameDecodeError ? err.reason : 'bad_header'
    handler.drop({ reason, bytes: buf.length, transport, direction: 'in', from })
    return
  }
  handler.message({ env, from, bytes: buf.length, transport })
}
