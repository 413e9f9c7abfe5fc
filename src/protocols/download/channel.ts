// The cooperating clients' own channel: newline-delimited JSON over TCP, one object per line, with a
// cap on a line's length so a bad peer cannot make a client buffer without bound.
import type { Socket } from 'node:net'
import { guarded } from '../../core/guarded.js'

/** Longest channel message in bytes (a batch of lines is split well below this). */
export const MAX_CHANNEL_MESSAGE_BYTES = 8 * 1024 * 1024
/** Lines per `lines` message when a client hands over what it has. */
export const LINES_PER_BATCH = 200

export type ChannelMessage =
  | { t: 'hello'; rank: number }
  | { t: 'welcome'; rank: number; have: number }
  | { t: 'not-master' }
  | { t: 'line'; n: number; text: string }
  | { t: 'lines'; lines: Array<[number, string]> }
  | { t: 'complete'; lines: number }
  | { t: 'submitted'; reply: string }

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
            let msg: unknown
            try {
              msg = JSON.parse(line)
            } catch {
              onBad()
              continue
            }
            if (msg && typeof msg === 'object' && typeof (msg as { t?: unknown }).t === 'string')
              onMessage(msg as ChannelMessage)
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
    if (!this.isClosed) this.socket.write(JSON.stringify(m) + '\n')
  }

  end(): void {
    this.socket.end()
  }

  destroy(): void {
    this.socket.destroy()
  }
}
