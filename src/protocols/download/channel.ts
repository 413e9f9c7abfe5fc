// The cooperating clients' own channel over TCP (its messages are in wire.ts), with a cap on a
// line's length so a bad peer cannot make a client buffer without bound.
import type { Socket } from 'node:net'
import { guarded } from '../../core/guarded.js'
import {
  decodeChannelMessage,
  encodeChannelMessage,
  MAX_CHANNEL_MESSAGE_BYTES,
  type ChannelMessage,
} from './wire.js'

/** Lines per `lines` message when a client hands over what it has. */
export const LINES_PER_BATCH = 200

export class JsonLineChannel {
  private partial = ''
  private closed = false

  constructor(
    readonly socket: Socket,
    onMessage: (m: ChannelMessage) => void,
    onClose: () => void,
    onBad: () => void = () => {},
  ) {
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      onClose()
    })
    socket.on(
      'data',
      guarded(
        (chunk: string) => {
          let text = this.partial + chunk
          let nl: number
          while ((nl = text.indexOf('\n')) >= 0) {
            const line = text.slice(0, nl)
            text = text.slice(nl + 1)
            const msg = decodeChannelMessage(line)
            if (msg) onMessage(msg)
            else onBad()
          }
          if (text.length > MAX_CHANNEL_MESSAGE_BYTES) {
            onBad()
            socket.destroy()
            return
          }
          this.partial = text
        },
        () => socket.destroy(),
      ),
    )
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed
  }

  send(m: ChannelMessage): void {
    if (!this.isClosed) this.socket.write(encodeChannelMessage(m))
  }

  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }
}
