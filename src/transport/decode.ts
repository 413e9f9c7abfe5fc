import { decodeFrame, type FrameAuthenticator } from '../core/frame.js'
import { FrameDecodeError } from '../core/errors.js'
import type { DropInfo, PeerAddress, TransportHandler, TransportKind } from '../core/interfaces.js'

/**
 * Decode one frame (authenticating it first when `auth` is given) and hand it on. Nothing escapes:
 * a frame that does not decode, and any error a handler throws, is counted as a drop, so a socket
 * callback that calls this can never throw.
 */
export function deliverFrame(
  handler: TransportHandler | undefined,
  buf: Buffer,
  from: PeerAddress,
  transport: TransportKind,
  maxFrameBytes: number,
  auth?: FrameAuthenticator,
): void {
  if (!handler) return
  let env
  try {
    env = decodeFrame(buf, { maxFrameBytes, auth })
  } catch (err) {
    const info: DropInfo = {
      reason: err instanceof FrameDecodeError ? err.reason : 'bad_header',
      bytes: buf.length,
      transport,
      direction: 'in',
      from,
    }
    if (err instanceof FrameDecodeError && err.env) info.env = err.env
    safeDrop(handler, info)
    return
  }
  try {
    handler.message({ env, from, bytes: buf.length, transport })
  } catch {
    safeDrop(handler, { reason: 'protocol_error', bytes: buf.length, transport, direction: 'in', from, env })
  }
}

/** Reports a drop; a handler that throws on it is ignored (the socket callback must not throw). */
export function safeDrop(handler: TransportHandler | undefined, info: DropInfo): void {
  try {
    handler?.drop(info)
  } catch {
    // nothing more can be done for a frame whose drop cannot even be counted
  }
}
