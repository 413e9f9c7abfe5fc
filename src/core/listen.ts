// A TCP listener for what the network sends: its connection callback cannot throw (see guarded.ts:
// what it throws closes that connection), a failure to listen is a clear error naming the port, and
// once it listens, server errors go to `onError` instead of ending the process.
import { createServer, type Server, type Socket } from 'node:net'
import { wrapSocketError } from './errors.js'
import { guarded } from './guarded.js'

export interface TcpListenOptions {
  /** Names the listener in the error when it cannot listen. @default `port P on H` */
  what?: string
  /** Server errors after it listens. @default ignored */
  onError?: (err: Error) => void
}

/** Listens on `host`:`port` (0: the OS chooses) and hands every connection to `onConnection`. */
export async function listenTcp(
  host: string,
  port: number,
  onConnection: (socket: Socket) => void,
  options: TcpListenOptions = {},
): Promise<Server> {
  const server = createServer(guarded(onConnection, (_e, s: Socket) => s.destroy()))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(wrapSocketError(err, options.what ?? `port ${port} on ${host}`)))
    server.listen(port, host, () => resolve())
  })
  server.removeAllListeners('error')
  server.on('error', options.onError ?? (() => {}))
  return server
}
