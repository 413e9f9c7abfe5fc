// Raw sockets for the hostile-input tests: requests no HTTP client would send.
import { connect, type Socket } from 'node:net'

/**
 * Sends `request` as it is over a new TCP connection and resolves with everything the server
 * answered (or '' when it closed without a word) once it closes the connection or `timeoutMs`
 * passes.
 */
export function rawRequest(
  host: string,
  port: number,
  request: string | Buffer,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const s = connect(port, host, () => s.write(request))
    const done = () => {
      clearTimeout(timer)
      s.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const timer = setTimeout(done, timeoutMs)
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', done)
    s.on('close', done)
  })
}

/** The status code of a raw HTTP answer, or 0 when there was none. */
export function statusOf(answer: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer)
  return m ? Number(m[1]) : 0
}

/** Opens a TCP connection and resolves once it is established. */
export function openSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => {
      s.off('error', reject)
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', reject)
  })
}

/** Resolves when the server closes `s` (or it errors), or with false after `timeoutMs`. */
export function closedWithin(s: Socket, timeoutMs: number): Promise<boolean> {
  if (s.destroyed || s.readableEnded) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    const done = () => {
      clearTimeout(timer)
      resolve(true)
    }
    s.once('close', done)
    s.once('end', done)
  })
}
