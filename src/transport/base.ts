// What every transport shares: the handler and frame authenticator the node sets, and the hand-off
// of one received frame to them, which nothing thrown can escape (it runs in socket callbacks).
import type { FrameAuthenticator } from '../core/frame.js'
import type { PeerAddress, TransportHandler, TransportKind } from '../core/interfaces.js'
import { deliverFrame, safeDrop } from './decode.js'

export abstract class FrameTransport {
  abstract readonly kind: TransportKind
  protected handler?: TransportHandler
  protected auth?: FrameAuthenticator

  setHandler(handler: TransportHandler): void {
    this.handler = handler
  }

  setFrameAuth(auth: FrameAuthenticator): void {
    this.auth = auth
  }

  /** Decodes (and authenticates) one frame and hands it on; a frame that fails is counted as a drop. */
  protected receiveFrame(frame: Buffer, from: PeerAddress, maxFrameBytes: number): void {
    try {
      deliverFrame(this.handler, frame, from, this.kind, maxFrameBytes, this.auth)
    } catch {
      // deliverFrame catches everything; this is the last line that keeps the node up
      safeDrop(this.handler, {
        reason: 'protocol_error',
        bytes: frame.length,
        transport: this.kind,
        direction: 'in',
        from,
      })
    }
  }
}
